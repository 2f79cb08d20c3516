"""Rule-supplied regular expressions, compiled with a load-time safety check and run with a time bound.

A rule's ``pattern`` is data written by a brand team, so it must not be able to hang a
batch. Two guards:

* :func:`compile_rule_pattern` refuses, when the rule file is loaded, the shapes that
  backtrack catastrophically, wherever a group is repeated without bound (``*``, ``+``,
  ``{n,}``):

  - a body that is only repeated or optional parts (``(a+)+``, ``(.*)*``, ``(\\w+\\s?)+``);
  - alternation with overlapping branches: two branches that can match the same first
    characters, one a prefix of the other (``(a|a)*``, ``(a|aa)+``, ``(\\w|\\d)+``), or a
    branch that can match nothing (``(a|a?)+``);
  - a repeat inside the body that can also match what follows it: the next part of the
    body, or the start of the next round when nothing fixed follows (``(a\\w*)+``,
    ``(.*a)+``, ``(\\s*\\w+)+``).

  Characters are compared on a sample alphabet (ASCII, a few non-ASCII letters, digits
  and spaces), which is enough for the classes rules use (``\\w``, ``.``, ``[a-z]``).
  The check is conservative: it may refuse a pattern that would run fine (``(cat|category)+``:
  rewrite it as ``(?:cat(?:egory)?)+``), and it is not a proof: a shape it does not model
  (backreferences, lookarounds doing the work) is left to the time bound below.
* :func:`find_spans` runs the pattern with the ``regex`` module's ``timeout=``; when the
  bound is hit it raises :class:`PatternTimeout`, which the validator reports as a
  ``Stylegen.Timeout`` finding on that field instead of waiting. This bound, not the
  load-time check, is the guarantee that no pattern hangs a batch.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import regex

TIMEOUT_S = 1.0  # per rule, per text: real rule patterns take microseconds
TIMEOUT_RULE = "Stylegen.Timeout"
_UNBOUNDED = None


class PatternTimeout(Exception):
    """A rule pattern ran past :data:`TIMEOUT_S` on one text."""

    def __init__(self, limit: float):
        self.limit = limit
        super().__init__(f"pattern ran past its {limit:g} s limit")


@dataclass
class _Item:
    """One atom of a parsed pattern with its repeat bounds; ``alts`` is set for a group."""

    lo: int = 1
    hi: int | None = 1
    alts: list | None = None
    text: str = ""
    core: str = ""  # the atom without its quantifier
    children: list = field(default_factory=list)


def compile_rule_pattern(pattern: str, flags: int, problem: Callable[[str, str], None], key: str = "pattern"):
    """Compile a rule pattern with ``regex`` (V0, ``re``-compatible), or report why not.

    Returns the compiled pattern, or None after calling ``problem(key, message)``.
    """
    try:
        compiled = regex.compile(pattern, flags | regex.V0)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        problem(key, f"not a valid regular expression: {exc}")
        return None
    danger = catastrophic_part(pattern)
    if danger:
        problem(key, f"refused: {danger!s} can backtrack catastrophically (nested or overlapping repeats); "
                     "rewrite it so each repeated group has a fixed part")
        return None
    return compiled


def find_spans(compiled, text: str, limit: float | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of every match of ``compiled`` in ``text``, within ``limit`` seconds.

    Raises:
        PatternTimeout: the search ran past ``limit``.
    """
    try:
        limit = TIMEOUT_S if limit is None else limit
        return [m.span() for m in compiled.finditer(text, timeout=limit)]
    except TimeoutError:
        raise PatternTimeout(limit) from None


def catastrophic_part(pattern: str) -> str | None:
    """The text of the first repeated group that can backtrack catastrophically, or None."""
    try:
        alts, _ = _parse(pattern, 0)
    except (IndexError, ValueError, RecursionError):
        return None  # the compiler accepted it; a shape we do not model is left to the timeout
    return _scan(alts)


def _scan(alts: list) -> str | None:
    for seq in alts:
        for item in seq:
            if item.alts is None:
                continue
            if item.hi is _UNBOUNDED and _ambiguous(item.alts):
                return item.text
            inner = _scan(item.alts)
            if inner:
                return inner
    return None


def _ambiguous(alts: list) -> bool:
    """Whether a group repeated without bound can split one text into rounds in many ways."""
    if _only_repeats(alts) or _same_branches(alts):
        return True
    if len(alts) > 1 and any(_nullable_seq(seq) for seq in alts):
        return True  # (a|a?)+: a round may take the branch that matches nothing
    shapes = [_shape(seq) for seq in alts]
    if any(_prefix_compatible(a, b) for i, a in enumerate(shapes) for b in shapes[i + 1:]):
        return True
    first = _first_seq_of(alts)
    return any(_repeat_overlaps_follow(seq, first) for seq in alts)


def _repeat_overlaps_follow(seq: list, body_first: frozenset) -> bool:
    """An unbounded repeat in ``seq`` whose characters can also start what follows it."""
    for k, item in enumerate(seq):
        if item.hi is not _UNBOUNDED:
            continue
        rest = seq[k + 1:]
        follow = _first_seq(rest) | (body_first if _nullable_seq(rest) else frozenset())
        if _chars(item) & follow:
            return True
    return False


_SAMPLE = tuple(chr(c) for c in range(32, 127)) + ("\t", "\n", "\u00e9", "\u00df", "\u0436", "\u00a0", "\u0663")


def _chars(item: _Item) -> frozenset:
    """The sample characters an item's first character can be (a group: its first set)."""
    if item.alts is not None:
        return _first_seq_of(item.alts)
    if item.lo == item.hi == 0:
        return frozenset()  # an assertion
    return _atom_chars(item.core)


@functools.lru_cache(maxsize=1024)
def _atom_chars(core: str) -> frozenset:
    if regex.fullmatch(r"\\[1-9]|\\g<.*>|\(\?P=.*\)", core):
        return frozenset(_SAMPLE)  # a backreference: anything
    try:
        atom = regex.compile(core, regex.V0)
    except (regex.error, ValueError, OverflowError):
        return frozenset(_SAMPLE)
    return frozenset(ch for ch in _SAMPLE if atom.fullmatch(ch))


def _first_seq_of(alts: list) -> frozenset:
    return frozenset().union(*(_first_seq(seq) for seq in alts)) if alts else frozenset()


def _first_seq(seq: list) -> frozenset:
    """The characters a sequence can start with (through its optional leading parts)."""
    out = frozenset()
    for item in seq:
        out |= _chars(item)
        if not _nullable(item):
            break
    return out


def _nullable(item: _Item) -> bool:
    return item.lo == 0 or (item.alts is not None and any(_nullable_seq(seq) for seq in item.alts))


def _nullable_seq(seq: list) -> bool:
    return all(_nullable(item) for item in seq)


def _shape(seq: list) -> list[frozenset]:
    """Character sets of a branch's fixed leading positions; an optional or repeated part ends it."""
    out = []
    for item in seq:
        if item.alts is None and item.lo == item.hi and item.lo > 0 and len(out) < 32:
            out += [_chars(item)] * min(item.lo, 32)
        elif item.lo == item.hi == 0:
            continue
        else:
            out.append(_chars(item))
            break
    return out


def _prefix_compatible(a: list, b: list) -> bool:
    """Whether one branch can match a prefix of what the other matches (position by position)."""
    n = min(len(a), len(b))
    return n > 0 and all(a[i] & b[i] for i in range(n))


def _only_repeats(alts: list) -> bool:
    """True when some branch has no fixed atom and holds an unbounded repeat."""
    return any(seq and not any(_fixed(i) for i in seq) and any(_has_unbounded(i) for i in seq) for seq in alts)


def _fixed(item: _Item) -> bool:
    if item.lo < 1:
        return False
    if item.alts is None:
        return item.hi == item.lo
    return item.hi == item.lo and all(any(_fixed(i) for i in seq) for seq in item.alts)


def _has_unbounded(item: _Item) -> bool:
    if item.hi is _UNBOUNDED:
        return True
    return item.alts is not None and any(_has_unbounded(i) for seq in item.alts for i in seq)


def _same_branches(alts: list) -> bool:
    texts = ["".join(i.text for i in seq) for seq in alts]
    return len(texts) > 1 and len(set(texts)) < len(texts)


def _parse(s: str, i: int, depth: int = 0) -> tuple[list, int]:
    """Parse from ``i`` to the closing ``)`` (or the end): a list of branches of items."""
    if depth > 200:
        raise ValueError("too deep")
    alts, seq = [], []
    while i < len(s):
        c = s[i]
        if c == ")":
            break
        if c == "|":
            alts.append(seq)
            seq = []
            i += 1
            continue
        start = i
        item = _Item()
        if c == "\\":
            i += 2
        elif c == "[":
            i = _class_end(s, i)
        elif c == "(":
            i = _group_prefix(s, i + 1)
            item.alts, i = _parse(s, i, depth + 1)
            i += 1  # the ")"
        else:
            i += 1
        item.core = s[start:i]
        if c in "^$" or s.startswith("\\", start) and s[start + 1:start + 2] in ("b", "B", "A", "Z", "z", "G") \
                or s.startswith("(?=", start) or s.startswith("(?!", start) or s.startswith("(?<", start) and \
                s[start + 3:start + 4] in "=!":
            item.lo = item.hi = 0  # an assertion matches no text
        i = _quantifier(s, i, item)
        item.text = s[start:i]
        seq.append(item)
    alts.append(seq)
    return alts, i


def _class_end(s: str, i: int) -> int:
    i += 1
    if i < len(s) and s[i] == "^":
        i += 1
    if i < len(s) and s[i] == "]":
        i += 1
    while s[i] != "]":
        i += 2 if s[i] == "\\" else 1
    return i + 1


def _group_prefix(s: str, i: int) -> int:
    """Skip ``?:``, ``?P<name>``, ``?i:`` and the like after an opening parenthesis."""
    if i < len(s) and s[i] == "?":
        if s.startswith("?P<", i) or (s.startswith("?<", i) and s[i + 2:i + 3] not in "=!"):
            return s.index(">", i) + 1
        j = i + 1
        while j < len(s) and s[j] not in ":)=!<":
            j += 1
        if s.startswith("?<", i):
            j = i + 2
        return j + 1 if j < len(s) and s[j] in ":=!" else j
    return i


def _quantifier(s: str, i: int, item: _Item) -> int:
    if i >= len(s):
        return i
    c = s[i]
    if c in "*+?":
        item.lo, item.hi = (0 if c != "+" else item.lo), (_UNBOUNDED if c != "?" else item.hi)
        if c == "?":
            item.lo = 0
        i += 1
    elif c == "{":
        m = regex.match(r"\{(\d*)(,?)(\d*)\}", s[i:])
        if not m:
            return i
        lo, comma, hi = m.groups()
        item.lo = int(lo or 0)
        item.hi = int(hi) if hi else (item.lo if not comma else _UNBOUNDED)
        i += m.end()
    else:
        return i
    if i < len(s) and s[i] in "?+":
        i += 1  # lazy or possessive
    return i
