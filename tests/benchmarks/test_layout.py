"""benchmarks/ is a package of rooms: no import circle, no sys.path patch, entry points run both ways."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import parse_python

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The benchmarks modules ``path`` imports, at module level or inside functions."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(parse_python(path)):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found |= {target, *(f"{target}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return (found & modules) - {_module_name(path)}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_import_circle():
    files = {_module_name(path): path for path in BENCHMARKS.rglob("*.py")}
    graph = {name: _imports(path, set(files)) for name, path in files.items()}
    assert graph["benchmarks.harness.serve"] and _circle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _circle(graph) is None


def test_no_sys_path_patches():
    patched = [str(path.relative_to(REPO)) for path in BENCHMARKS.rglob("*.py")
               if "sys.path" in path.read_text(encoding="utf-8") or "PYTHONPATH" in path.read_text(encoding="utf-8")]
    assert patched == []


def test_documented_script_form_runs_from_anywhere(tmp_path):
    """`python benchmarks/latency.py` works because the installed package makes `benchmarks` importable."""
    script = subprocess.run([sys.executable, str(BENCHMARKS / "latency.py"), "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert script.returncode == 0, script.stderr[-2000:]
    module = subprocess.run([sys.executable, "-m", "benchmarks.serving", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert module.returncode == 0, module.stderr[-2000:]
    assert "--backends" in script.stdout and "--clients" in module.stdout
