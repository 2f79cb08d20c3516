"""Check type ``existence``: words and phrases the copy must not use.

Keys: ``tokens`` (a list, a mapping term -> reason, or a brand source such as
``brand.reject`` / ``brand.competitors``), ``ignorecase`` (default true), ``lemma``
(default true: "utilize" also finds "utilizes"). Message placeholders: ``{match}`` (the
text found), ``{term}`` (the listed term), ``{reason}`` (the mapping's value).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.terms import TermMatcher, resolve_terms


@register("existence")
class Existence(Check):
    """Flags every occurrence of a listed word or phrase (lemma- and case-aware)."""

    needs_doc = True

    @dataclass
    class Options:
        tokens: Any = None
        ignorecase: bool = True
        lemma: bool = True

    def setup(self, problem):
        if self.options.tokens is None:
            return problem("tokens", "required key is missing (a list, a mapping, or a brand source)")
        self.terms = resolve_terms(self.options.tokens, self.brand, "tokens", problem)
        self.matcher = TermMatcher(self.terms, self.options.ignorecase, self.options.lemma)

    def needs_for(self, text):
        return self.matcher.needs(text)

    def check(self, target):
        for start, end, term in self.matcher.find(target.doc):
            yield Hit(start, end, values={"term": term, "reason": self.terms.get(term, "")})
