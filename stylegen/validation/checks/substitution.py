"""Check type ``substitution``: preferred terms, with the swap suggested in the message.

Keys: ``swap`` (a mapping flagged term -> preferred term, or ``brand.swap`` / ``brand``
for the brand's swap table, or ``brand.accept`` for the brand's case-exact spellings:
any other casing of them is flagged), ``ignorecase`` (default true), ``lemma`` (default
true). A match whose text already equals the preferred term is not flagged. Message
placeholders: ``{match}``, ``{term}``, ``{swap}`` (the preferred term).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.terms import TermMatcher, resolve_terms


@register("substitution")
class Substitution(Check):
    """Flags terms that have a preferred replacement and names the replacement."""

    needs_doc = True

    @dataclass
    class Options:
        swap: Any = None
        ignorecase: bool = True
        lemma: bool = True

    def setup(self, problem):
        source = self.options.swap
        if source is None:
            return problem("swap", "required key is missing (a mapping, brand.swap or brand.accept)")
        self.swaps = resolve_terms("brand.swap" if source == "brand" else source, self.brand, "swap", problem)
        self.matcher = TermMatcher(self.swaps, self.options.ignorecase, self.options.lemma)

    def needs_for(self, text):
        return self.matcher.needs(text)

    def check(self, target):
        for start, end, term in self.matcher.find(target.doc):
            preferred = self.swaps.get(term, "")
            if target.text[start:end] != preferred:
                yield Hit(start, end, values={"term": term, "swap": preferred})
