"""Slot tokens in the model's output (issue 21, approach 3).

The adapter is trained on the brand's approved copy with its own record's fact values cut
out as the phrasebook's typed slots (``{name}``, ``{weight}``, ``{feature:pocket}``; see
:func:`slotted`). At night the model writes the brand's sentences with slots where facts
go, and :func:`fill_slots` puts the row's values in. A candidate is rejected (findings
``Slot.Unfilled`` and ``Slot.Unslotted``, level error) when a slot names a fact the row does
not have, or when the model wrote a number or a material word outside a slot: what a slot
holds is true by construction, and what the model writes around it is the voice.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from stylegen.generation.assemble import fact_sheet
from stylegen.generation.phrasebook import (agree, noun_features, plural_verb, role_list, SINGULAR_VERB, slot_value,
                                            slot_values, slot_values_of, SLOT, Vocabulary)
from stylegen.kit.roles import facts_by_role
from stylegen.validation.corpus import fold, function_words, words
from stylegen.validation.findings import Finding

UNFILLED = "Slot.Unfilled"
UNSLOTTED = "Slot.Unslotted"
SLOT_RULES = frozenset({UNFILLED, UNSLOTTED})
# Words a slotted completion needs that a row's lexicon may lack (the slot kinds).
SLOT_WORDS = frozenset("name noun weight capacity dimensions materials colors use care feature".split())
_BRACE = re.compile(r"\{[^{}]*\}?|\}")


@dataclass(frozen=True)
class SlotFill:
    """A slotted completion with the row's values put in, and what kept it from being true."""

    text: str
    unfilled: tuple[str, ...] = ()   # slots the row has no value for (left as written)
    unslotted: tuple[str, ...] = ()  # numbers and material words the model wrote outside a slot

    def findings(self, record_id: str, field: str) -> list[Finding]:
        """Error findings for the run loop (the candidate cannot be accepted)."""
        out = [Finding(UNFILLED, "error", f"slot {s} has no value in this product's facts", id=record_id, field=field)
               for s in self.unfilled]
        return out + [Finding(UNSLOTTED, "error", f"'{w}' written outside a slot: only the facts may state it",
                              id=record_id, field=field) for w in self.unslotted]


def slotted(text: str, facts: dict, catalog=None) -> str:
    """``text`` (approved copy) with its own record's fact values as slots: the training target.

    A count written just before a feature slot ("12 {feature:points}") goes into the slot when
    the feature itself starts with it, since the slot is filled with the whole feature.
    """
    role_facts = facts_by_role(facts, catalog)
    text = slot_values_of(text, role_facts)
    counts = {f.split()[0].lower() for f in noun_features(role_facts) if f.split()}
    return re.sub(r"\b(\w+) (\{feature:[a-z-]+\})",
                  lambda m: m.group(2) if m.group(1).lower() in counts else m.group(0), text)


def fill_slots(text: str, facts: dict, vocab: Vocabulary, catalog=None) -> SlotFill:
    """The row's values in ``text``'s slots, articles and the product's number agreed.

    Args:
        text: the model's completion, with slots.
        facts: the catalog row's facts (any column names; read by role).
        vocab: the brand's material words (a material outside a slot is a claim).
        catalog: the brand's catalog settings (the fact roles).
    """
    role_facts = facts_by_role(facts, catalog)
    row = slot_values(role_facts, fact_sheet(facts, catalog))
    used: set[str] = set()
    unfilled: list[str] = []

    def put(m: re.Match) -> str:
        slot = SLOT.fullmatch(m.group(0))
        value = None
        if slot and (slot.group("kind") != "feature" or slot.group("head")):
            value = slot_value(slot.group("kind"), slot.group("head"), row, used, text)
        if value is None:
            unfilled.append(m.group(0))
        return m.group(0) if value is None else value

    if row.plural:  # "The {name} keeps" said of "Ridge Poles": the verb after the name agrees
        text = re.sub(rf"(\{{name\}}) {SINGULAR_VERB}\b", lambda m: f"{m.group(1)} {plural_verb(m.group(2))}", text)
    filled = _BRACE.sub(put, text)
    outside = unslotted_words(_BRACE.sub(" ", text), vocab, own_materials(role_facts))
    return SlotFill(agree(filled, row.plural), tuple(unfilled), tuple(outside))


def own_materials(role_facts: dict) -> frozenset[str]:
    """The folded words of a row's own materials: the ones it may state outside a slot."""
    return frozenset(fold(w) for m in role_list(role_facts, "materials") for w in words(m))


def available_slots(facts: dict, catalog=None) -> list[str]:
    """The slots a row can fill, in the order a description tends to state them: what a
    slotted prompt lists, so the model copies slots rather than guessing their names."""
    row = slot_values(facts_by_role(facts, catalog), fact_sheet(facts, catalog))
    kinds = ["name", "noun", "use", "capacity", "weight", "materials", "dimensions", "colors", "care"]
    feats = list(dict.fromkeys("{feature:%s}" % f.word for f in row.features))
    return ["{%s}" % k for k in kinds if row.values.get(k)] + feats


def unslotted_words(text: str, vocab: Vocabulary, own: frozenset[str] = frozenset()) -> list[str]:
    """Numbers, and material words of the brand other than the row's own (``own``), in the
    fixed words of a completion. Function words ("down") and feature nouns ("poles") that
    happen to appear in a material's name are not material words."""
    numbers = [w for w in text.split() if any(ch.isnumeric() for ch in w)]  # "12", "1/2", "½"
    materials = vocab.materials - vocab.features - function_words() - own
    return numbers + [w for w in words(text) if fold(w) in materials]


# --- the slot grammar (constrained decoding) -----------------------------------------------------


@functools.lru_cache(maxsize=4)
def token_texts(tokenizer) -> tuple[str, ...]:
    """Each token id's text, decoded alone (once per tokenizer)."""
    return tuple(tokenizer.decode([i]) for i in range(len(tokenizer)))


class SlotGrammar:
    """Holds a slotted completion's slots to the row's own, token by token.

    After an opening brace only the rest of one of ``slots`` can follow (a feature slot not
    used yet), and a closing brace only ends such a slot; outside a slot a token that opens
    a brace must start one. The engine's sampler asks :meth:`step` at each position of a row
    that carries a grammar.

    Args:
        tokenizer: the engine's tokenizer.
        slots: the slots the row can fill (:func:`available_slots`).
    """

    def __init__(self, tokenizer, slots: list[str]):
        self.tokenizer = tokenizer
        self.bodies = tuple(s[1:] for s in slots)  # "weight}", "feature:pocket}"
        self.texts = token_texts(tokenizer)
        self._inside: dict[tuple, frozenset[int]] = {}
        self._outside: frozenset[int] | None = None

    def step(self, generated: list[int]) -> tuple[str, frozenset[int]]:
        """``("only", ids)``: just these tokens may come next; ``("ban", ids)``: not these."""
        text = self.tokenizer.decode(generated)
        opened = text.rfind("{")
        if opened > text.rfind("}"):
            # a feature is stated once (the fill gives each feature slot its own feature)
            used = frozenset(re.findall(r"\{(feature:[^{}]*\})", text[:opened]))
            key = (text[opened + 1:], used)
            if key not in self._inside:
                bodies = tuple(b for b in self.bodies if b not in used)
                self._inside[key] = frozenset(i for i, t in enumerate(self.texts) if self._fits(key[0] + t, bodies))
            return "only", self._inside[key]
        if self._outside is None:
            self._outside = frozenset(i for i, t in enumerate(self.texts) if ("{" in t or "}" in t)
                                      and not self._fits_outside(t))
        return "ban", self._outside

    def _fits(self, rest: str, bodies: tuple[str, ...] | None = None) -> bool:
        """``rest`` (the text after an opening brace) is on the way to one of the slots, or
        ends one and goes on without another brace."""
        for body in self.bodies if bodies is None else bodies:
            if body.startswith(rest):
                return True
            if rest.startswith(body):
                return self._fits_outside(rest[len(body):])
        return False

    def _fits_outside(self, text: str) -> bool:
        """A token's text outside a slot: no closing brace, and an opening one starts a slot."""
        if "{" not in text:
            return "}" not in text
        before, _, rest = text.partition("{")
        return "}" not in before and self._fits(rest)
