"""The transcript in JupyterLab shows each turn's tokens and cost, and a running total that is their sum."""

from __future__ import annotations

import re

from browser_harness import REPO, KernelProbe, open_notebook

ARTIFACTS = REPO / "artifacts"

TRANSCRIPT = """\
from realtime_widgets import RealtimeSession, SessionConfig, TranscriptView

session = RealtimeSession(config=SessionConfig(voice="ash"))
await session.connect()
view = TranscriptView(session.conversation)
await session.send_text("What time is it in Tokyo?")
await session.send_text("And what is the weather like there today?")
view
"""


def test_usage_per_turn_and_running_total(page, jupyter_server) -> None:
    name = "transcript_usage.ipynb"
    open_notebook(page, jupyter_server, name, [TRANSCRIPT])
    total = page.locator(".rw-tr-total")
    page.wait_for_function(
        "() => document.querySelectorAll('.rw-tr-usage:not([hidden])').length === 2", timeout=90_000
    )
    total.wait_for(timeout=30_000)
    with KernelProbe(jupyter_server, name) as probe:
        kernel = probe.value(
            "dict(rows=[r['usage'] for r in view.rows()], total=view.total(), model=session.conversation.model,"
            " tokens=[t.usage['total_tokens'] for t in session.conversation.turns],"
            " cost=[float(c) for c in session.conversation.cost(total=False)['cost_usd']],"
            " cost_total=float(session.conversation.cost().loc['total', 'cost_usd']))"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".rw-transcript").screenshot(path=str(ARTIFACTS / "transcript-usage.png"))

    shown = page.locator(".rw-tr-usage").all_inner_texts()
    assert shown == kernel["rows"]
    for line, cost in zip(shown, kernel["cost"], strict=True):
        assert re.search(
            r"^in [\d,]+ tokens \(text [\d,]+, audio [\d,]+\) · out [\d,]+ \(text [\d,]+, audio [\d,]+\)",
            line,
        )
        assert line.endswith(f"${cost:.4f}"), line
    footer = total.inner_text()
    assert footer == kernel["total"]
    assert f"Total, 2 turns: {sum(kernel['tokens']):,} tokens" in footer
    assert f"${kernel['cost_total']:.4f}" in footer and kernel["model"] in footer
    assert abs(kernel["cost_total"] - sum(kernel["cost"])) < 1e-12
    # The footer is the list's last child: below the newest turn.
    assert (
        page.evaluate("() => document.querySelector('.rw-transcript').lastElementChild.className")
        == "rw-tr-total"
    )
