"""The brand's vocabulary, learned from its approved copy: which words it uses for which
kind of product, and what it calls its products.

Two check types read it: ``offtopic`` (a word neither the row's facts nor the brand's
copy supports) and ``contradiction`` (copy that calls a quilt a "tent").

What is learned, from the **training side** of the approved copy only (brand.yaml
``training.data``; held-out records, ``stylegen.training.data.split`` with
``training.eval_fraction``, are left out so that checking them measures a true
false-flag rate):

* per category (``facts.category``): for every word key, the number of records of that
  category whose copy or facts use it;
* over all categories: the number of records and of categories that use each key (the
  general brand vocabulary: "you", "trail", "pack", "weigh");
* product kinds: per category, the nouns that head its product names ("Talus 2 Tent" ->
  tent), from the approved records and from catalog files, and the nouns its approved
  copy uses for the product itself ("this shelter", "it is a half-zip anorak").

Words are compared by *key*: the Snowball stem of the lower-case word ("insulated" and
"insulation" -> "insul"), so inflections and most derivations meet without a parse.
The vocabulary side needs no spaCy at all; the check side adds the lemma and a few
derivational bases ("gusty" -> gust, "uneven" -> even).

:func:`load_vocabulary` builds it once per process and data version: the cache key is the
sha256 of the files read, so a validator never rebuilds it per record.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from stylegen.errors import DataError
from stylegen.catalog.rows import read_catalog
from stylegen.kit.roles import facts_by_role
from stylegen.validation.corpus import data_files, files_sha256, held_out_ids, leaves
from stylegen.validation.records import field_texts, read_records

WORD = re.compile(r"[^\W\d_]+")  # runs of letters, as spaCy's is_alpha sees them
# How copy refers to the product (or a part of it) by a noun: "this single-wall shelter",
# "The Drift is a spun aluminum cup", "The shell is 210D ripstop" (a sentence's first noun phrase)
_REFERENCE = re.compile(r"(?:\b(?:this|these|(?:is|'s|\u2019s)\s+an?)|(?:^|[.!?]\s+)(?:the|its))\s+"
                        r"(?=((?:[A-Za-z]+[\s-]+){0,2}[A-Za-z]+))", re.IGNORECASE)  # lookahead: cues overlap
_PREFIXES = ("un", "non", "re", "pre", "over", "under", "out")
_SUFFIXES = ("ily", "ly", "ness", "ful", "less", "able", "ish", "ing", "ed", "ation", "ion", "er")
_VOWELS = frozenset("aeiou")
# what follows a product name's noun: "Bag - Moss / Slate", "Stakes, Set of 6", "Daypack With Hip Belt"
_NAME_TAIL = re.compile(r"\s(?:-|\u2013|\u2014|/|\()\s?.*$|,.*$|\s(?:with|for|in)\s.*$", re.IGNORECASE)
_CACHE: dict = {}
_LAST_FACTS: list = [object(), frozenset()]  # one slot: (facts object, its keys)


@functools.lru_cache(maxsize=1)
def _stemmer():
    # nltk comes with textstat (the readability rules import it anyway); Snowball needs no data
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The comparison key of one word: its lower-case Snowball stem ("pitches" -> "pitch")."""
    return _stemmer().stem(word.lower().replace("\u2019", "'"))


def text_keys(text: str) -> set[str]:
    """The keys of every word in ``text`` (hyphenated words count part by part)."""
    return {stem(w) for w in WORD.findall(text)}


@functools.lru_cache(maxsize=65536)
def word_keys(lower: str, lemma: str, derive: bool = False) -> frozenset[str]:
    """The keys a word of the copy may be supported by: its form and lemma, and with
    ``derive`` their derivational bases ("showery" -> shower, "trapped" -> trap)."""
    forms = {lower, lemma}
    if derive:
        forms |= {base for form in (lower, lemma) for base in _bases(form)}
    return frozenset(stem(f) for f in forms if f)


def _bases(word: str) -> set[str]:
    """Shorter words a derived word is made from; over-generating only adds support."""
    out = set()
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            out.add(word[len(prefix):])
    if word.endswith("y") and len(word) >= 5 and word[-2] not in _VOWELS:  # gusty; not whiskey
        out |= {word[:-1], word[:-1] + "e"}
    for suffix in _SUFFIXES:
        base = word[:-len(suffix)]
        if word.endswith(suffix) and len(base) >= 3:
            out |= {base, base + "e"}
            if base[-1] == base[-2]:
                out.add(base[:-1])  # "trapped" -> trap
    return out


def facts_keys(facts: dict | None) -> frozenset[str]:
    """The keys of every word of a row's facts (name, category, features, ...); reused
    while the same facts object comes back (the fields and bullets of one record)."""
    if _LAST_FACTS[0] is not facts:
        _LAST_FACTS[:] = [facts, frozenset(k for leaf in leaves(facts or {}) for k in text_keys(leaf))]
    return _LAST_FACTS[1]


def category_key(category) -> str:
    """How categories are compared: case and spacing ignored."""
    return " ".join(str(category or "").split()).casefold()


def product_head(name) -> str | None:
    """The key of the noun a product name ends with ("Talus 2 Tent" -> "tent"), after
    dropping colour lists and set sizes ("Y-Stakes, Set of 6" -> "stake")."""
    words = WORD.findall(_NAME_TAIL.sub("", " ".join(str(name or "").split())))
    words = [w for w in words if len(w) > 2]  # units and sizes: "1.2 L", "2.5L", "ml"
    return stem(words[-1]) if words else None


@dataclass
class BrandVocabulary:
    """What the brand's approved copy says, per category (see the module doc).

    Attributes:
        sha256: the cache key: sha256 of the files read.
        sources: the files read (approved copy, then catalogs).
        held_out: record ids left out (the held-out side of the split).
        records: training-side records learned from.
        category_docs: category key -> word key -> records of that category using it.
        general_docs: word key -> records using it (all categories).
        general_categories: word key -> categories using it.
        kinds: category key -> product-noun key -> product names it heads.
        references: category key -> nouns the category's copy uses for the product.
        category_names: category key -> the category as written.
    """

    sha256: str
    sources: tuple[str, ...]
    held_out: frozenset[str]
    records: int
    category_docs: dict[str, Counter]
    general_docs: Counter
    general_categories: Counter
    kinds: dict[str, Counter]
    references: dict[str, frozenset[str]]
    category_names: dict[str, str]
    _memo: dict = field(default_factory=dict, repr=False)  # (what, thresholds) -> frozenset

    def general(self, min_docs: int = 1, min_categories: int = 1) -> frozenset[str]:
        """The general vocabulary: keys in at least ``min_docs`` records and ``min_categories`` categories."""
        key = ("general", min_docs, min_categories)
        if key not in self._memo:
            self._memo[key] = frozenset(k for k, n in self.general_docs.items()
                                        if n >= min_docs and self.general_categories[k] >= min_categories)
        return self._memo[key]

    def category(self, category, min_docs: int = 1) -> frozenset[str]:
        """The keys the copy of ``category`` uses in at least ``min_docs`` records."""
        key = ("category", category_key(category), min_docs)
        if key not in self._memo:
            docs = self.category_docs.get(key[1], {})
            self._memo[key] = frozenset(k for k, n in docs.items() if n >= min_docs)
        return self._memo[key]

    def kind_categories(self, noun_key: str, min_names: int = 2) -> list[str]:
        """The categories (as written) whose product names ``noun_key`` heads at least ``min_names`` times."""
        return [self.category_names[c] for c, heads in self.kinds.items() if heads.get(noun_key, 0) >= min_names]

    def is_kind_of(self, noun_key: str, category) -> bool:
        """Whether ``category`` calls its products ``noun_key`` (a name head or a copy reference)."""
        cat = category_key(category)
        return self.kinds.get(cat, {}).get(noun_key, 0) > 0 or noun_key in self.references.get(cat, ())

    def related(self, one, other, min_names: int = 2) -> bool:
        """Whether two categories share a product kind (Tents and Shelters both sell tarps)."""
        a, b = self.kinds.get(category_key(one), {}), self.kinds.get(category_key(other), {})
        return any(n >= min_names and b.get(k, 0) >= min_names for k, n in a.items())

    def is_known(self, category) -> bool:
        """Whether the approved copy or a catalog has products of ``category``."""
        return category_key(category) in self.kinds or category_key(category) in self.category_docs

    def all_kinds(self) -> frozenset[str]:
        """Every product-noun key of every category."""
        if ("kinds",) not in self._memo:
            self._memo[("kinds",)] = frozenset(k for heads in self.kinds.values() for k in heads)
        return self._memo[("kinds",)]


def load_vocabulary(brand, data: str | Path | None = None, catalogs=(),
                    held_out: frozenset[str] | None = None) -> BrandVocabulary:
    """The brand's vocabulary, built once per process and data version.

    Args:
        brand: the BrandKit (its ``training.data``, ``training.eval_fraction``, tasks).
        data: approved copy to learn from instead of brand.yaml ``training.data``.
        catalogs: catalog files whose product names add product kinds; files that do
            not exist are skipped (a brand kit copied without its catalog still validates).
        held_out: record ids to leave out instead of the held-out side of the training
            split (cross-validation folds).

    Raises:
        DataError: the approved copy cannot be found or holds no usable record.
    """
    files = data_files(data if data is not None else brand.resolve(brand.training.data))
    found = [Path(c) for c in catalogs if Path(c).is_file()]
    key = (files_sha256(files + found), brand.training.eval_fraction, tuple(brand.tasks), held_out)
    if key not in _CACHE:
        _CACHE[key] = _build(brand, files, found, key[0], held_out)
    return _CACHE[key]


def _build(brand, files: list[Path], catalogs: list[Path], sha256: str, held: frozenset | None) -> BrandVocabulary:
    records = [r for path in files for r in read_records(path, brand)[0] if r.id and isinstance(r.facts, dict)]
    if not records:
        raise DataError(f"no approved records with facts in {', '.join(map(str, files))}: the offtopic and "
                        "contradiction checks learn the brand's vocabulary from them")
    if held is None:
        held = held_out_ids([r.id for r in records], brand.training.eval_fraction)
    vocab = BrandVocabulary(sha256=sha256, sources=tuple(map(str, files + catalogs)), held_out=held, records=0,
                            category_docs={}, general_docs=Counter(), general_categories=Counter(), kinds={},
                            references={}, category_names={})
    for rec in records:
        if rec.id not in held:
            _learn_record(vocab, rec, list(brand.tasks), brand.catalog)
    for key in vocab.general_docs:
        vocab.general_categories[key] = sum(1 for docs in vocab.category_docs.values() if key in docs)
    for path in catalogs:
        for row in read_catalog(path, brand.catalog).rows:
            roles = facts_by_role(row.facts, brand.catalog)
            _add_kind(vocab, roles.get("category"), roles.get("name"))
    return vocab


def _learn_record(vocab: BrandVocabulary, rec, tasks: list[str], catalog=None) -> None:
    """Add one approved record: its words (copy and facts), its name's noun, its references."""
    roles = facts_by_role(rec.facts, catalog)
    cat = _add_kind(vocab, roles.get("category"), roles.get("name"))
    texts = [text for _, _, text in field_texts(rec, tasks)]
    keys = set().union(facts_keys(rec.facts), *(text_keys(t) for t in texts))
    vocab.category_docs.setdefault(cat, Counter()).update(keys)
    vocab.general_docs.update(keys)
    vocab.references[cat] = vocab.references.get(cat, frozenset()) | _references(texts)
    vocab.records += 1


def _add_kind(vocab: BrandVocabulary, category, name) -> str:
    """Count the noun ``name`` ends with as a product kind of ``category``; the category key."""
    cat = category_key(category)
    vocab.category_names.setdefault(cat, " ".join(str(category or "").split()))
    head = product_head(name)
    if cat and head:
        vocab.kinds.setdefault(cat, Counter())[head] += 1
    return cat


def _references(texts: list[str]) -> set[str]:
    """Keys of the nouns copy uses for the product: "this X", "it is a X", "The X ..."."""
    out = set()
    for text in texts:
        for m in _REFERENCE.finditer(text):
            out |= text_keys(m.group(1))  # the head is one of these words; a parse would say which
    return out


def vocabulary_of(check, strict: bool = True, catalogs=()) -> "BrandVocabulary | None":
    """A check's vocabulary (``check.vocabulary``), learned from the brand on first use.

    Shared by the ``offtopic`` and ``contradiction`` check types: ``check.options.data``
    names other approved copy, ``catalogs`` add product names. ``None`` when the brand has
    no approved copy and not ``strict`` (a cheap prefilter then leaves the text alone).
    """
    if check.vocabulary is None:
        try:
            data = check.brand.resolve(check.options.data) if check.options.data else None
            files = tuple(check.brand.resolve(c) for c in catalogs)
            check.use_vocabulary(load_vocabulary(check.brand, data, files) if files
                                 else load_vocabulary(check.brand, data))
        except DataError:
            if strict:
                raise
            return None
    return check.vocabulary
