"""Check type ``voice``: the brand-voice score of a field, flagged below a threshold.

The score (:mod:`stylegen.validation.voice`, method in docs/EVAL.md) is the calibrated probability
that a text is the brand's approved copy rather than contrast text (by default the base
model's own outputs for the same prompts). It needs the fitted model file that
``stylegen voice fit`` writes into the brand kit.

Keys: ``model`` (the model file, relative to the brand folder; default
``voice-model.json``), ``threshold`` (flag scores below it; 0 to 1, default 0.5: the
held-out pass and flag rates of each threshold are in the model file and printed by
``stylegen voice fit``), ``min_words`` (fields with fewer words are not scored: a few
words carry too little style to score, default 15). A list field is scored as one text,
its items one per line. Message placeholders: ``{score}`` (two decimals),
``{threshold}``, ``{words}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from stylegen.errors import ConfigError
from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.readability import count_words
from stylegen.validation.voice import field_text, load_voice_model



@register("voice")
class Voice(Check):
    """Scores each field with the brand-voice model and flags scores below the threshold."""

    scope = "field"

    @dataclass
    class Options:
        model: str = "voice-model.json"
        threshold: float = 0.5
        min_words: int = 15

    def setup(self, problem):

        opts = self.options
        if not 0.0 <= opts.threshold <= 1.0:
            problem("threshold", f"must be between 0 and 1 (got {opts.threshold})")
        if opts.min_words < 1:
            problem("min_words", f"must be 1 or more (got {opts.min_words})")
        self.model = None
        try:
            self.model = load_voice_model(self.brand.resolve(opts.model))
        except ConfigError as exc:
            problem("model", "; ".join(exc.problems))

    def check(self, target):

        text = field_text(target.value)
        words = count_words(text)
        if self.model is None or words < self.options.min_words:
            return
        score = self.model.score_one(text)
        if score < self.options.threshold:
            yield Hit(values={"score": f"{score:.2f}", "threshold": self.options.threshold, "words": words})
