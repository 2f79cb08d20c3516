"""Check type ``contradiction``: copy that states what the facts say otherwise.

Three sub-checks (``checks:``, default all), each a finding with its span and a reason
that names the fact it conflicts with:

* ``pairs``: opposite attributes, a data list in the rule file (``pairs: [[single-wall,
  double-wall], [insulated | insulation, uninsulated], ...]``; ``a | b`` are spellings
  of one side, hyphen, space and no space are the same). A side in the copy is flagged
  when the facts have the other side and not this one ('Says "single wall" but the facts
  say "double-wall"'). A side inside a longer form of the other ("freestanding" in
  "non-freestanding") is that longer form; a negated side ("not waterproof") is no claim.
* ``numbers``: a number with a unit whose quantity the facts give with another value
  ('Says "2 L" but the capacity is 1.2 L'). ``quantities`` maps a dimension (mass,
  volume, length) to the fact key that holds it (weight, capacity, dimensions); a number
  any fact supports (a "230 g canister" among the features, "278 g" for 9.8 oz) is no
  conflict. Counted noun phrases too: "three doors" when the facts say "2 doors" (values
  above one; any number of the fact that counts the phrase is allowed).
* ``kind``: the copy calls the product another kind of product than its category and
  name say ("The Nightjar Quilt is a sweatpants", "This tent ..." for a quilt). A noun
  refers to the product after "this"/"these" or in "it is a X" / "<name> is a X"
  (strong), or as a sentence's subject "The X <verb>" (weak). It is flagged when it
  heads at least ``min_names`` product names of another category (approved records and
  ``catalogs``) and none of this category's, this category's approved copy never uses it
  for its product, the facts do not mention it, and the categories share no product kind
  (Tents and Shelters both sell tarps); a weak reference also needs this category's copy
  never to mention the noun ("The shell is 210D nylon" in a pack is a part). ``generic``
  nouns (set, kit, sheet, ...) and a noun before "of" are never a kind; a compound counts
  by its last part ("sweatpants" -> pants). Categories the vocabulary does not know are
  not checked.

* ``part``: the copy says the product *is* one of its own parts or materials
  ("The Fireside Tumbler is a BPA-free polypropylene lid", "Dawn Mug: a 110 g canister",
  "The Wind Shirt is a half-length front zip"): after "<name> is a", "it is a" or
  "<name>: a", the noun phrase's head is a word of the features or materials and neither
  the product's own noun (the last word of its name) nor a kind of its category.

* ``identity`` (strict; only when a rule lists it): after "<name> is a", "it is a" or
  "<name>: a" (the head may come before "of": "a pack of recycled nylon"), the head
  must be a word of the product's name, a noun of ``generic``, or a noun this category's
  approved copy uses for its products that is no product kind anywhere ("tunnel" for a
  tent). Another kind is wrong even within the category: "The Lull Pillow is a breathier
  sleep sack". A head right after a number is a unit and is skipped.

Placeholders: ``{kind}`` (pairs, number, kind, part, identity), ``{reason}``, ``{fact}`` (the fact key or
value conflicted with), ``{match}``. Records without facts are not checked. Only
``kind`` needs spaCy (POS tags), and only for texts where a product noun follows a word
that can open a reference ("this", "<be> a", a clause's first "The").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from stylegen.kit.roles import facts_by_role
from stylegen.validation.checks import Check, Hit, register
from stylegen.validation.grounding import FactIndex
from stylegen.validation.quantities import quantity_supported, read_quantities
from stylegen.validation.nlp import parse
from stylegen.validation.corpus import leaves
from stylegen.validation.vocabulary import (category_key, facts_keys, product_head, stem, text_keys, vocabulary_of,
                                           WORD)

SUBCHECKS = ("pairs", "numbers", "kind", "part", "identity")
DEFAULT_SUBCHECKS = ("pairs", "numbers", "kind", "part")  # identity is strict: a rule opts in
DEFAULT_PAIRS = [["single-wall", "double-wall"], ["insulated | insulation", "uninsulated"],
                 ["waterproof", "water-resistant"], ["freestanding", "non-freestanding"],
                 ["men's | mens", "women's | womens"]]
DEFAULT_QUANTITIES = {"mass": "weight", "volume": "capacity", "length": "dimensions"}
# Nouns for a collection or a part, never what a product is ("The set is 18/8 steel").
DEFAULT_GENERIC = ["set", "kit", "pair", "piece", "sheet", "case", "cover", "stand", "system", "unit", "item",
                   "product", "gear", "model", "version"]
DIMENSIONS = ("mass", "volume", "length")  # the dimensions of grounding's units that products are measured in
_NEGATION = re.compile(r"(?:\b(?:not|no|never|without|nor)|n['\u2019]t)\W+(?:\w+\W+){0,2}$", re.IGNORECASE)
_NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve"
                                            .split())}
_NUMBER = r"\d+|" + "|".join(_NUMBER_WORDS)
_COUNT = re.compile(rf"(?<![\d.,/])\b({_NUMBER})(?:\s+|-)([A-Za-z]{{3,}}(?:[ -][A-Za-z]+){{0,2}})", re.IGNORECASE)
_ANY_NUMBER = re.compile(rf"(?<![\d.,/])\b({_NUMBER})\b(?![.,/]\d)", re.IGNORECASE)
_PHRASE_END = re.compile(r"[ -](?:a|an|and|or|but|who|that|which|with|for|in|on|of|to|at|by|from|per|each|is|are)\b.*$",
                         re.IGNORECASE)
_SUBJECT_WORDS = frozenset("it this that they these".split())
# forms of "be" as WORD reads them: "it's a" -> it, s, a; "isn't a" -> isn, t, a
_BE = frozenset("is are s re m was were be been being am isn aren wasn weren t".split())
# A materials item names a part when it has a part noun ("BPA-free polypropylene lid").
_PART_MATERIAL = re.compile(r"\b(?:lid|cap|strap|handle|housing|panel|frame|sheet|body|shell|lining|valve|pole"
                            r"|bladder)s?\b",
                            re.IGNORECASE)
_HEAD_END = re.compile(r"\s+(?:with|for|that|which|to|in|on|and|or)\s+", re.IGNORECASE)
_BOUND = frozenset("that which who with for and or but to".split())
_COPULA_CUE = re.compile(r"\b(?:is|s|was)\s+an?\b|:\s*an?\b", re.IGNORECASE)
_CLAUSE = re.compile(r"[^\w\s'\u2019-]+")  # punctuation ends a noun phrase (hyphens do not)


@dataclass(frozen=True)
class _Side:
    """One side of an attribute pair: its spellings as one regex."""

    pattern: re.Pattern

    @classmethod
    def parse(cls, text: str) -> "_Side":
        forms = [f.strip() for f in text.split("|") if f.strip()]
        variants = sorted({v for f in forms for v in _spellings(f)}, key=len, reverse=True)
        body = "|".join(re.escape(v).replace("'", "['\u2019]") for v in variants)
        return cls(re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE))

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self.pattern.finditer(text)]


def _spellings(form: str) -> set[str]:
    """"single-wall", "single wall", "singlewall" are one spelling."""
    return {form, form.replace("-", " "), form.replace("-", "")}


@register("contradiction")
class Contradiction(Check):
    """Copy that conflicts with the facts: opposite attributes, other values, another kind of product."""

    @dataclass
    class Options:
        checks: list[str] = field(default_factory=lambda: list(DEFAULT_SUBCHECKS))
        pairs: list[list[str]] = field(default_factory=lambda: [list(p) for p in DEFAULT_PAIRS])
        quantities: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_QUANTITIES))
        catalogs: list[str] = field(default_factory=list)
        min_names: int = 2
        generic: list[str] = field(default_factory=lambda: list(DEFAULT_GENERIC))
        data: str | None = None

    scope = "text"
    needs_doc = True

    def setup(self, problem):
        """Check the options and compile the pairs; the vocabulary is learned on first use."""
        opts = self.options
        bad = [c for c in opts.checks if c not in SUBCHECKS]
        if bad:
            problem("checks", f"unknown sub-check(s) {', '.join(map(repr, bad))} (valid: {', '.join(SUBCHECKS)})")
        self.pairs = []
        for i, pair in enumerate(opts.pairs):
            if len(pair) != 2 or not all(isinstance(s, str) and s.strip("| ") for s in pair):
                problem("pairs", f"pairs[{i}]: must be two non-empty attributes, e.g. [single-wall, double-wall]")
            else:
                self.pairs.append((_Side.parse(pair[0]), _Side.parse(pair[1])))
        for dim in opts.quantities:
            if dim not in DIMENSIONS:
                problem("quantities", f"unknown dimension {dim!r} (valid: {', '.join(DIMENSIONS)})")
        if opts.min_names < 1:
            problem("min_names", f"must be 1 or more (got {opts.min_names})")
        if opts.data is not None and not self.brand.resolve(opts.data).exists():
            problem("data", f"{self.brand.resolve(opts.data)}: no such file or directory")
        self.generic = frozenset(stem(w) for w in opts.generic)
        self.vocabulary = None

    def use_vocabulary(self, vocabulary) -> None:
        """Check against this :class:`~stylegen.validation.vocabulary.BrandVocabulary` (calibration folds)."""
        self.vocabulary = vocabulary

    def _vocab(self, strict: bool = True):
        return vocabulary_of(self, strict, self.options.catalogs)

    def needs_for(self, text):
        """Tags only for the ``kind`` sub-check, and only when a product noun may be in ``text``."""
        if not text or "kind" not in self.options.checks:
            return None
        vocab = self._vocab(strict=False)
        if vocab is None:
            return "tags"
        kinds = vocab.all_kinds()
        # A reference's noun phrase holds no punctuation but hyphens: look for its opening
        # word ("this", "a", a sentence's "The") in the clause before each product noun.
        for clause in _CLAUSE.split(text):
            words = [w.lower() for w in WORD.findall(clause)]
            for i, word in enumerate(words):
                if _kind_key(word, kinds) and _cued(words[:i]):
                    return "tags"
        return None

    def check(self, target):
        """Yield a hit per statement that conflicts with the facts."""
        text, catalog = target.text, getattr(self.brand, "catalog", None)
        if target.facts is None or not text:
            return
        facts = facts_by_role(target.facts, catalog)  # read by role: the category, the name, the weight
        hits = []
        if "pairs" in self.options.checks:
            hits += self._pairs(text, facts)
        if "numbers" in self.options.checks:
            hits += self._numbers(text, facts, FactIndex.for_facts(target.facts, catalog))
        if "kind" in self.options.checks and self.needs_for(text) is not None:
            hits += self._kinds(_tagged(target, text), facts)
        if "part" in self.options.checks and _COPULA_CUE.search(text):
            hits += self._parts(_tagged(target, text), facts)
        if "identity" in self.options.checks and _COPULA_CUE.search(text):
            hits += self._identities(_tagged(target, text), facts)
        yield from sorted(hits, key=lambda h: h.start)

    # --- pairs -------------------------------------------------------------------------

    def _pairs(self, text: str, facts: dict) -> list[Hit]:
        fact_text = " ; ".join(leaves(facts))
        hits = []
        for a, b in self.pairs:
            for this, other in ((a, b), (b, a)):
                said = _own_spans(this, other, text)
                if not said or not _own_spans(other, this, fact_text) or _own_spans(this, other, fact_text):
                    continue
                given = fact_text[slice(*_own_spans(other, this, fact_text)[0])]
                for start, end in said:
                    if not _NEGATION.search(text[:start]):
                        reason = f'Says "{text[start:end]}" but the facts say "{given}"'
                        hits.append(Hit(start, end, values={"kind": "pairs", "reason": reason, "fact": given}))
        return hits

    # --- numbers -----------------------------------------------------------------------

    def _numbers(self, text: str, facts: dict, index: FactIndex) -> list[Hit]:
        hits = []
        for q in read_quantities(text):
            key = self.options.quantities.get(q.dimension) if q.unit else None
            given = _fact_text(facts.get(key)) if key else ""
            if not given or not any(f.dimension == q.dimension for f in read_quantities(given)):
                continue
            if not quantity_supported(q, index.numbers, index.counts):
                verb = "are" if key.endswith("s") else "is"
                reason = f'Says "{q.text}" but the {key} {verb} {given}'
                hits.append(Hit(q.span[0], q.span[1], values={"kind": "number", "reason": reason, "fact": key}))
        return hits + _count_hits(text, facts)

    # --- kind --------------------------------------------------------------------------

    def _kinds(self, doc, facts: dict) -> list[Hit]:
        vocab, category = self._vocab(), facts.get("category")
        if not category or not vocab.is_known(category):
            return []
        own, used = facts_keys(facts), vocab.category(category)
        hits = []
        for tok, strong in _product_references(doc, own):
            key = _kind_key(tok.lower_, vocab.all_kinds())
            if key is None or key in self.generic or {key, stem(tok.lower_)} & own \
                    or _is_own_kind(vocab, category, key, tok.lower_):
                continue
            # "the shell is 210D nylon": a part, when this kind of product's copy talks about it at all
            if not strong and {key, stem(tok.lower_)} & used:
                continue
            others = [c for c in vocab.kind_categories(key, self.options.min_names)
                      if c != category and not vocab.related(c, category, self.options.min_names)]
            if others:
                hits.append(self._kind_hit(tok, others[0], facts))
        return hits

    def _kind_hit(self, tok, other: str, facts: dict) -> Hit:
        name, category = str(facts.get("name") or "the product").strip(), facts.get("category")
        reason = f'Calls the {name} a "{tok.text}" (a {other} product), but it is a {category} product'
        return Hit(tok.idx, tok.idx + len(tok.text), values={"kind": "kind", "reason": reason, "fact": category})


    # --- part --------------------------------------------------------------------------

    def _parts(self, doc, facts: dict) -> list[Hit]:
        name = str(facts.get("name") or "")
        parts = _part_heads(facts)
        own = {product_head(name), stem((WORD.findall(name) or [""])[-1].lower())}
        vocab, category = self._vocab(strict=False), facts.get("category")
        hits = []
        for head in _copula_heads(doc, text_keys(name)):
            key = stem(head.lower_)
            if key not in parts or key in own or key in self.generic:
                continue
            if vocab is not None and category and _is_own_kind(vocab, category, key, head.lower_):
                continue
            reason = f'Says the {name or "product"} is a "{head.text}", one of its parts or materials'
            hits.append(Hit(head.idx, head.idx + len(head.text), values={"kind": "part", "reason": reason,
                                                                         "fact": "features"}))
        return hits


    # --- identity ----------------------------------------------------------------------

    def _identities(self, doc, facts: dict) -> list[Hit]:
        """"<name> is a X", "it is a X", "<name>: a X" where X is not what the product is:
        not a word of its name, a generic noun, nor what its category calls any of its
        products (:func:`_is_description`): "The Lull Pillow is a breathier sleep sack",
        "The Wind Shirt is a 3.1 oz pack of recycled nylon"."""
        name = str(facts.get("name") or "")
        name_keys = text_keys(name)
        own = name_keys | {product_head(name)}
        vocab, category = self._vocab(strict=False), facts.get("category")
        if vocab is None or not category or not vocab.is_known(category):
            return []
        hits = []
        for head in _copula_heads(doc, name_keys, of_ends=True):
            key = stem(head.lower_)
            if _names_itself(key, own) or key in self.generic or _is_description(vocab, category, key):
                continue
            if head.i and doc[head.i - 1].like_num:  # "a 0.9 oz ...": a unit, the head is out of reach
                continue
            reason = f'Says the {name or "product"} is a "{head.text}", not what a {category} product is called'
            hits.append(Hit(head.idx, head.idx + len(head.text), values={"kind": "identity", "reason": reason,
                                                                         "fact": "name"}))
        return hits


def _names_itself(key: str, own: set) -> bool:
    """A word of the product's name, or the last part of one ("pack" for a Daypack)."""
    return key in own or any(len(key) > 2 and word.endswith(key) for word in own if word)


def _is_description(vocab, category, key: str) -> bool:
    """What this category calls any of its products: the kind that heads at least 30% of
    its product names ("bag" for a duffel in Bags), or a noun its approved copy uses for
    its products that is no kind of product anywhere ("a 4-person tunnel" for a tent).
    Another kind ("quilt" for a pillow) is only right when the product's name says it."""
    cat = category_key(category)
    heads = vocab.kinds.get(cat, {})
    if heads and heads.get(key, 0) >= 0.3 * sum(heads.values()):
        return True
    return key in vocab.references.get(cat, ()) and key not in vocab.all_kinds()


def _part_heads(facts: dict) -> frozenset:
    """Keys of the nouns the features and materials are about: each item's (or comma
    chunk's) last word ("sip lid" -> lid, "nests over a 110 g canister" -> canister), not
    its modifiers ("Tunnel design" names a design, not a tunnel)."""
    heads = set()
    for key in ("features", "materials"):
        for leaf in leaves({key: facts.get(key)}):
            if key == "materials" and not _PART_MATERIAL.search(str(leaf)):
                continue  # "polyester blend", "twill weave": what it is made of, said of it fairly
            for chunk in str(leaf).split(","):
                words = WORD.findall(_HEAD_END.split(chunk.strip())[0])
                if words and len(words[-1]) > 2:
                    heads.add(stem(words[-1].lower()))
    return frozenset(heads)


def _tagged(target, text: str):
    """The target's doc with POS tags (parsed here when the validator did not tag it)."""
    doc = target.doc
    if doc is None or not doc.has_annotation("TAG"):
        doc = parse([text], level="tags")[0]
    return doc


def _copula_heads(doc, name_keys: set, of_ends: bool = False) -> list:
    """Heads of the noun phrases the copy says the product is: "<name> is a X", "it is a X", "<name>: a X".

    ``of_ends``: "a pack of recycled nylon" has its head before "of" (the part check
    leaves such phrases out: "a set of two pots" is no part)."""
    heads = []
    for det in doc:
        if det.lower_ not in ("a", "an") or det.i < 2:
            continue
        link, subject = doc[det.i - 1], doc[det.i - 2]
        named = stem(subject.lower_) in name_keys
        if not ((link.lemma_ == "be" and (named or subject.lower_ == "it")) or (link.text == ":" and named)):
            continue
        end = det.i + 1
        while end < len(doc) and _in_phrase(doc[end]):
            end += 1
        # The phrase must end at a clear boundary ("lid that", "zip with", "canister."):
        # a phrase broken by a verb or a number ("a zip-shut net", "a floorless 9 x 9 ft
        # pyramid") has its head later, out of reach of this simple scan.
        last = doc[end - 1] if end > det.i + 1 else None
        after = doc[end] if end < len(doc) else None
        bounded = after is None or after.pos_ in ("PUNCT", "ADP", "CCONJ", "PRON", "SCONJ") or after.lower_ in _BOUND
        ends_at_of = after is not None and after.lower_ == "of"
        keep = (bounded or ends_at_of) if of_ends else (bounded and not ends_at_of)
        if last is not None and last.pos_ in ("NOUN", "PROPN") and keep:
            heads.append(last)
    return heads


def _is_own_kind(vocab, category, key: str, word: str) -> bool:
    return vocab.is_kind_of(key, category) or vocab.is_kind_of(stem(word), category)


def _own_spans(side: _Side, other: _Side, text: str) -> list[tuple[int, int]]:
    """Matches of ``side`` that are not part of a match of ``other`` ("non-freestanding")."""
    longer = other.spans(text)
    return [(s, e) for s, e in side.spans(text) if not any(os <= s and e <= oe for os, oe in longer)]


def _fact_text(value) -> str:
    return ", ".join(leaves(value)) if value is not None else ""


def _counts(text: str):
    """``(start, end, value, phrase key)`` per counted noun phrase: "2 doors", "two zip hand
    pockets" (up to three words, cut at a function word), "four-season" (a hyphenated count
    is its one word). Measures ("2 L") are not counts."""
    for m in _COUNT.finditer(text):
        words = _PHRASE_END.split(m[2])[0]
        words = words.split("-")[0].split()[:1] if m[0][len(m[1])] == "-" else words.split()
        end = m.start(2) + len(" ".join(words)) if words else m.end()
        if words and not any(q.unit for q in read_quantities(m[0])):
            yield m.start(), end, _count_value(m[1]), tuple(stem(w) for w in words)


def _count_hits(text: str, facts: dict) -> list[Hit]:
    """ "3 doors" in the copy when the facts count 2 doors. Any number of the fact that
    counts the phrase is a value it allows ("two people, or three who get along")."""
    given: dict[tuple, tuple[set, str]] = {}
    for leaf in leaves(facts):
        numbers = {_count_value(n) for n in _ANY_NUMBER.findall(leaf)}
        for start, end, _, phrase in _counts(leaf):
            values, fact = given.get(phrase, (set(), leaf[start:end]))
            given[phrase] = (values | numbers, fact)
    hits = []
    for start, end, value, phrase in _counts(text):
        values, fact = given.get(phrase, (None, ""))
        if values and value > 1 and value not in values:
            reason = f'Says "{text[start:end]}" but the facts say {fact}'
            hits.append(Hit(start, end, values={"kind": "number", "reason": reason, "fact": fact}))
    return hits


def _count_value(raw: str) -> float:
    raw = raw.lower()
    return float(_NUMBER_WORDS[raw]) if raw in _NUMBER_WORDS else float(raw)


def _cued(before: list[str]) -> bool:
    """Whether the words of a clause before a product noun can open a reference to the
    product: "this", "these", "<be> a", or "The" as the clause's first word."""
    if before and before[0] == "the":
        return True
    return any(w in ("this", "these") or (w in ("a", "an") and i and before[i - 1] in _BE)
               for i, w in enumerate(before))


def _kind_key(word: str, kinds: frozenset) -> str | None:
    """The product-noun key of ``word``: itself, or the last part of a compound ("sweatpants")."""
    key = stem(word)
    if key in kinds:
        return key
    for i in range(3, len(word) - 2):
        if stem(word[i:]) in kinds:
            return stem(word[i:])
    return None


def _product_references(doc, name_keys: frozenset) -> list[tuple]:
    """Noun-phrase heads that may refer to the product, each with whether that is certain:
    "this X", "it is a X" (strong); a sentence's "The X <verb>" (weak: often a part)."""
    out = []
    for tok in doc:
        after = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
        if tok.pos_ not in ("NOUN", "PROPN") or (after is not None and (_in_phrase(after) or after.lower_ == "of")):
            continue  # not the head of its phrase, or a measure of something else ("a sheet of foil")
        start = tok.i
        while start > 0 and _in_phrase(doc[start - 1]):
            start -= 1
        det = doc[start - 1] if start > 0 else None
        if det is None:
            continue
        copula = det.lower_ in ("a", "an") and _is_copula_of_product(doc, det.i, name_keys)
        if det.lower_ in ("this", "these") or copula:
            out.append((tok, True))
        elif det.lower_ == "the" and det.is_sent_start and after is not None and after.pos_ in ("VERB", "AUX"):
            out.append((tok, False))  # the sentence's subject: "The tent keeps ..."
    return out


def _in_phrase(tok) -> bool:
    """A token inside a noun phrase before its head: modifiers, compounds, hyphens."""
    return tok.pos_ in ("ADJ", "NOUN", "PROPN", "NUM") or tok.tag_ == "HYPH"


def _is_copula_of_product(doc, article: int, name_keys: frozenset) -> bool:
    """Whether "<subject> is a ..." stands before the article, the subject being "it" or the product's name."""
    if article < 2 or doc[article - 1].lemma_ != "be":
        return False
    subject = doc[article - 2]
    return subject.lower_ in _SUBJECT_WORDS or stem(subject.lower_) in name_keys
