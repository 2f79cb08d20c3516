"""Text normalisation before rules match, with a map back to the original offsets.

Copy can hide a banned word from the rules with characters a reader never sees:
"amaz\u200bing" (a zero-width space), a soft hyphen, a right-to-left override, a tag
character, a variation selector, a Hangul filler, fullwidth letters ("ａｍａｚｉｎｇ") or a
look-alike letter from another script ("\u0430mazing" with a Cyrillic a). Rules therefore
match a normalised text:

* **invisible characters removed**, chosen by Unicode property rather than a list (see
  :func:`is_invisible`): every format character (category ``Cf``: zero-width and bidi
  controls, invisible operators, tag characters, soft hyphen), every other
  ``Default_Ignorable_Code_Point`` (variation selectors, the combining grapheme joiner,
  Hangul fillers), and a nonspacing mark (``Mn``) with no letter or digit to sit on;
* **NFKC**, so compatibility forms become their plain letters;
* **look-alike letters folded** (:func:`fold_confusables`): a non-ASCII letter whose Unicode
  TR39 confusable prototype (``confusables.txt``, as shipped by the ``confusable-homoglyphs``
  package) is one ASCII letter is read as that letter, in a word that also holds ASCII
  letters or that would be all ASCII after the fold. Only one-letter prototypes are used
  (a full TR39 skeleton also reads "m" as "rn", which no term list is written in), so the
  offset map stays one to one.

Each normalised character remembers the original character it came from, so findings still
point into the text as written. The invisible characters are reported by
:func:`invisible_findings` (rule ``Stylegen.Invisible``) and the folded letters by
:func:`confusable_findings` (rule ``Stylegen.Confusable``), each by code point.

NFKC is applied one character at a time (so the offset map stays exact); a decomposed
accent is kept as written rather than composed with its letter, which no rule depends on.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from functools import cache

from stylegen.validation.findings import Finding

INVISIBLE_RULE = "Stylegen.Invisible"
CONFUSABLE_RULE = "Stylegen.Confusable"
# Default_Ignorable_Code_Point ranges that are not category Cf (DerivedCoreProperties.txt,
# Unicode 15): the combining grapheme joiner, Hangul fillers, Khmer inherent vowels,
# Mongolian free variation selectors, variation selectors (and their supplement), the
# halfwidth Hangul filler, and the unassigned rest of the tag block.
_IGNORABLE = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
              (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))
# Characters that are parts of emoji sequences (joiner, variation selectors, tags): they are
# reported only inside words, where they hide letters; after a pictograph they are the emoji.
_EMOJI_PARTS = ((0x200D, 0x200D), (0xFE00, 0xFE0F), (0xE0020, 0xE007F))
_WORD = re.compile(r"[^\W\d_]+")


def hides(text: str, i: int) -> bool:
    """Whether ``text[i]`` is an invisible character that is not part of an emoji sequence.

    A joiner, variation selector or tag character next to no letter belongs to an emoji
    ("\u2764\ufe0f", a flag's tag sequence; the emoji rule reports the emoji), so it is
    kept; inside a word it hides letters and is removed and reported.
    """
    return is_invisible(text, i) and not (_in(ord(text[i]), _EMOJI_PARTS) and not _next_to_word(text, i))


def is_invisible(text: str, i: int) -> bool:
    """Whether ``text[i]`` is a character a reader does not see (see the module doc)."""
    code = ord(text[i])
    if code < 0xA0:
        return False
    category = unicodedata.category(text[i])
    if category == "Cf" or _in(code, _IGNORABLE):
        return True
    return category == "Mn" and not _has_base(text, i)


def _in(code: int, ranges) -> bool:
    return any(lo <= code <= hi for lo, hi in ranges)


def _has_base(text: str, i: int) -> bool:
    """Whether the mark at ``i`` sits on a letter or digit (other marks between are allowed)."""
    j = i - 1
    while j >= 0 and unicodedata.category(text[j]) in ("Mn", "Mc", "Me"):
        j -= 1
    return j >= 0 and text[j].isalnum()


@cache
def prototypes() -> dict[str, str]:
    """Non-ASCII letter -> the one ASCII letter it is confusable with (TR39 confusables.txt)."""
    from confusable_homoglyphs import utils  # loaded on first non-ASCII text only

    table = {}
    for char, pairs in utils.load("confusables.json").items():
        if len(char) != 1 or char.isascii() or not unicodedata.category(char).startswith("L"):
            continue
        latin = [p["c"] for p in pairs if len(p["c"]) == 1 and p["c"].isascii() and p["c"].isalpha()]
        if len(latin) == 1:
            table[char] = latin[0]
    return table


def fold_confusables(text: str) -> str:
    """``text`` with look-alike letters read as the ASCII letters they imitate (same length).

    A word is folded when it mixes ASCII letters with look-alikes ("\u0430mazing") or when
    every letter of it has an ASCII look-alike; other words ("Stra\u00dfe", "\u043f\u0438\u0440") are kept.
    """
    if text.isascii():
        return text
    table, out = prototypes(), list(text)
    for match in _WORD.finditer(text):
        word = match.group()
        if word.isascii():
            continue
        folded = [table.get(ch, ch) for ch in word]
        if any(ch.isascii() for ch in word) or all(ch.isascii() for ch in folded):
            out[match.start():match.end()] = folded
    return "".join(out)


def normalize(text: str) -> tuple[str, list[int] | None]:
    """The normalised text and, when it differs, the original offset of each character.

    The map has one entry more than the text (the end), so a span ``(s, e)`` of the
    normalised text is ``(map[s], map[e])`` in the original.
    """
    if text.isascii():
        return text, None
    out, offsets = [], []
    for i, ch in enumerate(text):
        if hides(text, i):
            continue
        plain = unicodedata.normalize("NFKC", ch) if not ch.isascii() else ch
        # NFKC spells "½" as "1\u20442" (FRACTION SLASH); the number readers know "1/2"
        plain = plain.replace("\u2044", "/")
        out.append(plain)
        offsets.extend([i] * len(plain))
    norm = fold_confusables("".join(out))
    if norm == text:
        return text, None
    offsets.append(len(text))
    return norm, offsets


def normalize_record(record):
    """A copy of ``record`` whose field texts are normalised; ``offsets`` maps keys back (None if unchanged)."""
    fields, offsets = {}, {}
    for name, value in record.fields.items():
        if isinstance(value, str):
            fields[name], mapping = normalize(value)
            if mapping is not None:
                offsets[name] = mapping
        elif isinstance(value, list):
            items = []
            for i, item in enumerate(value):
                norm, mapping = normalize(item) if isinstance(item, str) else (item, None)
                items.append(norm)
                if mapping is not None:
                    offsets[f"{name}[{i}]"] = mapping
            fields[name] = items
        else:
            fields[name] = value
    if not offsets:
        return record
    return replace(record, fields=fields, offsets=offsets, original=record.fields)


def invisible_findings(record, texts) -> list[Finding]:
    """One ``Stylegen.Invisible`` warning per invisible character in the original texts, by code point.

    Emoji parts are left to the emoji rule (see :func:`hides`).
    """
    found = []
    for key, _name, text in texts:
        for i, ch in enumerate(text):
            if not hides(text, i):
                continue
            found.append(_char_finding(record, key, text, i, INVISIBLE_RULE,
                                       f"Remove the invisible character {code_point(ch)}: it can hide a word "
                                       "from the rules and from readers."))
    return found


def confusable_findings(record, texts) -> list[Finding]:
    """One ``Stylegen.Confusable`` warning per look-alike letter :func:`fold_confusables` reads as ASCII.

    Compatibility forms that NFKC already reads as the letter (fullwidth ``ａ``, mathematical
    ``𝐚``) are not reported: they are styles of the letter, not letters of another script.
    """
    found = []
    for key, _name, text in texts:
        if text.isascii():
            continue
        folded = fold_confusables(text)
        for i, (ch, plain) in enumerate(zip(text, folded)):
            if ch != plain and unicodedata.normalize("NFKC", ch) != plain:
                found.append(_char_finding(record, key, text, i, CONFUSABLE_RULE,
                                           f"Replace the look-alike letter {code_point(ch)} with {plain!r}: it "
                                           "can hide a word from the rules and from search."))
    return found


def code_point(ch: str) -> str:
    """``U+200B ZERO WIDTH SPACE``: a character by code point and name."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}"


def _char_finding(record, key: str, text: str, i: int, rule: str, message: str) -> Finding:
    line, col = record.locate(key, i, text)
    return Finding(rule=rule, level="warning", path=record.path, line=line, col=col, id=record.id, field=key,
                   span=(i, i + 1), match=text[i], message=message)


def _next_to_word(text: str, i: int) -> bool:
    """A letter on either side (a digit before a keycap is not a word); invisible characters between are skipped."""
    before = i - 1
    while before >= 0 and is_invisible(text, before):
        before -= 1
    after = i + 1
    while after < len(text) and is_invisible(text, after):
        after += 1
    return any(0 <= j < len(text) and text[j].isalpha() for j in (before, after))
