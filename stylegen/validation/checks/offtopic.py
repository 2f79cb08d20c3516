"""Check type ``offtopic``: words that are not about this product.

A 135M model writes "three brightness levels that can hold a full bottle of whiskey" and
"charge them from the internet through the camera's webcam". Each content word of the
copy (spaCy POS in ``pos``, default nouns, verbs and adjectives; compared by lemma and
stem) must be supported by one of:

* the row's facts (name, category, features, materials, use, ...);
* the brand's approved copy for that kind of product: words used by at least
  ``min_category_docs`` approved records of the row's ``facts.category``;
* the general brand vocabulary: words used by at least ``min_general_docs`` approved
  records in at least ``min_general_categories`` categories;
* the stop list (function-ish words: "thing", "way", "make", ...) plus ``stop``;
* for the parts of speech in ``common_pos`` (default verbs and adjectives) only, the
  familiar English words of ``common_words`` (default ``textstat``: the Dale-Chall list
  textstat ships). Nouns get no such pass: "whiskey" and "phone" are familiar words too.

A word is also supported through its derivational base ("gusty" -> gust, "uneven" ->
even), and a noun when it is two supported words ("pullover"). The vocabulary is learned
once per process from the training side of the approved copy
(:mod:`stylegen.validation.vocabulary`): held-out records are left out, so validating them
measures a true false-flag rate (:func:`stylegen.validation.calibration.approved_flag_rate`).

A text is flagged when its distinct unsupported words are more than
``max(max_unsupported, min(floor(max_share * content words), max_allowed))``: one new word
in a long description is how the brand writes (a wry line); in a bullet it is a slip. Then
each unsupported word is one finding (its first occurrence) with its span. Placeholders:
``{match}``, ``{category}``, ``{words}`` (all unsupported words of the text), ``{count}``.

Keys: ``pos``, ``min_category_docs`` (1), ``min_general_docs`` (1),
``min_general_categories`` (1), ``max_unsupported`` (0), ``max_share`` (0.15),
``max_allowed`` (3; null: no cap), ``common_words`` (``textstat``, a word-list file
relative to the brand folder, or null), ``common_pos``, ``stop``, ``data`` (approved copy
instead of brand.yaml ``training.data``).
Records without facts are not checked.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from stylegen.errors import DataError
from stylegen.kit.roles import facts_by_role
from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.quantities import read_quantities
from stylegen.validation.nlp import parse
from stylegen.validation.vocabulary import facts_keys, stem, vocabulary_of, WORD, word_keys

POS_TAGS = ("NOUN", "VERB", "ADJ", "ADV", "PROPN", "INTJ")
# Content words that say nothing about which product this is.
STOP_WORDS = frozenset("""
be have do get make let go come take give put keep say see look want need use try find know think
seem become feel leave stay hold run turn set start stop end work help mean add bring carry tell
thing things way lot lots bit kind sort type part piece side end time times day days year years
one ones other others same own such much many more most few fewer several little less least various
whole certain else next last first new old good great big small long short high low right left
""".split())


@functools.lru_cache(maxsize=8)
def common_word_keys(source: str) -> frozenset[str]:
    """Keys of a familiar-words list: ``textstat`` (its Dale-Chall list) or a file path.

    Raises:
        DataError: the list cannot be read.
    """
    path = Path(source)
    if source == "textstat":
        spec = importlib.util.find_spec("textstat")  # locate without importing (textstat imports nltk)
        path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "en" / "easy_words.txt"
    try:
        words = path.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the familiar-words list: {exc.__class__.__name__}") from None
    return frozenset(stem(w) for w in words)


@register("offtopic")
class OffTopic(Check):
    """Content words supported neither by the row's facts nor by the brand's copy for that kind of product."""

    @dataclass
    class Options:
        pos: list[str] = field(default_factory=lambda: ["NOUN", "VERB", "ADJ"])
        min_category_docs: int = 1
        min_general_docs: int = 1
        min_general_categories: int = 1
        max_unsupported: int = 0
        max_share: float = 0.15
        max_allowed: int | None = 3
        common_words: str | None = "textstat"
        common_pos: list[str] = field(default_factory=lambda: ["VERB", "ADJ"])
        stop: list[str] = field(default_factory=list)
        data: str | None = None

    scope = "text"
    needs_doc = True

    def setup(self, problem):
        """Check the option values; the vocabulary itself is learned on first use."""
        opts = self.options
        for key in ("pos", "common_pos"):
            bad = [p for p in getattr(opts, key) if p not in POS_TAGS]
            if bad:
                problem(key, f"unknown part(s) of speech {', '.join(map(repr, bad))} (valid: {', '.join(POS_TAGS)})")
        self._check_numbers(problem)
        self.common = self._common_words(problem)
        if opts.data is not None and not self.brand.resolve(opts.data).exists():
            problem("data", f"{self.brand.resolve(opts.data)}: no such file or directory")
        self.stop = frozenset(stem(w) for w in STOP_WORDS | {w.lower() for w in opts.stop})
        self.vocabulary = None
        self._always = None

    def _check_numbers(self, problem) -> None:
        opts = self.options
        for key in ("min_category_docs", "min_general_docs", "min_general_categories"):
            if getattr(opts, key) < 1:
                problem(key, f"must be 1 or more (got {getattr(opts, key)})")
        if opts.max_unsupported < 0:
            problem("max_unsupported", f"must be 0 or more (got {opts.max_unsupported})")
        if not 0.0 <= opts.max_share < 1.0:
            problem("max_share", f"must be at least 0 and below 1 (got {opts.max_share})")
        if opts.max_allowed is not None and opts.max_allowed < 0:
            problem("max_allowed", f"must be 0 or more, or null (got {opts.max_allowed})")

    def _common_words(self, problem) -> frozenset[str]:
        source = self.options.common_words
        if source is None:
            return frozenset()
        try:
            return common_word_keys(source if source == "textstat" else str(self.brand.resolve(source)))
        except DataError as exc:
            problem("common_words", str(exc))
            return frozenset()

    def use_vocabulary(self, vocabulary) -> None:
        """Check against this :class:`~stylegen.validation.vocabulary.BrandVocabulary` (calibration folds)."""
        self.vocabulary = vocabulary
        self._always = None

    def _vocab(self, strict: bool = True):
        """The brand's vocabulary, loaded on first use; ``None`` when it cannot be and not ``strict``."""
        return vocabulary_of(self, strict)

    def needs_for(self, text):
        """Tags only when some word of ``text`` is outside the general vocabulary and the
        stop list (whatever the row, such a text has no unsupported word)."""
        if not text:
            return None
        if self._vocab(strict=False) is None:
            return "tags"
        always = self._always_supported()
        return "tags" if any(stem(w) not in always for w in WORD.findall(text)) else None

    def _always_supported(self) -> frozenset[str]:
        """The general vocabulary and the stop list: keys supported whatever the row."""
        if self._always is None:
            opts = self.options
            self._always = self._vocab().general(opts.min_general_docs, opts.min_general_categories) | self.stop
        return self._always

    def check(self, target):
        """Yield one hit per unsupported word when the text has too many of them."""
        if target.facts is None or not target.text:
            return
        doc = target.doc
        if doc is None or not doc.has_annotation("TAG"):
            if self.needs_for(target.text) is None:
                return
            doc = parse([target.text], level="tags")[0]
        facts = facts_by_role(target.facts, getattr(self.brand, "catalog", None))
        content, unsupported = self._unsupported(doc, facts)
        if len(unsupported) <= self.allowed(content):
            return
        category = str(facts.get("category") or "").strip() or "these"
        words = ", ".join(t.text for t in unsupported)
        for tok in unsupported:
            yield Hit(tok.idx, tok.idx + len(tok.text),
                      values={"category": category, "words": words, "count": len(unsupported)})

    def allowed(self, content: int) -> int:
        """How many unsupported words a text with ``content`` content words may have."""
        opts = self.options
        share = int(opts.max_share * content)
        if opts.max_allowed is not None:
            share = min(share, opts.max_allowed)
        return max(opts.max_unsupported, share)

    def _unsupported(self, doc, facts: dict) -> tuple[int, list]:
        """The number of content words and the first token of each unsupported lemma."""
        vocab, opts = self._vocab(), self.options
        supported = _Support(facts_keys(facts), vocab.category(facts.get("category"), opts.min_category_docs),
                             self._always_supported())
        numbers = [q.span for q in read_quantities(doc.text)]
        content, seen, out = 0, set(), []
        for tok in doc:
            if tok.pos_ not in opts.pos or not tok.is_alpha or len(tok) < 2 or _inside(tok.idx, numbers):
                continue
            content += 1
            lemma = tok.lemma_.lower()
            if lemma in seen or self._supported(tok, lemma, supported):
                continue
            seen.add(lemma)
            out.append(tok)
        return content, out

    def _supported(self, tok, lemma: str, supported: "_Support") -> bool:
        # derivational bases for every part of speech: on bullets the tagger often reads an
        # adjective as a noun ("gusty ridges")
        keys = word_keys(tok.lower_, lemma, True)
        if any(supported(k) for k in keys):
            return True
        if tok.pos_ in self.options.common_pos and not keys.isdisjoint(self.common):
            return True
        return tok.pos_ == "NOUN" and _compound(tok.lower_, supported)


class _Support:
    """Membership in the row's support sets, without building their union per row."""

    def __init__(self, *sets):
        self.sets = sets

    def __call__(self, key: str) -> bool:
        return any(key in s for s in self.sets)


def _compound(word: str, supported: _Support) -> bool:
    """A closed compound of two supported words of 3+ letters ("pullover")."""
    return any(supported(stem(word[:i])) and supported(stem(word[i:])) for i in range(3, len(word) - 2))


def _inside(offset: int, spans: list) -> bool:
    return any(start <= offset < end for start, end in spans)

