"""The words a completion may use: a per-row lexicon held at decode time.

A 135M model asked for a product description writes fluent, on-topic-sounding text about
things the product does not have ("a pillow with bristles on its forehead", "holds 1.6 L of
steam"). The validators can reject such text afterwards; a lexicon keeps most of it from
being written at all. Each request carries the words its completion may use:

* the row's own facts (every word of every fact value, the product name included);
* the words the brand's approved copy uses for this kind of product (``min_docs``
  approved records of the row's category), learned from the training side of the split;
* the brand's general voice: words its approved copy uses in ``min_categories``
  categories or more ("you", "trail", "pack", "keeps");
* English function words (spaCy's stop-word list: articles, pronouns, prepositions).

Digits, punctuation and whitespace are always allowed, so numbers from the facts and the
list shape of bullets stay writable. The engine maps the words to token ids
(:class:`TokenLexicon`, through ``Engine.allowed_ids``) and masks every other token before
sampling; vLLM takes the same ids as ``SamplingParams.allowed_token_ids``. The constraint
is on tokens, not words: a word the lexicon lacks can still be spelled from pieces of words
it has, rarely, which is why every output is still validated by the offtopic check.

brand.yaml ``generation.lexicon`` switches it (``category``, or ``open``: any word);
docs/QUALITY.md has the measurements.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stylegen.errors import DataError
from stylegen.kit.roles import facts_by_role
from stylegen.validation.corpus import function_words, leaves, letter_words, load_corpus
from stylegen.validation.records import field_texts


# A word set holding this marker spells no digits: a slotted completion (generation.slots)
# states numbers through its slots only, so none can be written outside one.
NO_DIGITS = "\x00no-digits"


@dataclass(frozen=True)
class LexiconSettings:
    """How wide the lexicon is (see the module doc)."""

    min_docs: int = 2
    min_categories: int = 3


@dataclass
class Lexicon:
    """Surface words of the brand's approved copy, per category and over all categories."""

    category_words: dict[str, Counter] = field(default_factory=dict)
    general: frozenset[str] = frozenset()
    settings: LexiconSettings = LexiconSettings()
    catalog: Any = None  # brand.catalog: which fact is the category (stylegen.kit.roles)

    def words_for(self, facts: dict) -> frozenset[str]:
        """Every word a completion for a row with these ``facts`` may use (lower case)."""
        category = str(facts_by_role(facts, self.catalog).get("category") or "").strip().lower()
        counts = self.category_words.get(category, Counter())
        own = {w for w, n in counts.items() if n >= self.settings.min_docs}
        return frozenset(own | self.general | function_words() | fact_words(facts))


def words(text: str) -> list[str]:
    """The corpus words of ``text`` that hold no digit: digits are always allowed by shape,
    so the lexicon spells only words of letters."""
    return letter_words(text)


def fact_words(facts: dict) -> set[str]:
    """Every lexicon word of every fact value, nested lists included."""
    return {w for leaf in leaves(facts or {}) for w in words(leaf)}


def build_lexicon(brand, settings: LexiconSettings = LexiconSettings()) -> Lexicon:
    """The lexicon of ``brand``, learned from the training side of its approved copy.

    Raises:
        DataError: the approved copy cannot be found or holds no record with facts.
    """
    corpus = load_corpus(brand)
    records = corpus.with_facts()
    if not records:
        raise DataError(f"no approved records with facts in {', '.join(map(str, corpus.files))}: the lexicon "
                        "(generation.lexicon) is learned from them")
    held = corpus.held_out()
    per_category: dict[str, Counter] = {}
    for rec in records:
        if rec.id in held:
            continue
        texts = [text for _, _, text in field_texts(rec, list(brand.tasks))]
        seen = set().union(*(words(t) for t in texts)) | fact_words(rec.facts)
        category = facts_by_role(rec.facts, brand.catalog).get("category")
        per_category.setdefault(str(category or "").strip().lower(), Counter()).update(seen)
    spread = Counter(w for counts in per_category.values() for w in counts)
    general = frozenset(w for w, n in spread.items() if n >= settings.min_categories)
    return Lexicon(per_category, general, settings, brand.catalog)


class TokenLexicon:
    """Maps word sets to the token ids that spell them, for one tokenizer (cached per word)."""

    def __init__(self, tokenizer, always: list[int] = ()):
        self.tokenizer = tokenizer
        self._word_ids: dict[str, frozenset[int]] = {}
        self._sets: dict[frozenset, frozenset[int]] = {}  # a row's word set: its candidates share it
        shapes = _shape_tokens(tokenizer)
        self.always = frozenset(always) | shapes
        self.digits = frozenset(t for t in shapes if any(ch.isnumeric() for ch in tokenizer.decode([t])))  # ½ too

    def ids(self, allowed: frozenset[str] | tuple[str, ...]) -> frozenset[int]:
        """Token ids of every spelling of ``allowed`` (with and without a leading space,
        lower case, capitalised, upper case), plus digits (unless ``allowed`` holds
        :data:`NO_DIGITS`), punctuation and whitespace."""
        allowed = frozenset(allowed)
        if allowed in self._sets:
            return self._sets[allowed]
        out = set(self.always - self.digits if NO_DIGITS in allowed else self.always)
        for word in allowed - {NO_DIGITS}:
            if word not in self._word_ids:
                self._word_ids[word] = self._spell(word)
            out |= self._word_ids[word]
        if len(self._sets) > 512:
            self._sets.clear()
        self._sets[allowed] = frozenset(out)
        return self._sets[allowed]

    def _spell(self, word: str) -> frozenset[int]:
        forms = {word, word.capitalize(), word.upper()}
        ids: set[int] = set()
        for form in forms:
            for text in (form, " " + form):
                ids.update(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return frozenset(ids)


def _shape_tokens(tokenizer) -> frozenset[int]:
    """Tokens without a letter: digits, punctuation, whitespace, newlines."""
    vocab = tokenizer.get_vocab()
    out = set()
    for token, tid in vocab.items():
        text = tokenizer.convert_tokens_to_string([token])
        if text and not any(ch.isalpha() for ch in text) and tid not in tokenizer.all_special_ids:
            out.add(tid)
    return frozenset(out)
