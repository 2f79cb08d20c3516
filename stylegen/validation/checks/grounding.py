"""Check type ``grounding``: copy may not state product facts its row does not support.

Compares each field text with the record's ``facts`` (the catalog fields the task prompt
was rendered from) and reports every unsupported claim with its span: numbers, and the
brand's claimable terms (materials, technologies, features, certifications, guarantees).
The logic lives in :mod:`stylegen.validation.grounding`; this module adapts it to the rule format::

    extends: grounding
    message: 'Unsupported {kind} claim "{match}": {reason}. Drop "{match}".'
    level: error
    claims: claims.txt        # optional: vocabulary file, relative to the brand folder
    kinds: [number, material] # optional: report only these kinds (default: all)
    ignore: ["24/7"]          # optional: claim texts always accepted
    facts: [features, materials]  # optional: fact keys that count (default: all)

Records without facts are not checked (copy from a plain text file has nothing to be
grounded in); see docs/GROUNDING.md for the field mapping of ``stylegen validate``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from stylegen.errors import ConfigError
from stylegen.validation.checks import Check, Hit, register, Target
from stylegen.validation.claims import KINDS, load_claim_terms
from stylegen.validation.grounding import claim_prefilter, FactIndex, number_claims, term_claims
from stylegen.validation.nlp import load_nlp



@register("grounding")
class Grounding(Check):
    """Claims (numbers, materials, features, certifications) the row's facts do not support."""

    @dataclass
    class Options:
        claims: str | None = None
        kinds: list[str] = field(default_factory=lambda: list(KINDS))
        ignore: list[str] = field(default_factory=list)
        facts: list[str] | None = None

    scope = "text"
    needs_doc = True
    needs_parser = False

    def setup(self, problem):
        """Load the claim vocabulary once and check the option values."""
        bad = [k for k in self.options.kinds if k not in KINDS]
        if bad:
            problem("kinds", f"unknown claim kind(s) {', '.join(map(repr, bad))} (valid: {', '.join(KINDS)})")
        self.terms = ()
        self._prefilter = None
        self._ignore = {text.lower() for text in self.options.ignore}
        self._cached = (None, None)
        path = self.options.claims or self.brand.claims
        if path is None:
            if any(k != "number" for k in self.options.kinds):
                problem("claims", "no claim vocabulary: set `claims:` here or `claims:` in brand.yaml")
            return
        try:
            self.terms = load_claim_terms(self.brand.resolve(path))
        except ConfigError as exc:
            for message in exc.problems:
                problem("claims", message)

    def needs_for(self, text):
        """Tags and lemmas only when a claim term (or an inflection of one) may be in
        ``text``; tokens when only exact spellings can be; nothing otherwise. Numbers are
        read with a regex grammar and need no spaCy at all."""
        if not self.terms or not text or all(k == "number" for k in self.options.kinds):
            return None
        if self._prefilter is None:

            self._prefilter = claim_prefilter(load_nlp(), self.terms)
        return self._prefilter.level(text)

    def check(self, target: Target):
        """Yield a hit per unsupported claim in ``target.text``."""
        if target.facts is None or not target.text:
            return
        index = self._index(target.facts)
        claims = number_claims(target.text, index) if "number" in self.options.kinds else []
        # No Doc means the validator's prefilter found no claim term (skip the matchers);
        # called without a validator, needs_for() decides and term_claims() parses.
        if self.terms and (target.doc is not None or self.needs_for(target.text) is not None):
            claims += term_claims(target.text, index, self.terms, doc=target.doc)
        for claim in sorted(claims, key=lambda c: c.span):
            if claim.kind in self.options.kinds and claim.text.lower() not in self._ignore:
                yield Hit(claim.span[0], claim.span[1], values={"kind": claim.kind, "reason": claim.reason})

    def _index(self, facts: dict) -> FactIndex:
        """The facts index, reused across the fields and bullets of one record."""
        catalog = getattr(self.brand, "catalog", None)  # the facts' roles
        if self.options.facts is None:
            return FactIndex.for_facts(facts, catalog)
        if self._cached[0] is not facts:
            chosen = {k: v for k, v in facts.items() if k in self.options.facts}
            self._cached = (facts, FactIndex.build(chosen, catalog))
        return self._cached[1]
