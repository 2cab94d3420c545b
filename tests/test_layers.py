"""What may import what (the emulator reaches the package only through its two leaf modules, and no
import cycles), and the size limits of issue 9."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "realtime_widgets"
# cassette_format: the cassette's files, written by the client's recorder and read by the
# emulator's replay; one definition of the format for both sides.
LEAVES = {"realtime_widgets.protocol", "realtime_widgets.wav", "realtime_widgets.cassette_format"}


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
    # The cassette format reads WAV parts of chat requests through the WAV leaf.
    assert _package_imports(PACKAGE / "cassette_format.py") <= {"realtime_widgets.wav"}


def test_the_checker_sees_relative_imports():
    # The emulator's own audio module imports the WAV leaf relatively; the walk must resolve it.
    assert "realtime_widgets.wav" in _package_imports(PACKAGE / "emulator" / "audio_io.py")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _load_time_imports(path: Path) -> set[str]:
    """Package modules imported when `path` is imported: module-level statements, not the ones under
    `if TYPE_CHECKING:` nor inside functions (those run later, when every module is loaded)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
                name = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    child = f"{name}.{alias.name}"
                    found.add(child if child in modules else name)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {name for name in found if name in modules and name != module}


def test_no_import_cycles():
    graph = {_module_name(p): _load_time_imports(p) for p in PACKAGE.rglob("*.py")}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_size_limits():
    """No module over 500 lines and no class over 300 lines in the package (issue 9)."""
    too_long: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(PACKAGE.parent))
        if len(text.splitlines()) > 500:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > 300:
                    too_long.append(f"{name}: class {node.name} {length} lines")
    assert too_long == []
