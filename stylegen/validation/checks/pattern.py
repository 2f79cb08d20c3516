"""Check type ``pattern``: a regular expression that must not match.

Keys: ``pattern`` (a Python regular expression, required), ``ignorecase`` (default
false), ``multiline`` (default true: ``^`` and ``$`` match at every line). Every match
is a finding; ``{match}`` is the matched text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stylegen.validation.checks import Check, Hit, register


@register("pattern")
class Pattern(Check):
    """Flags every match of a regular expression (HTML tags, URLs, emoji, placeholders)."""

    @dataclass
    class Options:
        pattern: str
        ignorecase: bool = False
        multiline: bool = True

    def setup(self, problem):
        flags = (re.IGNORECASE if self.options.ignorecase else 0) | (re.MULTILINE if self.options.multiline else 0)
        try:
            self.regex = re.compile(self.options.pattern, flags)
        except re.error as exc:
            problem("pattern", f"not a valid regular expression: {exc}")

    def check(self, target):
        for m in self.regex.finditer(target.text):
            yield Hit(m.start(), m.end())
