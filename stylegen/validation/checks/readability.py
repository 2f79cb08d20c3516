"""Check type ``readability``: a textstat metric with a condition, honest on short copy.

Keys: ``target`` (``brand``, the default: the metric, bounds and ``min_words`` of each
field come from brand.yaml ``readability``; fields without a target there are not
checked) or explicit ``metric``, ``min``, ``max`` and ``min_words``.

Short copy: readability formulas are averages over sentences and words and mean little
on a few sentences (one long word swings Flesch reading ease by 20 points on a 15-word
text). Below ``min_words`` words the rule therefore computes nothing and emits nothing;
length rules (``occurrence``) are the checks that apply to short copy. Message
placeholders: ``{metric}``, ``{score}`` (one decimal), ``{min}``, ``{max}``, ``{words}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from stylegen.validation.readability import METRICS, count_words, score
from stylegen.validation.checks import Check, Hit, register


@register("readability")
class Readability(Check):
    """Scores field text with a textstat metric (offline) and flags scores out of bounds."""

    @dataclass
    class Options:
        target: Literal["brand", "rule"] = "brand"
        metric: str | None = None
        # kit.config checks them at load
        RANGES: ClassVar[dict] = {"min": "finite", "max": "finite", "min_words": ">=0"}
        ORDER: ClassVar[tuple] = (("min", "max"),)
        min: float | None = None
        max: float | None = None
        min_words: int = 30

    def setup(self, problem):
        opts = self.options
        explicit = opts.metric is not None or opts.min is not None or opts.max is not None
        if opts.target == "brand" and explicit:
            problem("target", "target: brand takes metric and bounds from brand.yaml; "
                              "use target: rule to set them in the rule")
        if opts.target == "rule":
            if opts.metric not in METRICS:
                problem("metric", f"must be one of {', '.join(METRICS)} (got {opts.metric!r})")
            if opts.min is None and opts.max is None:
                problem("min", "give min, max or both")

    def _target(self, name: str):
        if self.options.target == "brand":
            return self.brand.readability.get(name)
        return self.options

    def check(self, target):
        goal = self._target(target.name)
        if goal is None:
            return
        words = count_words(target.text)
        if words < goal.min_words:
            return  # too short for the formula to mean anything: see module docstring
        value = score(goal.metric, target.text)
        if (goal.min is not None and value < goal.min) or (goal.max is not None and value > goal.max):
            yield Hit(0, None, values={"metric": goal.metric, "score": f"{value:.1f}", "min": goal.min,
                                       "max": goal.max, "words": words})
