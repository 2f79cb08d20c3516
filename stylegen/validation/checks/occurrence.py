"""Check type ``occurrence``: counts with a minimum and/or maximum.

Keys: ``count`` (what to count: ``words``, ``sentences``, ``characters``, ``items`` (the
number of items of a list field) or ``matches`` (of ``pattern``)), ``pattern`` (a
regular expression, for ``count: matches``), ``min``, ``max`` (at least one of them),
``unless_facts_stated`` (true: a text under ``min`` passes when it states every one of
the record's facts, :func:`stylegen.validation.coverage.fact_coverage`; a catalog row
with three short facts cannot fill a 45-word description without inventing one).
Words are runs of letters/digits with inner apostrophes, hyphens or dots ("two-person",
"12.4"); sentences come from spaCy's sentence boundaries. Message placeholders:
``{count}``, ``{min}``, ``{max}``, ``{unit}``. The finding points at the start of the
field (or, for ``max`` with ``matches``, at the first match over the limit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from stylegen.validation.readability import count_words
from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.coverage import fact_coverage
from stylegen.validation.patterns import compile_rule_pattern, find_spans


@register("occurrence")
class Occurrence(Check):
    """Counts words, sentences, characters, list items or regex matches against bounds."""

    @dataclass
    class Options:
        count: Literal["words", "sentences", "characters", "items", "matches"]
        RANGES: ClassVar[dict] = {"min": ">=0", "max": ">=0"}  # kit.config checks them at load
        ORDER: ClassVar[tuple] = (("min", "max"),)
        min: int | None = None
        max: int | None = None
        pattern: str | None = None
        unless_facts_stated: bool = False

    def setup(self, problem):
        opts = self.options
        if opts.min is None and opts.max is None:
            problem("count", "give min, max or both")
        if opts.unless_facts_stated and opts.min is None:
            problem("unless_facts_stated", "only applies with min")
        if (opts.count == "matches") != (opts.pattern is not None):
            problem("pattern", "pattern is required with count: matches, and only used with it")
        self.regex = None
        if opts.pattern is not None:
            self.regex = compile_rule_pattern(opts.pattern, 0, problem)
        # Instance attributes override the class defaults the validator reads.
        self.scope = "field" if opts.count == "items" else "text"
        self.needs_doc = opts.count == "sentences"

    def needs_for(self, text):
        return "tokens" if self.options.count == "sentences" else None

    def check(self, target):
        opts = self.options
        if opts.count == "items" and not isinstance(target.value, list):
            return
        count, positions = self._count(target)
        values = {"count": count, "min": opts.min, "max": opts.max, "unit": opts.count}
        if opts.min is not None and count < opts.min and not self._states_every_fact(target):
            yield Hit(0 if target.text is not None else None, None, values=values)
        elif opts.max is not None and count > opts.max:
            start = positions[opts.max] if len(positions) > opts.max else (0 if target.text is not None else None)
            yield Hit(start, None, values=values)

    def _states_every_fact(self, target) -> bool:
        if not self.options.unless_facts_stated or target.text is None or not target.facts:
            return False

        return fact_coverage(target.text, target.facts, getattr(target.brand, "catalog", None)) == 1.0

    def _count(self, target) -> tuple[int, list[int]]:
        kind = self.options.count
        if kind == "items":
            return len(target.value), []
        if kind == "characters":
            return len(target.text), []
        if kind == "words":
            return count_words(target.text), []
        if kind == "sentences":
            return sum(1 for s in target.doc.sents if any(not t.is_punct and not t.is_space for t in s)), []
        starts = [start for start, _ in find_spans(self.regex, target.text)]
        return len(starts), starts
