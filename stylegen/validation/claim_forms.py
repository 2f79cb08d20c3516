"""Morphological variants of claim terms: the same claim in another word form.

Copy and facts name one property in several forms: "breathable" and "breathability",
"water-resistant" and "water resistance", "fast-drying" and "fastest-drying", "soft" and
"softer". Two directions need them:

* the **copy side** (:func:`derived_spellings`): the matcher also looks for the derived
  forms of a vocabulary form, so an invented "breathability" is a claim of the term
  "breathable" and is checked like it;
* the **facts side** (:func:`base_forms`): a fact word also stands for its base forms, so
  the fact "water resistance to 5 ATM" supports the term "water-resistant" and the fact
  "softer hand" supports "soft".

Only property words derive: materials and features are nouns ("silk" has no "silker";
"locker" is not a comparative of "lock"), so their forms are left alone.
"""
from __future__ import annotations

import re

DERIVING_KINDS = frozenset({"technology", "certification", "term"})
# suffix of the base word -> suffixes of its nouns ("breathable" -> "breathability")
_NOUN_SUFFIXES = {"able": ("ability",), "ible": ("ibility",), "ant": ("ance",), "ent": ("ence", "ency")}
_VOWELS = frozenset("aeiou")
_MAX_COMPARABLE = 6  # "soft", "fast", "quick", "light"; longer words compare with "more"


def derived_spellings(form: str, kind: str) -> set[str]:
    """Derived spellings of a vocabulary form that make the same claim.

    Args:
        form: one spelling from claims.txt ("water-resistant", "fast-drying", "soft").
        kind: the term's kind; only :data:`DERIVING_KINDS` derive.

    Returns:
        The noun forms of a final ``-able``/``-ible``/``-ant``/``-ent`` word
        ("water-resistance", "breathability"), and the comparative and superlative of a
        short leading adjective ("faster-drying", "fastest-drying", "softer", "softest").
    """
    if kind not in DERIVING_KINDS or not form.islower():
        return set()
    head, sep, last = form.rpartition(" ") if " " in form else form.rpartition("-")
    out = {head + sep + noun for noun in _nouns(last)}
    first, hyphen, rest = form.partition("-")
    if hyphen and rest.endswith("ing") and first.isalpha() and len(first) <= _MAX_COMPARABLE:
        out.update(f"{c}-{rest}" for c in comparatives(first))
    elif form.isalpha() and len(form) <= _MAX_COMPARABLE:
        out.update(comparatives(form))
    return out


def _nouns(word: str) -> list[str]:
    for suffix, nouns in _NOUN_SUFFIXES.items():
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            return [word[:-len(suffix)] + noun for noun in nouns]
    return []


def comparatives(word: str) -> tuple[str, str]:
    """``(comparative, superlative)`` of a short adjective: soft, wide, dry, hot."""
    if word.endswith("e"):
        return word + "r", word + "st"
    if len(word) > 2 and word.endswith("y") and word[-2] not in _VOWELS:
        return word[:-1] + "ier", word[:-1] + "iest"
    if _ends_consonant_vowel_consonant(word):
        return word + word[-1] + "er", word + word[-1] + "est"
    return word + "er", word + "est"


def _ends_consonant_vowel_consonant(word: str) -> bool:
    """"hot", "wet", "thin" double their last letter; "soft", "warm", "cool" do not."""
    return (len(word) >= 3 and word[-1] not in _VOWELS | {"w", "x", "y"} and word[-2] in _VOWELS
            and word[-3] not in _VOWELS)


_DERIVED_NOUN = re.compile(r"(abil|ibil)ity$|(an|en)(ce|cy)$")


def base_forms(word: str) -> set[str]:
    """The words a fact word also stands for: its base adjective ("breathability" ->
    "breathable", "resistance" -> "resistant") and, for a comparative or superlative,
    the candidates for its positive ("softer" -> "soft", "wider" -> "wide", "hottest" ->
    "hot", "drier" -> "dry"). Candidates that are no word are harmless: they are only
    compared with the words of vocabulary forms."""
    out = set()
    m = _DERIVED_NOUN.search(word)
    if m and len(word) > 7:
        out.add(word[:m.start()] + ("able" if m[1] == "abil" else "ible" if m[1] else m[2] + "t"))
    for suffix in ("est", "er"):
        stem = word[:-len(suffix)]
        if word.endswith(suffix) and len(stem) >= 3:
            out.update({stem, stem + "e"})
            if stem[-1] == stem[-2]:
                out.add(stem[:-1])  # hotter -> hot
            if stem.endswith("i"):
                out.add(stem[:-1] + "y")  # drier -> dry
    return out
