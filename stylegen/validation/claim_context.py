"""Where words in product copy are not claims about the product, read from the text alone.

The grounding check (:mod:`stylegen.validation.grounding`) asks of every number and claim
term whether the facts support it. Two constructions of ordinary human copy need reading
before that question makes sense:

* **comparisons** with other objects: "feels like suede", "lighter than a cotton tee",
  "unlike a brushed fleece", "as warm as a wool sweater", "sits between a fleece and a rain
  jacket", "canvas-like". The compared phrase names another thing; a material or number in
  it is no claim about the product. A number right after the comparison word ("less than
  10 oz", "as light as 9 oz") bounds the product itself and stays a claim.
* **hyphenated coordination**: "PVC- and phthalate-free" is "PVC-free and phthalate-free",
  "Water- and windproof" is "waterproof and windproof". Facts are read expanded; in copy,
  the first conjunct is checked as its expanded form.

Everything here works on characters with regular expressions, so the result does not
depend on how much spaCy annotation a text received (the validator's prefilter gives some
texts tokens only).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# --- comparisons ------------------------------------------------------------------------

_TOKEN = re.compile(r"\d+(?:[.,/]\d+)*|[^\W\d_]+(?:['\u2019][^\W\d_]+)?|\S")
# punctuation that stays inside a compared phrase ("a 12-oz mug", "a 50% blend")
_INNER_PUNCT = frozenset("-%$\u00bd\u00bc\u00be\"'\u2033\u2032")
# words that end a compared phrase: clause boundaries, verbs that start a new predicate,
# prepositions that attach the rest to the product again ("like silk, with a cotton lining")
_PHRASE_END = frozenset(
    "and or but nor so yet that which who whom whose while because when where if though although "
    "until then is are was were be been it this these those they we you does do did has have had "
    "can will would not with without in on for from at to into over under through after before "
    "across against inside".split())
_LEADING_PREPOSITIONS = frozenset("in on at for with under inside".split())
# words that may stand between a comparison word and a number that bounds the product
_BOUND_LEAD = frozenset("about around nearly almost just only roughly some over under up to".split())
# "like" as a verb: "people who like space", "things that like to roll away"
_LIKE_AS_VERB_AFTER = frozenset(
    "i you we they who that which people would 'd to might will do don't did really may should".split())
_MAX_PHRASE_WORDS = 6
_TRIGGER = re.compile(r"\b(?:like|unlike|than|as|between)\b|-(?:look|feel)\b", re.IGNORECASE)
_SUFFIX_COMPARISON = re.compile(r"(?<![\w-])((?:[^\W_]+-)*[^\W_]+)-(?:like|look|feel)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Compared:
    """A compared phrase: characters ``span`` name another object, not the product.

    Attributes:
        span: ``(start, end)`` character offsets of the compared phrase.
        bound_until: offset before which a number still bounds the product ("less than
            10 oz": the phrase starts with the number, so it is a claim).
    """

    span: tuple[int, int]
    bound_until: int

    def covers(self, start: int, end: int) -> bool:
        """Whether characters ``start:end`` lie inside the compared phrase."""
        return self.span[0] <= start and end <= self.span[1]

    def covers_number(self, start: int, end: int) -> bool:
        """Whether a number at ``start:end`` describes the compared object (not a bound)."""
        return self.covers(start, end) and start >= self.bound_until


@functools.lru_cache(maxsize=64)  # numbers and terms of one text ask in turn
def comparisons(text: str) -> tuple[Compared, ...]:
    """Every compared phrase in ``text``: after like/unlike/than/"as ... as"/"between a",
    and the word(s) before a ``-like``, ``-look`` or ``-feel`` suffix."""
    if not _TRIGGER.search(text):
        return ()
    tokens = [(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    found = [Compared((m.start(1), m.end(1)), m.start(1)) for m in _SUFFIX_COMPARISON.finditer(text)]
    for i, (word, _, _) in enumerate(tokens):
        if _is_trigger(tokens, i):
            phrase = _phrase_after(tokens, i + 1, crossings=1 if word == "between" else 0)
            if phrase:
                found.append(phrase)
    return tuple(found)


def _is_trigger(tokens: list[tuple[str, int, int]], i: int) -> bool:
    """Whether token ``i`` opens a compared phrase."""
    word = tokens[i][0]
    before = tokens[i - 1][0] if i else ""
    if word in ("unlike", "than"):
        return True
    if word == "like":
        return before not in _LIKE_AS_VERB_AFTER and before != "-"
    if word == "as":  # the second "as" of "as soft as", "as warm and light as"
        window = [t[0] for t in tokens[max(0, i - 4):i]]
        if "as" not in window or not all(w.isalpha() for w in window):
            return False
        return window[window.index("as") + 1:] != ["well"]  # "as well as" adds, it does not compare
    if word == "between":
        return i + 1 < len(tokens) and tokens[i + 1][0] in ("a", "an")
    return False


def _phrase_after(tokens, start: int, crossings: int) -> Compared | None:
    """The compared phrase that begins at token ``start`` (``crossings``: how many "and"
    it may span, one for "between a fleece and a rain jacket")."""
    end, words, bound_until = start, 0, None
    if end < len(tokens) and tokens[end][0] in _LEADING_PREPOSITIONS:
        end += 1  # "than in a metal one"
    while end < len(tokens) and words < _MAX_PHRASE_WORDS:
        word = tokens[end][0]
        if word == "and" and crossings:
            crossings -= 1
        elif word in _PHRASE_END or (not word[0].isalnum() and word not in _INNER_PUNCT):
            break
        if bound_until is None and word not in _BOUND_LEAD:
            bound_until = tokens[end][1] + 1  # a number starting here bounds the product
        words += word[0].isalnum()
        end += 1
    if end == start:
        return None
    return Compared((tokens[start][1], tokens[end - 1][2]), bound_until or tokens[start][1])


def in_comparison(compared: tuple[Compared, ...], start: int, end: int) -> bool:
    """Whether characters ``start:end`` (a claim term) lie in one of the compared phrases."""
    return any(c.covers(start, end) for c in compared)


def number_in_comparison(compared: tuple[Compared, ...], start: int, end: int) -> bool:
    """Whether a number at ``start:end`` describes a compared object, not the product."""
    return any(c.covers_number(start, end) for c in compared)


# --- hyphenated coordination -----------------------------------------------------------

# suffixes of closed compounds that coordinate with a hanging hyphen ("water- and windproof")
CLOSED_SUFFIXES = ("proof", "tight", "free", "weight", "wear", "resistant", "repellent")
COORDINATION = re.compile(
    r"(?<![\w-])(?P<first>[^\W_]+)-\s+(?:and|or|nor|&)\s+(?P<second>[^\W_]+(?:-[^\W_]+)*)", re.IGNORECASE)


@dataclass(frozen=True)
class Coordination:
    """A hanging hyphen: the first conjunct shares its head with the second.

    Attributes:
        span: ``(start, end)`` of the first conjunct with its hanging hyphen ("PVC-").
        text: the first conjunct as written, hyphen included.
        expanded: the first conjunct written out ("PVC-free").
        second: the second conjunct as written ("phthalate-free").
    """

    span: tuple[int, int]
    text: str
    expanded: str
    second: str


def coordinations(text: str) -> list[Coordination]:
    """Every hanging-hyphen coordination in ``text`` whose shared head can be read."""
    found = []
    for m in COORDINATION.finditer(text):
        expanded = _expand_first(m["first"], m["second"])
        if expanded:
            end = m.end("first") + 1  # the hanging hyphen
            found.append(Coordination((m.start("first"), end), text[m.start("first"):end], expanded, m["second"]))
    return found


def _expand_first(first: str, second: str) -> str | None:
    """"PVC" + "phthalate-free" -> "PVC-free"; "Water" + "windproof" -> "Waterproof"."""
    if "-" in second:
        return f"{first}-{second.rsplit('-', 1)[1]}"
    lower = second.lower()
    suffix = next((s for s in CLOSED_SUFFIXES if lower.endswith(s) and len(lower) > len(s) + 1), None)
    return first + second[-len(suffix):] if suffix else None


def expand_coordination(text: str) -> str:
    """``text`` with every hanging hyphen written out: "PVC- and phthalate-free" becomes
    "PVC-free and phthalate-free" (used on facts, where offsets do not matter)."""
    out, cursor = [], 0
    for c in coordinations(text):
        out += [text[cursor:c.span[0]], c.expanded]
        cursor = c.span[1]  # the hanging hyphen goes
    return "".join(out) + text[cursor:]
