"""Check type ``name``: the product's own name, spelled as its facts spell it.

A small model copies a product name letter by letter and sometimes misses: "Nightjer"
for the Nightjar Pillow, "Cairn fold" for the Cairnfold Tent, "Swichback" for the
Switchback Hip Pack. A misspelled name cannot ship, and a reader cannot tell it from a
different product. The distinctive words of ``facts.name`` (all but its last word, the
product kind, and any number) are compared with the copy's words:

* a capitalised word that no English dictionary holds and that is one or two edits from
  a name word of five letters or more, with the same first letter ("Nightjer");
* two words (capitalised first) that, joined, are a name word ("Cairn fold",
  "Switch-back");
* a name word written in another casing mid-sentence ("nightjar"), only with
  ``case: true``.

A plural or verb form of a name word ("Nightjars", "Rinsed" beside a Rinse jean) and the word
with a trademark sign ("LumaTech™") are not misspellings. Dictionary words are never
flagged as misspellings ("Screen" is not "Scree"): a real word is more likely a word than a
typo. ``fix: replace`` writes the name word instead.
Keys: ``case`` (default false), ``max_edits`` (1 or 2, default 2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stylegen.kit.roles import facts_by_role
from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.readability import is_english_word

_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_MIN_LETTERS = 5  # shorter words are one edit from too many others


@register("name")
class NameSpelling(Check):
    """The product name as the facts spell it: no near-miss spellings, splits or joins."""

    @dataclass
    class Options:
        case: bool = False
        max_edits: int = 2

    def setup(self, problem):
        if self.options.max_edits not in (1, 2):
            problem("max_edits", f"must be 1 or 2, not {self.options.max_edits!r}")

    def check(self, target):
        words = name_words(facts_by_role(target.facts, getattr(self.brand, "catalog", None)))
        if not words or not target.text:
            return
        for start, end, right in misspellings(target.text, words, self.options):
            yield Hit(start, end, values={"name": right})

    def replacement(self, match: str, record) -> str | None:
        """The name word ``match`` stands for (the ``replace`` fix), or None."""
        words = name_words(facts_by_role(getattr(record, "facts", None), getattr(self.brand, "catalog", None)))
        found = [right for _, _, right in misspellings(match, words, self.options)] if words else []
        return found[0] if len(found) == 1 else None


def name_words(facts: dict | None) -> list[str]:
    """The distinctive words of the name (facts by role): all but the last (the kind) and numbers."""
    name = str((facts or {}).get("name") or "")
    words = _WORD.findall(name)
    return [w for w in words[:-1] if len(w) >= 2]


def misspellings(text: str, words: list[str], options) -> list[tuple[int, int, str]]:
    """``(start, end, right word)`` of every near-miss of a name word in ``text``."""

    tokens = [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text)]
    lower = {w.lower(): w for w in words}
    found = []
    for i, (start, end, token) in enumerate(tokens):
        if token in words or _trademarked(token) in words:
            continue
        joined = _joined(text, tokens, i, lower)
        if joined:
            found.append(joined)
        elif token.lower() in lower:
            if options.case and not _sentence_start(text, start):
                found.append((start, end, lower[token.lower()]))
        elif token[0].isupper() and not is_english_word(token):
            right = _near(token, words, options.max_edits)
            if right:
                found.append((start, end, right))
    return _without_overlaps(found)


def _joined(text: str, tokens: list, i: int, lower: dict) -> tuple[int, int, str] | None:
    if i + 1 >= len(tokens):
        return None
    (start, _, first), (_, end, second) = tokens[i], tokens[i + 1]
    if not text[tokens[i][1]:tokens[i + 1][0]].strip(" -") == "" or not first[0].isupper():
        return None
    right = lower.get((first + second).lower())
    return (start, end, right) if right and len(right) >= _MIN_LETTERS else None


def _near(token: str, words: list[str], max_edits: int) -> str | None:
    if any(token.lower() in _inflections(w.lower()) for w in words):
        return None  # "two Nightjars", "Rinsed" for a Rinse jean: the word inflected, not misspelt
    close = [w for w in words if len(w) >= _MIN_LETTERS and w[0].lower() == token[0].lower()
             and abs(len(w) - len(token)) <= max_edits and 0 < _edits(token.lower(), w.lower()) <= max_edits]
    return close[0] if len(close) == 1 else None


def _trademarked(token: str) -> str:
    """The word before a trademark sign: Unicode normalization writes "LumaTech™" as "LumaTechTM"."""
    return token[:-2] if token.endswith("TM") and len(token) > 4 else token


def _inflections(word: str) -> tuple[str, ...]:
    """A name word's plural and verb forms: approved copy writes "Rinsed" beside a Rinse jean."""
    stem = word[:-1] if word.endswith("e") else word
    return word + "s", word + "es", stem + "ed", stem + "ing"


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (the words are short: the plain table is fast enough)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    return not before or before[-1] in ".!?:"


def _without_overlaps(found: list) -> list:
    out, last = [], -1
    for start, end, right in sorted(found):
        if start >= last:
            out.append((start, end, right))
            last = end
    return out
