"""docs/DESIGN.md opens with the package tree, one line per module: every module under
stylegen/ is listed (with what it is), and every listed module exists."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(?P<indent> *)(?P<name>[\w.]+/?)(?:\s{2,}(?P<what>\S.*))?$")


def _layout_block() -> list[str]:
    text = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1]
    return section.split("```", 2)[1].splitlines()[1:]


def _listed() -> dict[str, str]:
    """Path of every entry of the tree (``stylegen/generation/step.py``) -> its description."""
    stack: list[tuple[int, str]] = []
    out = {}
    for line in _layout_block():
        m = LINE.match(line)
        assert m, f"docs/DESIGN.md layout: cannot read {line!r} (indent, name, two spaces, what it is)"
        depth = len(m["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        path = "/".join([s[1].rstrip("/") for s in stack] + [m["name"].rstrip("/")])
        out[path] = m["what"] or ""
        if m["name"].endswith("/"):
            stack.append((depth, m["name"]))
    return out


def test_design_doc_lists_every_module_of_the_package_and_no_other():
    listed = _listed()
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "stylegen").rglob("*.py")}
    missing = sorted(modules - set(listed))
    stale = sorted(p for p in listed if p.endswith(".py") and p not in modules)
    assert not missing, f"modules missing from docs/DESIGN.md's layout: {missing}"
    assert not stale, f"docs/DESIGN.md lists modules that do not exist: {stale}"
    undescribed = sorted(p for p in modules if not listed[p].strip())
    assert not undescribed, f"docs/DESIGN.md: say in one line what each module is: {undescribed}"
