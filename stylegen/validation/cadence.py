"""How a brand's copy of one field moves: the order its facts come in, how often it talks
to the reader, how long its sentences run.

The one reader of those traits. ``stylegen init`` drafts the voice from them (the person,
sentence and text lengths, :mod:`stylegen.init.drafts`), the assembler shapes its frames by
them (:mod:`stylegen.generation.assemble`: the brand's fact order, its second person, its
sentence length) and ``benchmarks/bench_quality.py`` measures what a night keeps of them.
Plain string work, no parser: it runs at the start of every night.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from stylegen.errors import DataError
from stylegen.kit.roles import facts_by_role
from stylegen.validation.corpus import load_corpus
from stylegen.validation.records import field_text

VOICE_WORD = re.compile(r"[a-z](?:[a-z'-]*[a-z])?", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+")
YOU = frozenset({"you", "your", "yours", "yourself", "yourselves", "you'll", "you're", "you've", "you'd"})
WE = frozenset({"we", "our", "ours", "us", "ourselves", "we're", "we've", "we'll"})
ME = frozenset({"i", "my", "me", "mine", "myself", "i'm", "i've", "i'll", "i'd"})
# The kinds of fact whose place in a text is measured (the assembler's sections).
ORDER_KINDS = ("use", "capacity", "weight", "features", "materials", "fit", "dimensions", "origin", "colors", "sizes",
               "certifications", "care")
MIN_TEXTS = 10  # fewer texts give no stable share: no cadence, the plain frames
MIN_STATED = 5  # a kind of fact found in fewer texts keeps its plain place
_SIZE = re.compile(r"\d+(?:\.\d+)?\s*(?:\"|in|cm|mm)?\s*x\s*\d+(?:\.\d+)?", re.IGNORECASE)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.floor(q * (len(ordered) - 1) + 0.5)))]


def spread(values: list[int]) -> tuple[int, int, int]:
    """The 10th percentile, the median and the 90th percentile of ``values``."""
    return tuple(int(percentile(values, q)) for q in (.1, .5, .9))


def sentences_of(text: str) -> list[str]:
    """The sentences of ``text`` (split after ., ! or ? and a space)."""
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def person_words(sentence: str) -> set[str]:
    """The words of ``sentence``, lower case, curly apostrophes straightened."""
    return {w.lower().replace("\u2019", "'") for w in VOICE_WORD.findall(sentence.replace("\u2019", "'"))}


@dataclass(frozen=True)
class Cadence:
    """The measured cadence of one field of a brand's copy.

    Attributes:
        texts: how many texts it was measured on.
        you: the share of sentences that say "you" or "your".
        words: words a sentence (10th percentile, median, 90th percentile).
        per_text: sentences a text (the same).
        order: (kind of fact, mean position 0-1 of its first mention in the texts that
            state it), for the kinds found in at least :data:`MIN_STATED` texts.
    """

    texts: int
    you: float
    words: tuple[int, int, int]
    per_text: tuple[int, int, int]
    order: tuple[tuple[str, float], ...]

    def position(self, kind: str, default: float) -> float:
        """Where ``kind`` sits in the brand's copy (``default`` where it was not measured)."""
        return dict(self.order).get(kind, default)


def measure(texts: list[tuple[str, dict | None]], catalog=None) -> Cadence | None:
    """The cadence of ``texts`` ((text, the product's facts or None) pairs); None when there
    are fewer than :data:`MIN_TEXTS` texts. ``catalog`` gives the facts' roles."""
    texts = [(t, f) for t, f in texts if t.strip()]
    if len(texts) < MIN_TEXTS:
        return None
    groups = [sentences_of(t) for t, _ in texts]
    flat = [s for g in groups for s in g if VOICE_WORD.search(s)]
    you = sum(bool(YOU & person_words(s)) for s in flat) / max(1, len(flat))
    seen = fact_positions(texts, catalog)
    order = tuple((k, round(sum(v) / len(v), 2)) for k, v in seen.items() if len(v) >= MIN_STATED)
    return Cadence(len(texts), round(you, 3), spread([len(s.split()) for s in flat]),
                   spread([len(g) for g in groups]), order)


def fact_positions(texts: list[tuple[str, dict | None]], catalog=None) -> dict[str, list[float]]:
    """Per kind of fact, the position (0-1) of its first mention in each text that states it
    (a value found as written; a size by its numbers, "88 x 52")."""
    seen: dict[str, list[float]] = {}
    for text, facts in texts:
        roles, lower = facts_by_role(facts, catalog) if facts else {}, text.lower()
        for kind in ORDER_KINDS:
            hits = [m.start() for v in _findable(roles.get(kind), kind)  # whole words: size "S" is no "s"
                    for m in [re.search(rf"(?<!\w){re.escape(v.lower())}(?!\w)", lower)] if m]
            if hits:
                seen.setdefault(kind, []).append(min(hits) / max(1, len(lower)))
    return seen


def _findable(value, kind: str) -> list[str]:
    # one letter ("S", "M") is found in any text ("it's"): not evidence of where sizes sit
    values = [str(v).strip() for v in (value if isinstance(value, list) else [value]) if len(str(v or "").strip()) > 1]
    if kind == "dimensions":
        return [m.group(0) for v in values for m in [_SIZE.search(v)] if m]
    return values


def brand_cadences(brand, tasks, setting: str = "brand") -> dict[str, Cadence | None]:
    """The cadence of each of ``tasks`` in the training side of the brand's approved copy,
    the corpus read once (None for a task: too few texts, no approved copy, or ``setting``,
    brand.yaml ``generation.cadence``, is ``plain``). Callers keep the result for the run."""
    if setting != "brand":
        return {task: None for task in tasks}
    try:
        corpus = load_corpus(brand)
    except DataError:  # no approved copy at all: the plain frames' order
        return {task: None for task in tasks}
    held = corpus.held_out()
    kept = [r for r in corpus.records if r.id not in held]
    return {task: measure([(field_text(r.fields.get(task)), r.facts) for r in kept], brand.catalog) for task in tasks}
