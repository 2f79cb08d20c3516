"""Which of a row's facts a text states: the shared measure of generation's candidate
ranking (:mod:`stylegen.generation.pool`) and of rules that allow short copy when every
fact is in it (``occurrence`` with ``unless_facts_stated``).

Facts are read by role (:func:`stylegen.kit.roles.facts_by_role`): a brand's ``details``
column with ``role: features`` counts as its features."""
from __future__ import annotations

from typing import Any

from stylegen.kit.roles import facts_by_role
from stylegen.validation.corpus import fact_words, FILLER, fold, folded_words, function_words, letter_words
# Fact roles a reader expects the copy to be about; colours and care are optional extras.
COVERAGE_FACTS = ("features", "materials", "weight", "dimensions", "capacity", "use", "certifications")


def fact_coverage(text: str, facts: dict | None, catalog=None) -> float:
    """Share of the row's facts (features, materials, sizes, use, ...) the text mentions.

    A fact item counts as mentioned when at least half of its words (fillers aside)
    appear in the text. Copy that names more of the product's own facts is more useful
    and less likely to be about something else; this is the tie-breaker between
    candidates with the same findings.
    """
    roles = facts_by_role(facts, catalog)
    items = [item for key in COVERAGE_FACTS for item in _items(roles.get(key))]
    if not items:
        return 0.0
    return len(covered_facts(text, roles)) / len(items)


def covered_facts(text: str, facts: dict | None, catalog=None) -> set[str]:
    """The fact items (features, materials, sizes, use, ...) ``text`` mentions: at least
    half of an item's words (fillers aside) appear in it. Items are named ``role:item``;
    ``catalog`` (``brand.catalog``) gives the roles, None reads fact names as roles."""
    words = set(folded_words(text))
    roles = facts_by_role(facts, catalog)
    out = set()
    for key in COVERAGE_FACTS:
        for item in _items(roles.get(key)):
            need = [w for w in folded_words(item) if w not in FILLER]
            if need and sum(w in words for w in need) * 2 >= len(need):
                out.add(f"{key}:{item}")
    return out


def fact_precision(text: str, facts: dict | None) -> float:
    """Share of the text's words that are the row's own fact words (function words aside).

    A 135M model's invented relations ("holds steam in its mouth", "keeps your feet cool")
    bring words of their own; a candidate that says the product's facts in the brand's
    sentence shapes has few. 1.0 for a text with no word but fact and function words.
    Numbers are not words here (grounding checks them); plurals are folded as grounding folds them.
    """
    own = fact_words(facts)
    content = [fold(w) for w in letter_words(text) if w not in function_words()]
    if not content:
        return 0.0
    return sum(w in own for w in content) / len(content)


def _items(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
