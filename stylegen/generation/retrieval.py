"""The brand's own copy of similar products, as few-shot examples in the night's prompt.

With a base model large enough to imitate from examples (a GPU user's 7B), the fastest
way to put the brand's voice on the page is to show it the brand's approved copy of the
products most like this row: same category first, then the most fact words in common
(features, materials, use: :func:`stylegen.validation.corpus.fact_words`, the one
definition). ``brand.yaml`` ``generation.examples: K`` (default 0) adds the K nearest
approved records of the *training split* to every model prompt as user/assistant turns
(:func:`stylegen.kit.prompts.render_messages`), so held-out copy never leaks into what
eval scores. On the 135M default the examples cost prompt tokens and do not make its
copy true (docs/QUALITY.md); the setting exists for larger models.
"""
from __future__ import annotations

from dataclasses import dataclass

from stylegen.kit.roles import role_value
from stylegen.validation.corpus import fact_words, load_corpus
from stylegen.validation.records import Record


@dataclass(frozen=True)
class Neighbour:
    """One approved record as a candidate example: its id, facts, fact words and category."""

    record: Record
    words: frozenset[str]
    category: str


class ExampleIndex:
    """The training split's approved records, searchable by a row's facts."""

    def __init__(self, brand, records: list[Record]):
        self.brand = brand
        self.entries = [Neighbour(r, fact_words(r.facts), _category(brand, r.facts)) for r in records]

    @classmethod
    def of_brand(cls, brand) -> "ExampleIndex":
        """The index of the brand's approved records with facts, held-out split left out."""
        corpus = load_corpus(brand)
        held = corpus.held_out()
        return cls(brand, [r for r in corpus.with_facts() if r.id not in held])

    def nearest(self, facts: dict, task: str, k: int) -> list[dict]:
        """Up to ``k`` examples for ``task``: ``{"id", "facts", task: text}`` (render_messages' shape).

        Ranked by same category, then Jaccard overlap of fact words, then record id (so the
        choice is deterministic and the prompt of a resumed row is the same).
        """
        if k <= 0:
            return []
        words, category = fact_words(facts), _category(self.brand, facts)
        pool = [e for e in self.entries if e.record.fields.get(task)]
        pool.sort(key=lambda e: (e.category != category, -_jaccard(words, e.words), e.record.id))
        return [{"id": e.record.id, "facts": e.record.facts, task: e.record.fields[task]} for e in pool[:k]]


def _category(brand, facts: dict | None) -> str:
    value = role_value(facts, "category", brand.catalog)
    return str(value).strip().lower() if value else ""


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0
