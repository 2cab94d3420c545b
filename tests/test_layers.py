"""What may import what: the emulator reaches the package only through its two leaf modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "realtime_widgets"
LEAVES = {"realtime_widgets.protocol", "realtime_widgets.wav"}


def _package_imports(path: Path) -> set[str]:
    """Absolute names of the realtime_widgets modules a file imports."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            targets = [name] if node.module else [f"{name}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t.startswith("realtime_widgets"))
    return found


def test_the_emulator_imports_only_the_leaf_modules():
    outside: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / "emulator").rglob("*.py")):
        names = {n for n in _package_imports(path) if not n.startswith("realtime_widgets.emulator")}
        if names - LEAVES:
            outside[path.name] = names - LEAVES
    assert outside == {}


def test_the_leaf_modules_import_nothing_but_protocol():
    for leaf in ("protocol.py", "wav.py"):
        assert _package_imports(PACKAGE / leaf) <= {"realtime_widgets.protocol"}, leaf


def test_the_checker_sees_relative_imports():
    # The emulator's own audio module imports the WAV leaf relatively; the walk must resolve it.
    assert "realtime_widgets.wav" in _package_imports(PACKAGE / "emulator" / "audio_io.py")
