"""Which of a row's facts a text states: the shared measure of generation's candidate
ranking (:mod:`stylegen.generation.pool`) and of rules that allow short copy when every
fact is in it (``occurrence`` with ``unless_facts_stated``)."""
from __future__ import annotations

from typing import Any

from stylegen.validation.corpus import FILLER, folded_words
# Facts a reader expects the copy to be about; colours and care are optional extras.
COVERAGE_FACTS = ("features", "materials", "weight", "dimensions", "capacity", "use", "certifications")


def fact_coverage(text: str, facts: dict | None) -> float:
    """Share of the row's facts (features, materials, sizes, use, ...) the text mentions.

    A fact item counts as mentioned when at least half of its words (fillers aside)
    appear in the text. Copy that names more of the product's own facts is more useful
    and less likely to be about something else; this is the tie-breaker between
    candidates with the same findings.
    """
    items = [item for key in COVERAGE_FACTS for item in _items((facts or {}).get(key))]
    if not items:
        return 0.0
    return len(covered_facts(text, facts)) / len(items)


def covered_facts(text: str, facts: dict | None) -> set[str]:
    """The fact items (features, materials, sizes, use, ...) ``text`` mentions: at least
    half of an item's words (fillers aside) appear in it."""
    words = set(folded_words(text))
    out = set()
    for key in COVERAGE_FACTS:
        for item in _items((facts or {}).get(key)):
            need = [w for w in folded_words(item) if w not in FILLER]
            if need and sum(w in words for w in need) * 2 >= len(need):
                out.add(f"{key}:{item}")
    return out


def _items(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
