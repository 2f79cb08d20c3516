"""Grounding: find claims in product copy that the row's facts do not support.

Style belongs to the adapter; facts belong to the catalog row. This module compares one
piece of copy with the facts it was written from and returns every *unsupported claim*
with its character span:

* ``number``: a number, with or without a unit (weights, sizes, capacities, percentages,
  counts, prices), whose value is not in the facts. Equivalent forms are the same claim:
  ``4.5 oz`` / ``4.5-oz`` / ``4.5 ounces``; ``100%`` / ``100 percent``; ``1.2 L`` /
  ``1.2-liter``; ``two`` / ``2``; ``1 1/2`` / ``1.5``; and a unit conversion is accepted
  when it is right to the precision the copy states (``278 g`` for ``9.8 oz``).
* a claimable term from the brand's vocabulary (``brand/claims.txt``): materials,
  technologies, named features, certifications and guarantees, each with its kind. The
  copy is matched with spaCy ``PhraseMatcher`` on ``LOWER`` and ``LEMMA``; the facts are
  matched word-set-wise per fact value, so "shell of recycled polyester" is supported by
  the fact "recycled polyester shell".

Numbers are read with one regular grammar on both sides (copy and facts), so a fact and
its restatement always parse alike; spaCy's tokenizer keeps ``1.2L`` whole and splits
``4.5-oz``, so a token-based reading would need the same grammar on top anyway.

Human copy restates facts in other forms and mentions other objects; these are no
unsupported claims (docs/GROUNDING.md, "What is not a claim"): blend shares joined by
slashes ("60% polyester/37% nylon", each share bound to its material), hanging hyphens
("PVC- and phthalate-free"), comparisons ("feels like suede", "lighter than a cotton tee";
:mod:`stylegen.validation.claim_context`), number words fused into manner words
("two-fold", "two-way"), counts that sum the facts' counts of one noun ("four pockets"),
derived forms of terms ("breathability", "fastest-drying";
:mod:`stylegen.validation.claim_forms`), and a form listed on several vocabulary lines
(supported through any of them). Forms of real brands' copy (issue 22): a share after a
parenthetical share ("93% polyester (71% recycled)/7% spandex"), inch or foot marks after
a number a length fact states bare (``inseam: 32``), compounds the facts punctuate ("2 lbs,
8 oz"), "100% polyester" for a product whose only material is polyester, and a term's
derived form the facts use verbatim ("zippered").

The pure API is :func:`unsupported_claims`; the ``grounding`` check type
(``stylegen.validation.checks.grounding``) turns claims into findings.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from stylegen.compat.spacy import lemmatizer_tables
from stylegen.kit.roles import role_of
from stylegen.validation.claim_context import (
    comparisons, coordinations, COORDINATION, expand_coordination, in_comparison, number_in_comparison,
)
from stylegen.validation.claim_forms import base_forms, derived_spellings
from stylegen.validation.corpus import FILLER, fold, folded_words, leaves, words
from stylegen.validation.claims import (as_claim_terms, brand_claim_terms, ClaimTerm, KINDS,  # noqa: F401 (re-exported)
                                        load_claim_terms, parse_claim_terms, TERM_KINDS)
from stylegen.validation.nlp import load_nlp
from stylegen.validation.quantities import (COUNT_WORDS, LEAD_COUNT, MANNER_COUNT, parse_number, Quantity,
                                            quantity_supported, read_quantities, same_value)


@dataclass(frozen=True)
class Claim:
    """One unsupported claim in a text.

    Attributes:
        kind: ``number`` or the claim term's kind (``material``, ``certification``, ...).
        span: ``(start, end)`` character offsets of the claim in the text.
        text: the claim as written (``text[start:end]``).
        reason: why it is unsupported, in words a model can act on.
    """

    kind: str
    span: tuple[int, int]
    text: str
    reason: str

    @property
    def message(self) -> str:
        """A self-contained instruction for a retry: which claim to drop and why."""
        return f'Unsupported {self.kind} claim "{self.text}": {self.reason}. Drop "{self.text}".'


# --- public entry point ---------------------------------------------------------------


def unsupported_claims(text: str, facts: dict, *, claim_terms=(), doc=None, nlp=None, catalog=None) -> list[Claim]:
    """Every claim in ``text`` that ``facts`` do not support, in text order.

    Args:
        text: the copy (one field, or one bullet).
        facts: the row's facts: a mapping of strings, numbers and lists (nested allowed).
        claim_terms: the claim vocabulary, :class:`ClaimTerm` objects (:func:`load_claim_terms`).
        doc: the spaCy ``Doc`` of ``text`` when the caller has one (the validator parses
            all fields in one batched ``nlp.pipe`` pass); parsed here when omitted.
        nlp: the spaCy pipeline that made ``doc``; defaults to stylegen's shared one.
        catalog: ``brand.catalog``, the facts' roles; None reads fact names as role names.

    Returns:
        The unsupported claims, sorted by span.
    """
    index = FactIndex.for_facts(facts, catalog)
    claims = number_claims(text, index)
    terms = as_claim_terms(claim_terms)
    if terms:
        claims += term_claims(text, index, terms, doc=doc, nlp=nlp)
    return sorted(claims, key=lambda c: c.span)


# --- the facts side -------------------------------------------------------------------


def _fact_words(text: str) -> frozenset:
    """The words of one fact value and the base forms they stand for ("softer" also
    stands for "soft", "breathability" for "breathable")."""
    words = set(folded_words(text))
    return frozenset(words.union(*(base_forms(w) for w in words)))


# the words after a number that say what it counts or what a share is of
_PHRASE_STOP = re.compile(r"[/,;:()!?.]|\s(?:and|or|with|that|which|for|in|on|to|from|by|of|at)\b", re.IGNORECASE)
_PHRASE_WORDS = 5


def _phrase_after(text: str, end: int) -> str:
    """The noun phrase after offset ``end``: up to punctuation, a conjunction or a
    preposition ("two handwarmer pockets with flaps" gives "handwarmer pockets")."""
    stop = _PHRASE_STOP.search(text, end)
    return text[end:stop.start() if stop else len(text)].strip()


def _words_after(text: str, end: int) -> list[str]:
    """The content words of :func:`_phrase_after` (at most five), plurals folded."""
    return [w for w in folded_words(_phrase_after(text, end)) if w not in FILLER][:_PHRASE_WORDS]


@dataclass(frozen=True)
class Counted:
    """A counted thing in the facts: "Two chest pockets" is ``Counted(2, {chest, pocket}, "pocket")``.

    Attributes:
        value: the count; ``None`` for a bare plural ("Zip pockets": how many is unknown).
        words: the phrase's content words, plurals folded.
        head: its last word, the noun counted.
    """

    value: float | None
    words: frozenset
    head: str


def _counted(leaf: str, quantities: list["Quantity"]) -> list[Counted]:
    """The counted things in one fact value: its leading phrase ("Two hand pockets";
    "Chest pocket" is one; "Zip pockets" an unknown number) and every later count
    ("... with two zip pockets")."""
    m = LEAD_COUNT.match(leaf)
    value = None if not m else float(m[1]) if m[1] else float(COUNT_WORDS[m[2].lower()])
    start = m.end() if m else 0
    found = [_counted_phrase(leaf, start, value)]
    found += [_counted_phrase(leaf, q.span[1], q.value) for q in quantities
              if q.unit is None and q.span[0] >= start]
    # "Four-way stretch" is no count of stretches, but it does say "stretches four ways"
    found += [Counted(parse_number(m["num"])[0], frozenset({m["word"].lower()}), m["word"].lower())
              for m in MANNER_COUNT.finditer(leaf)]
    return [c for c in found if c is not None]


def _counted_phrase(leaf: str, end: int, value: float | None) -> Counted | None:
    """The :class:`Counted` of the phrase after ``end``; a phrase without a count is one
    thing when its noun is singular, an unknown number when plural."""
    raw = [w for w in words(_phrase_after(leaf, end)) if w not in FILLER][:_PHRASE_WORDS]
    if not raw:
        return None
    folded = [fold(w) for w in raw]
    if value is None:
        value = 1.0 if folded[-1] == raw[-1] else None
    return Counted(value, frozenset(folded), folded[-1])


@dataclass(frozen=True)
class Share:
    """A blend share in the facts: "25% nylon" is ``Share(25, {nylon})``."""

    value: float
    words: frozenset
    text: str


# one slot: a row's fields and bullets are checked one after another with the same facts
_LAST_INDEX: dict = {}


@dataclass
class FactIndex:
    """The facts, pre-read for matching: word sets per value and every number.

    Attributes:
        word_sets: per fact value, its words and their base forms (:func:`_fact_words`).
        numbers: every quantity in the facts.
        counts: the lengths of list facts ("comes in two colors").
        shares: blend shares ("70% merino wool/25% nylon": 70 of merino wool, 25 of nylon).
        counted: counted things by head noun ("pocket": two hand pockets, one chest pocket).
        bare_lengths: numbers a length fact states without a unit (``inseam: 32``), which
            the copy may give in inches or feet (``32"``).
        sole_materials: the words of a material fact's only value (``material: Polyester``),
            which the copy may call 100% of the product (``100% polyester``).
    """

    word_sets: list[frozenset]
    numbers: list["Quantity"]
    counts: frozenset
    shares: list[Share] = field(default_factory=list)
    counted: dict = field(default_factory=dict)
    bare_lengths: frozenset = frozenset()
    sole_materials: list[tuple[str, ...]] = field(default_factory=list)

    @classmethod
    def build(cls, facts: dict | None, catalog=None) -> "FactIndex":
        """Index a facts mapping (``None`` gives an empty index: nothing is supported).

        Hanging hyphens are written out first: the fact "Water- and windproof" is read
        as "waterproof and windproof". ``catalog`` (``brand.catalog``) gives the facts'
        roles (:mod:`stylegen.kit.roles`); None reads fact names as role names.
        """
        facts = facts or {}
        values = [expand_coordination(leaf) for key, value in facts.items() for leaf in leaves(value)]
        read = {leaf: read_quantities(leaf) for leaf in values}
        quantities = [(leaf, q) for leaf in values for q in read[leaf]]
        # "comes in two colors": the length of a list fact is a fact too
        counts = frozenset(len(v) for v in facts.values() if isinstance(v, (list, tuple)) and v)
        shares = [Share(q.value, frozenset(_words_after(leaf, q.span[1])), f"{q.text} {_phrase_after(leaf, q.span[1])}")
                  for leaf, q in quantities if q.unit == "%"]
        counted: dict = {}
        for c in (c for leaf in values for c in _counted(leaf, read[leaf])):
            counted.setdefault(c.head, []).append(c)
        return cls([_fact_words(leaf) for leaf in values], [q for _, q in quantities], counts,
                   [s for s in shares if s.words], counted, _bare_lengths(facts, catalog),
                   _sole_materials(facts, catalog))

    @classmethod
    def for_facts(cls, facts: dict | None, catalog=None) -> "FactIndex":
        """:meth:`build`, reused while the same facts object comes back (fields of one row)."""
        cached = _LAST_INDEX.get("facts")
        if cached is None or cached[0] is not facts or cached[1] is not catalog:
            _LAST_INDEX["facts"] = (facts, catalog, cls.build(facts, catalog))
        return _LAST_INDEX["facts"][2]

    def mentions(self, phrase: str) -> bool:
        """True when one fact value holds every content word of ``phrase`` (any order)."""
        folded = {w for w in folded_words(phrase) if w not in FILLER} or set(folded_words(phrase))
        return bool(folded) and any(folded <= ws for ws in self.word_sets)


# Facts of the dimensions role hold lengths, of the materials role materials. A free-text
# fact (role ``text``, the default) whose name says length ("inseam", "strap_length") or
# material ("fabric") is read the same way: a kit written before roles keeps its support.
_LENGTH_KEY = re.compile(r"inseam|length|width|height|depth|dimension|diameter|rise|drop|sleeve|waist|thick",
                         re.IGNORECASE)
_MATERIAL_KEY = re.compile(r"material|fabric", re.IGNORECASE)
_BARE_LENGTH_UNITS = frozenset({"in", "ft"})
_FLAG_VALUES = frozenset({"yes", "no", "true", "false", "y", "n"})  # "performance_fabric: Yes" names no material


def _has_role(key: str, role: str, name_says: re.Pattern, catalog) -> bool:
    """Whether fact ``key`` has ``role``, or is free text whose name says it."""
    actual = role_of(str(key), catalog)
    return actual == role or (actual == "text" and bool(name_says.search(str(key))))


def _bare_lengths(facts: dict, catalog=None) -> frozenset:
    """The values of bare numbers (``"32"``, ``[30, 32]``) of length facts (the dimensions role)."""
    out = set()
    for key, value in facts.items():
        if _has_role(key, "dimensions", _LENGTH_KEY, catalog):
            for leaf in leaves(value):
                found = read_quantities(leaf.strip())
                if len(found) == 1 and found[0].unit is None and found[0].text == leaf.strip():
                    out.add(found[0].value)
    return frozenset(out)


def _sole_materials(facts: dict, catalog=None) -> list[tuple[str, ...]]:
    """The content words of each material fact (the materials role) that holds one value only."""
    out = []
    for key, value in facts.items():
        items = leaves(value)
        if _has_role(key, "materials", _MATERIAL_KEY, catalog) and len(items) == 1:
            content = tuple(w for w in folded_words(items[0]) if w not in FILLER)
            if content and not read_quantities(items[0]) and not _FLAG_VALUES.issuperset(content):
                out.append(content)
    return out


def number_claims(text: str, index: FactIndex) -> list[Claim]:
    """The numbers in ``text`` that the facts do not support.

    Numbers that describe a compared object ("lighter than a 12 oz mug") are skipped; a
    share bound to a material must be that material's share in the facts ("25% nylon");
    a count may be the sum of the facts' counts of the same noun ("four pockets").
    """
    claims = []
    compared = comparisons(text)
    for q in read_quantities(text):
        if number_in_comparison(compared, *q.span):
            continue
        reason = _share_conflict(q, text, index)
        if reason is None and (quantity_supported(q, index.numbers, index.counts) or _sum_of_counts(q, text, index)
                               or _restates_bare_fact(q, text, index)):
            continue
        claims.append(Claim("number", q.span, q.text, reason or _number_reason(q, index.numbers)))
    return claims


def _restates_bare_fact(q: Quantity, text: str, index: FactIndex) -> bool:
    """Whether the copy gives a fact the facts state more barely.

    ``32"`` or ``32 inches`` where a length fact says ``32`` (inches and feet only: the
    marks the copy of a US brand adds); ``100% polyester`` where the product's only
    material is polyester (the copy names the material, or its last word, right after).
    """
    if q.unit in _BARE_LENGTH_UNITS:
        return any(same_value(q.value, v) for v in index.bare_lengths)
    if q.unit != "%" or not same_value(q.value, 100) or not index.sole_materials:
        return False
    after = _words_after(text, q.span[1])
    return any(_names_material(after, material) for material in index.sole_materials)


def _names_material(after: list[str], material: tuple[str, ...]) -> bool:
    """The words after a share start with words of ``material`` and name its last word."""
    named = list(itertools.takewhile(material.__contains__, after))
    return bool(named) and material[-1] in named


def _share_conflict(q: Quantity, text: str, index: FactIndex) -> str | None:
    """Why a percentage in the copy contradicts the facts' blend, or ``None``.

    "25% cotton" where the facts say "70% cotton/25% polyester": the copy binds 25% to a
    material of the blend that the facts give another share. A share followed by words
    that name no blend material ("100% of it", "5% for stretch") is not bound.
    """
    if q.unit != "%" or not index.shares:
        return None
    named = set(_words_after(text, q.span[1])) & set().union(*(s.words for s in index.shares))
    if not named:
        return None
    matching = [s for s in index.shares if same_value(s.value, q.value)]
    if not matching or any(named & s.words for s in matching):
        return None
    return f"the facts give {', '.join(dict.fromkeys(s.text for s in matching))}"


def _sum_of_counts(q: Quantity, text: str, index: FactIndex) -> bool:
    """Whether a count in the copy is the sum of the facts' counts of the same noun.

    "stretches four ways" where the facts say "Four-way stretch"; "three pockets" where the
    facts list "Two handwarmer pockets" and "Chest pocket". The copy's words before the noun
    narrow the sum when the facts use them ("three chest pockets" sums only chest pockets);
    a bare plural in the facts ("Zip pockets") makes the sum unknown.
    """
    if q.unit is not None or q.value < 2 or not index.counted:
        return False
    words = _words_after(text, q.span[1])
    head = next((w for w in words if w in index.counted), None)
    if head is None:
        return False
    phrases = index.counted[head]
    known = set().union(*(c.words for c in phrases))
    narrowing = set(words[:words.index(head)]) & known
    chosen = [c for c in phrases if narrowing <= c.words]
    if any(same_value(c.value, q.value) for c in chosen if c.value is not None):
        return True  # one phrase alone: "four ways" for "Four-way stretch"
    if not chosen or any(c.value is None for c in chosen):
        return False
    return same_value(sum(c.value for c in chosen), q.value)


def _number_reason(q: Quantity, facts: list[Quantity]) -> str:
    same_kind = [f.text for f in facts if q.unit and f.dimension == q.dimension]
    if same_kind:
        return f"the facts give {', '.join(dict.fromkeys(same_kind))}"
    return "not in the product facts"


# --- claim terms ----------------------------------------------------------------------


def _variants(form: str) -> set[str]:
    """Spellings of a form that mean the same: "BPA-free", "BPA free", "BPAfree"."""
    return {form, form.replace("-", " "), form.replace("-", "")}


def _spellings(form: str, kind: str) -> set[str]:
    """Every spelling the copy may use for ``form``: hyphen variants of the form and of
    its derived forms ("water resistance", "fastest-drying", "breathability")."""
    return {v for f in {form} | derived_spellings(form, kind) for v in _variants(f)}


_MATCHERS: dict = {}


def _matchers(nlp, terms: tuple[ClaimTerm, ...]):
    """The matchers for this pipeline and vocabulary, built once (keyed by identity:
    hashing a long vocabulary on every call would cost more than matching)."""
    return _built(nlp, terms)[:2]


def claim_prefilter(nlp, terms: tuple[ClaimTerm, ...]) -> "ClaimPrefilter":
    """The :class:`ClaimPrefilter` of this pipeline and vocabulary (built once)."""
    return _built(nlp, terms)[2]


def _built(nlp, terms: tuple[ClaimTerm, ...]):
    key = (id(nlp), id(terms))
    if key not in _MATCHERS:
        _MATCHERS[key] = (nlp, terms, _build_matchers(nlp, terms))  # refs keep the ids valid
    return _MATCHERS[key][2]


def _build_matchers(nlp, terms: tuple[ClaimTerm, ...]):
    """PhraseMatchers on LOWER (every spelling) and LEMMA (inflections), and the prefilter."""
    from spacy.matcher import PhraseMatcher

    lower = PhraseMatcher(nlp.vocab, attr="LOWER")
    lemma = PhraseMatcher(nlp.vocab, attr="LEMMA")
    prefilter = ClaimPrefilter(nlp)
    for i, term in enumerate(terms):
        spellings = sorted({v for form in term.forms for v in _spellings(form, term.kind)})
        lower_docs = [nlp.make_doc(s) for s in spellings]
        lower.add(str(i), lower_docs)
        # only base-form spellings go to LEMMA: "zipper" should catch "zippers", but
        # "lined" (lemma "line") must not catch "one wry line"
        base = [d for d in nlp.pipe(spellings, disable=["parser"]) if all(t.lemma_.lower() == t.lower_ for t in d)]
        if base:
            lemma.add(str(i), base)
        prefilter.add(term, lower_docs, base)
    return lower, lemma, prefilter


class ClaimPrefilter:
    """Which texts can hold a claim term, and how much spaCy annotation finding it takes.

    Built with the matchers from the same pattern Docs, and exact about them, so it may
    over-ask but never under-ask (a test compares it with full annotation):

    * a ``LOWER`` match needs every token of a spelling in the text, so the text must
      have a token equal to the spelling's longest token (its *anchor*);
    * a ``LEMMA`` match that ``LOWER`` does not also find needs, for every token of a
      base-form spelling, a text token the lemmatizer can map to that token's lemma,
      and at least one of them *inflected* (its lower case differs from the pattern's).
      Those surface forms come from running the lemmatizer's own suffix rules
      backwards, plus its exception table and the lemmas the attribute ruler sets;
    * a one-token ``feature`` match reads the token's part of speech ("clip it on").

    :meth:`level` is ``None`` (no claim term can match), ``"tokens"`` (only exact
    spellings can: the tokenizer suffices) or ``"tags"`` (lemmas or POS are needed).
    """

    def __init__(self, nlp):
        self._tokenizer = nlp.tokenizer
        self._hash = nlp.vocab.strings.add  # words are compared as LOWER hashes (no Token objects)
        self._inverse = _inverse_lemmas(nlp)
        self.anchors: set[int] = set()
        self.pos_words: set[int] = set()  # one-token feature spellings: POS decides
        self.inflected: dict[int, list] = {}  # inflected form -> [per-token form sets]
        self.always_tags = False

    def add(self, term: ClaimTerm, lower_docs: list, base_docs: list) -> None:
        """Register one term's spelling Docs (tokenized) and base-form Docs (tagged)."""
        for doc in lower_docs:
            if len(doc):
                self.anchors.add(self._hash(max((t.lower_ for t in doc), key=len)))
            if term.kind == "feature" and len(doc) == 1:
                self.pos_words.add(self._hash(doc[0].lower_))
        for doc in base_docs:
            forms = [self._inverse(tok.lemma_.lower()) for tok in doc]
            if None in forms:
                self.always_tags = True
                continue
            hashed = [{self._hash(f) for f in token_forms} for token_forms in forms]
            for tok, token_forms in zip(doc, forms):
                for form in token_forms - {tok.lower_}:
                    self.inflected.setdefault(self._hash(form), []).append(hashed)

    def level(self, text: str) -> str | None:
        """``None``, ``"tokens"`` or ``"tags"``: what finding claim terms in ``text`` needs."""
        from spacy.attrs import LOWER

        words = set(self._tokenizer(text).to_array(LOWER).tolist())
        if COORDINATION.search(text):
            return "tags" if self.always_tags or not words.isdisjoint(self.pos_words) else "tokens"
        if self.always_tags or not words.isdisjoint(self.pos_words):
            return "tags"
        for word in [w for w in words if w in self.inflected]:  # iterate the few words, not the dict
            if any(all(not words.isdisjoint(f) for f in forms) for forms in self.inflected[word]):
                return "tags"
        return "tokens" if not words.isdisjoint(self.anchors) else None


def _inverse_lemmas(nlp):
    """A function: lemma -> every lower-case surface form the pipeline can lemmatize to it
    (``None`` when that cannot be listed, e.g. a regex pattern sets that lemma)."""
    rules, exceptions, ruler = [], {}, {}
    if "lemmatizer" in nlp.pipe_names:
        rules, exceptions = lemmatizer_tables(nlp.get_pipe("lemmatizer"))
    if "attribute_ruler" in nlp.pipe_names:
        for pattern in nlp.get_pipe("attribute_ruler").patterns:
            if "LEMMA" in pattern["attrs"]:
                tok = pattern["patterns"][0][pattern.get("index", 0)]
                value = tok.get("LOWER", tok.get("ORTH"))
                form = value.lower() if isinstance(value, str) else None  # None: any token
                ruler.setdefault(pattern["attrs"]["LEMMA"].lower(), set()).add(form)

    def inverse(lemma: str) -> set[str] | None:
        if None in ruler.get(lemma, ()):
            return None
        forms = {lemma} | exceptions.get(lemma, set()) | ruler.get(lemma, set())
        forms.update(lemma[:len(lemma) - len(new)] + old for old, new in rules if lemma.endswith(new))
        return forms

    return inverse


def term_claims(text: str, index: FactIndex, terms: tuple[ClaimTerm, ...], *, doc=None, nlp=None) -> list[Claim]:
    """The claim terms in ``text`` that the facts do not mention.

    Terms in a compared phrase ("feels like suede") are no claims; the first conjunct of
    a hanging hyphen ("PVC- and phthalate-free") is checked as its expanded form
    ("PVC-free"); a span matched by several vocabulary lines (a form listed twice, once
    with supporters) is supported when one of them is.
    """
    from spacy.util import filter_spans

    if nlp is None:

        nlp = load_nlp()
    doc = doc if doc is not None else nlp(text)
    lower, lemma = _matchers(nlp, terms)
    matches = lower(doc, as_spans=True)
    if doc.has_annotation("LEMMA"):
        matches += lemma(doc, as_spans=True)
    labels: dict = {}
    for span in matches:
        labels.setdefault((span.start, span.end), set()).add(int(span.label_))
    compared, coordinated = comparisons(text), coordinations(text)
    claims = _coordination_claims(text, [c for c in coordinated if not in_comparison(compared, *c.span)], index, terms)
    # the longest match wins: "recycled polyester" is one claim, not "recycled" + "polyester"
    for span in filter_spans(matches):
        chars = (span.start_char, span.end_char)
        found = [terms[i] for i in sorted(labels[span.start, span.end])]
        if in_comparison(compared, *chars) or any(_inside(chars, c.span) for c in coordinated):
            continue
        if not _asserted(span, found[0]) or any(_supported(t, index) for t in found):
            continue
        if index.mentions(span.text):
            continue  # the facts use the copy's very words ("zippered" matched as a form of "zip")
        claims.append(Claim(found[0].kind, chars, span.text, "not in the product facts"))
    return sorted(claims, key=lambda c: c.span)


def _supported(term: ClaimTerm, index: FactIndex) -> bool:
    return any(index.mentions(p) for p in term.forms + term.supported_by)


def _inside(chars: tuple[int, int], span: tuple[int, int]) -> bool:
    return span[0] <= chars[0] and chars[1] <= span[1]


def _coordination_claims(text: str, coordinated, index: FactIndex, terms: tuple[ClaimTerm, ...]) -> list[Claim]:
    """Claims of hanging-hyphen conjuncts, each read as its expanded form.

    "Water-" in "Water- and windproof" claims the term "waterproof"; "PVC" in "PVC- and
    phthalate-free" claims "PVC-free" (not the material PVC), which the facts must
    mention. A conjunct that is no term and expands to none claims nothing, and a negated
    one ("not water- and windproof") claims nothing either.
    """
    claims = []
    for c in coordinated:
        if _NEGATIONS.intersection(folded_words(text[:c.span[0]])[-3:]):
            continue
        term, inner = _term_for(c.expanded, terms), _term_for(c.text.rstrip("-"), terms)
        if term is None and inner is None:
            continue
        if _supported(term, index) if term else index.mentions(c.expanded):
            continue
        kind = (term or _term_for(c.second, terms) or inner).kind
        claims.append(Claim(kind, c.span, c.text, f'read as "{c.expanded}": not in the product facts'))
    return claims


def _term_for(phrase: str, terms: tuple[ClaimTerm, ...]) -> ClaimTerm | None:
    """The vocabulary term with a form spelled like ``phrase`` (hyphens and spaces aside)."""
    key = _spelling_key(phrase)
    return next((t for t in terms if any(_spelling_key(f) == key for f in t.forms)), None)


def _spelling_key(phrase: str) -> str:
    return re.sub(r"[\s-]+", "", phrase.lower())


_NEGATIONS = frozenset("no not without never n't nor non".split())
_READER_OWNED = frozenset("your my their his her".split())


def _asserted(span, term: ClaimTerm) -> bool:
    """Whether the copy asserts the term of the product, not of something else.

    Skipped: negations ("no igniter", "not waterproof": nothing is claimed), the
    reader's own gear ("your headlamp"), and feature words used as verbs ("clip it on").
    """
    doc = span.doc
    before = doc[max(span.sent.start if doc.has_annotation("SENT_START") else 0, span.start - 3):span.start]
    if any(t.lower_ in _NEGATIONS for t in before):
        return False
    if span.start > 0 and doc[span.start - 1].lower_ in _READER_OWNED:
        return False
    return not (term.kind == "feature" and len(span) == 1 and span[0].pos_ == "VERB")
