"""Check type ``pattern``: a regular expression that must not match.

Keys: ``pattern`` (a Python regular expression, required; run with a time bound and refused
at load time when it can backtrack catastrophically, see :mod:`stylegen.validation.patterns`), ``ignorecase`` (default
false), ``multiline`` (default true: ``^`` and ``$`` match at every line). Every match
is a finding; ``{match}`` is the matched text.
"""
from __future__ import annotations

from dataclasses import dataclass

import regex

from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.patterns import compile_rule_pattern, find_spans


@register("pattern")
class Pattern(Check):
    """Flags every match of a regular expression (HTML tags, URLs, emoji, placeholders)."""

    @dataclass
    class Options:
        pattern: str
        ignorecase: bool = False
        multiline: bool = True

    def setup(self, problem):
        flags = ((regex.IGNORECASE if self.options.ignorecase else 0)
                 | (regex.MULTILINE if self.options.multiline else 0))
        self.regex = compile_rule_pattern(self.options.pattern, flags, problem)

    def check(self, target):
        # find_spans is time-bounded: PatternTimeout reaches the validator as a finding
        for start, end in find_spans(self.regex, target.text):
            yield Hit(start, end)
