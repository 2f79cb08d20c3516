"""Term lists for rules, and a spaCy matcher that finds them lemma- and case-aware.

A rule's term list is either written in the rule (a list, or a mapping term -> value)
or taken from the brand kit by name: ``brand.reject``, ``brand.swap``, ``brand.accept``,
``brand.competitors``, ``brand.claims``. Taking them from the brand keeps one source of
truth: change ``terminology`` in brand.yaml and the rules follow. ``brand.claims`` is
every spelling (``form``) of every claim in the brand's claim vocabulary, as
:func:`stylegen.validation.grounding.brand_claim_terms` parses it for the grounding
check too (supporters are not claims and are left out).
"""
from __future__ import annotations

import re
from typing import Any, Callable
from stylegen.errors import ConfigError
from stylegen.kit.yaml_lines import short
from stylegen.validation.claims import brand_claim_terms
from stylegen.validation.nlp import annotate, load_nlp

BRAND_SOURCES: dict[str, Callable[[Any], dict[str, str]]] = {
    "brand.reject": lambda b: dict(b.terminology.reject),
    "brand.swap": lambda b: dict(b.terminology.swap),
    "brand.accept": lambda b: {t: t for t in b.terminology.accept},
    "brand.competitors": lambda b: {t: "" for t in b.terminology.competitors},
    "brand.claims": lambda b: {form: "" for term in brand_claim_terms(b) for form in term.forms},
}


def resolve_terms(value: Any, brand: Any, key: str, problem: Callable[[str, str], None]) -> dict[str, str]:
    """Term -> value from a rule key: a brand source name, a list, or a mapping.

    Reports (via ``problem``) an unknown source name or a value of the wrong shape.
    """
    if isinstance(value, str):
        if value in BRAND_SOURCES:
            try:
                terms = BRAND_SOURCES[value](brand)
            except ConfigError as exc:  # a malformed claims file: its file:line problems
                for message in exc.problems:
                    problem(key, message)
                return {}
            if not terms:
                problem(key, f"{value} is empty in the brand kit")
            return terms
        problem(key, f"unknown term source {short(value)} (valid: {', '.join(BRAND_SOURCES)}, a list or a mapping)")
        return {}
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return {v: "" for v in value}
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    problem(key, f"must be a non-empty list of terms, a mapping term -> value, or one of {', '.join(BRAND_SOURCES)}")
    return {}


class TermMatcher:
    """Finds terms in spaCy Docs by token, so "best" never matches inside "bestseller".

    With ``ignorecase`` terms match in any case (``LOWER``), else exactly (``ORTH``).
    With ``lemma`` a one-word term written in its base form also matches its inflections
    ("utilize" finds "utilizes", "utilized"): those terms are also matched on ``LEMMA``.
    Phrases ("in order to", "game-changer") match as written, in any case.
    A term whose own lemma differs from its text ("best" -> "good") is matched on its
    text only, or "good" would be flagged as "best".
    Matchers are built on first use, so loading rules does not load spaCy.
    """

    def __init__(self, terms: dict[str, str], ignorecase: bool = True, lemma: bool = True):
        self.terms = terms
        self.ignorecase = ignorecase
        self.lemma = lemma and ignorecase
        self._matchers = None
        # Lemma matching is for one-word terms ("utilize" -> "utilizes"); phrases match as written.
        self._words = {t.lower() for t in terms if _words(t.lower()) == [t.lower()]}
        stems = sorted({_stem(w) for w in self._words if len(w) > 2}, key=len, reverse=True)
        self._stems = re.compile(r"\b(?:" + "|".join(map(re.escape, stems)) + r")[a-z]*", re.I) if stems else None

    def needs(self, text: str) -> str:
        """``tags`` when ``text`` has a word that only lemmas can match, else ``tokens``.

        A cheap prefilter: a word starting with a term word's stem but not equal to it
        ("utilizes" for "utilize") needs lemmas; exact words are found on the text alone.
        """
        if self.lemma and self._stems is not None:
            for m in self._stems.finditer(text):
                if m.group().lower() not in self._words:
                    return "tags"
        return "tokens"

    def _build(self):
        from spacy.matcher import PhraseMatcher


        nlp = load_nlp()
        text_matcher = PhraseMatcher(nlp.vocab, attr="LOWER" if self.ignorecase else "ORTH")
        lemma_matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
        names = list(self.terms)
        # Our own id -> term map: Docs may come from another Vocab (hashes are the same).
        self._ids = {nlp.vocab.strings.add(term): term for term in names}
        for term in names:
            # "K&C." stays one token at a sentence end: match that form too (period trimmed in find).
            text_matcher.add(term, [nlp.make_doc(term), nlp.make_doc(term + ".")])
        if self.lemma:
            single = [t for t in names if t.lower() in self._words]
            for term, doc in zip(single, annotate([t.lower() for t in single])):
                if len(doc) == 1 and doc[0].lemma_.lower() == doc[0].lower_:
                    lemma_matcher.add(term, [doc])
        self._matchers = (text_matcher, lemma_matcher if self.lemma else None)

    def find(self, doc) -> list[tuple[int, int, str]]:
        """``(start_char, end_char, term)`` of every match, longest first at a position, no overlaps."""
        if self._matchers is None:
            self._build()
        spans = {}
        for matcher in self._matchers:
            if matcher is None or len(matcher) == 0:
                continue
            if matcher is self._matchers[1] and not doc.has_annotation("LEMMA"):
                continue  # a tokens-only Doc: needs() said no inflected form is in it
            for match_id, start, end in matcher(doc):
                spans.setdefault((start, end), self._ids[match_id])
        return _no_overlaps(doc, spans)


def _words(term: str) -> list[str]:
    return [w for w in re.split(r"[\s\-]+", term) if w.isalpha()]


def _stem(word: str) -> str:
    """The part inflections keep: "utilize" -> "utiliz", "carry" -> "carr"."""
    return word[:-1] if word[-1] in "ey" and len(word) > 3 else word


def _no_overlaps(doc, spans: dict) -> list[tuple[int, int, str]]:
    out, taken_until = [], -1
    for (start, end), term in sorted(spans.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        if start < taken_until:
            continue
        span = doc[start:end]
        stop = span.end_char - (span.text.endswith(".") and not term.endswith("."))
        out.append((span.start_char, stop, term))
        taken_until = end
    return out
