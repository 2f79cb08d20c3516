"""The import rules of docs/DESIGN.md that import-linter does not check: no private name
imported across modules, and stylegen's own modules imported at module level (outside the
CLI, a function-level import says in a comment why it must stay lazy)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "stylegen"


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stylegen"):
            yield node


def _function_level(tree: ast.AST) -> set[int]:
    lines = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    lines.add(node.lineno)
    return lines


def test_no_private_name_is_imported_across_modules():
    bad = [f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name} from {node.module}"
           for path in sorted(PACKAGE.rglob("*.py")) for node in _imports(path)
           for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    bad += [f"{path.relative_to(ROOT)}:{node.lineno}: module {node.module}"
            for path in sorted(PACKAGE.rglob("*.py")) for node in _imports(path)
            if any(part.startswith("_") and not part.startswith("__") for part in node.module.split("."))]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_own_modules_are_imported_at_module_level_or_say_why_not():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "cli.py":
            continue  # each command imports its library function: `stylegen --help` stays fast
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        inside = _function_level(ast.parse(source))
        for node in _imports(path):
            if node.lineno in inside and "#" not in lines[node.lineno - 1] and \
                    not lines[node.lineno - 2].strip().startswith("#"):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import ...")
    assert not bad, "function-level imports of stylegen's own modules without a reason:\n" + "\n".join(bad)
