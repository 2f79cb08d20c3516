"""Text normalisation before rules match, with a map back to the original offsets.

Copy can hide a banned word from the rules with characters a reader never sees:
"amaz\u200bing" (a zero-width space), a soft hyphen, a right-to-left override, or
fullwidth letters ("ａｍａｚｉｎｇ"). Rules therefore match a normalised text: NFKC
(compatibility forms to their plain letters) with the invisible and bidi control characters
removed. Each normalised character remembers the original character it came from, so
findings still point into the text as written. The invisible characters themselves are
reported by :func:`invisible_findings` (rule ``Stylegen.Invisible``), by code point.

NFKC is applied one character at a time (so the offset map stays exact); a decomposed
accent is kept as written rather than composed with its letter, which no rule depends on.
"""
from __future__ import annotations

import unicodedata
from dataclasses import replace

from stylegen.validation.findings import Finding

INVISIBLE_RULE = "Stylegen.Invisible"
INVISIBLE = {
    "\u00ad": "SOFT HYPHEN", "\u061c": "ARABIC LETTER MARK", "\u180e": "MONGOLIAN VOWEL SEPARATOR",
    "\u200b": "ZERO WIDTH SPACE", "\u200c": "ZERO WIDTH NON-JOINER", "\u200d": "ZERO WIDTH JOINER",
    "\u200e": "LEFT-TO-RIGHT MARK", "\u200f": "RIGHT-TO-LEFT MARK", "\u2060": "WORD JOINER",
    "\ufeff": "ZERO WIDTH NO-BREAK SPACE",
    **{chr(c): unicodedata.name(chr(c)) for c in range(0x202A, 0x202F)},  # bidi embeddings/overrides
    **{chr(c): unicodedata.name(chr(c)) for c in range(0x2066, 0x206A)},  # bidi isolates
}


def normalize(text: str) -> tuple[str, list[int] | None]:
    """The normalised text and, when it differs, the original offset of each character.

    The map has one entry more than the text (the end), so a span ``(s, e)`` of the
    normalised text is ``(map[s], map[e])`` in the original.
    """
    if text.isascii():
        return text, None
    out, offsets = [], []
    for i, ch in enumerate(text):
        if ch in INVISIBLE:
            continue
        plain = unicodedata.normalize("NFKC", ch) if not ch.isascii() else ch
        # NFKC spells "½" as "1\u20442" (FRACTION SLASH); the number readers know "1/2"
        plain = plain.replace("\u2044", "/")
        out.append(plain)
        offsets.extend([i] * len(plain))
    norm = "".join(out)
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
    """One ``Stylegen.Invisible`` warning per invisible or bidi control character in the original texts.

    A zero-width joiner between two symbols is part of an emoji sequence (the emoji rule
    reports the emoji), so only one next to a letter or digit is reported.
    """
    found = []
    for key, _name, text in texts:
        for i, ch in enumerate(text):
            if ch not in INVISIBLE or (ch == "\u200d" and not _next_to_word(text, i)):
                continue
            line, col = record.locate(key, i, text)
            found.append(Finding(rule=INVISIBLE_RULE, level="warning", path=record.path, line=line, col=col,
                                 id=record.id, field=key, span=(i, i + 1), match=ch,
                                 message=f"Remove the invisible character U+{ord(ch):04X} {INVISIBLE[ch]}: "
                                         "it can hide a word from the rules and from readers."))
    return found


def _next_to_word(text: str, i: int) -> bool:
    return any(0 <= j < len(text) and text[j].isalnum() for j in (i - 1, i + 1))
