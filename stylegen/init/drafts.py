"""Values ``stylegen init`` drafts from an approved corpus: readability targets, a claim
vocabulary with supporters, terminology candidates and the brand's measured voice.

Each draft keeps the evidence it came from (counts, record ids) so the written kit can say,
in a comment beside every value, where the value came from.
"""
from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from stylegen.validation.checks.degenerate import FUNCTION_WORDS
from stylegen.validation.cadence import ME, percentile, person_words, SENTENCE_END, spread, VOICE_WORD, WE, YOU
from stylegen.validation.claims import ClaimTerm
from stylegen.validation.grounding import FactIndex, term_claims
from stylegen.validation.quantities import read_quantities
from stylegen.validation.readability import count_words, is_english_word, score

MIN_RECORDS = 2  # a fact phrase seen in one record only is a one-off, not vocabulary
READABILITY_MIN_WORDS = 40  # formulas are meaningless on a sentence or two (as the sample brand)
READABILITY_MIN_TEXTS = 10  # fewer scored texts give no stable percentile
_CLAIM_KINDS = (("material", ("material", "fabric", "shell", "lining", "fill", "blend")),
                ("certification", ("certif", "standard", "label")),
                ("feature", ("feature", "detail", "spec")))
_NOT_CLAIMS = ("name", "title", "category", "type", "color", "colour", "size", "tag", "vendor", "care", "use",
               "made_in", "origin", "country", "price", "sku", "weight", "dimension", "capacity", "inseam", "length")
_MAX_PHRASE_WORDS = 3
_MAX_SUPPORTERS = 4


@dataclass
class ReadabilityDraft:
    """A drafted readability floor for one field and its evidence."""
    task: str
    minimum: int
    scored: int
    lowest: float
    median: float


def draft_readability(texts_by_task: dict[str, list[str]]) -> list[ReadabilityDraft]:
    """Per text field, Flesch reading ease floored at the corpus' 2nd percentile.

    Fields with fewer than 10 texts of at least 40 words get no target.
    """
    drafts = []
    for task, texts in texts_by_task.items():
        scores = [score("flesch_reading_ease", t) for t in texts if count_words(t) >= READABILITY_MIN_WORDS]
        if len(scores) >= READABILITY_MIN_TEXTS:
            drafts.append(ReadabilityDraft(task, math.floor(percentile(scores, .02)), len(scores),
                                           min(scores), percentile(scores, .5)))
    return drafts


# --- claims -----------------------------------------------------------------------------


@dataclass
class ClaimDraft:
    """A drafted claim term: its kind, the records whose facts hold it, supporters found."""
    kind: str
    form: str
    records: set[str] = field(default_factory=set)
    supporters: dict[str, set[str]] = field(default_factory=dict)  # phrase -> record ids
    unsupported: set[str] = field(default_factory=set)  # records whose copy claims it without support

    @property
    def generic(self) -> bool:
        """The copy uses it without the fact at least as often as the facts hold it ("body", "end")."""
        return len(self.unsupported) >= len(self.records)

    def line(self) -> str:
        """The claims.txt line (``kind: form <= supporter | ...``)."""
        support = " | ".join(sorted(self.supporters)[:_MAX_SUPPORTERS])
        return f"{self.kind}: {self.form}" + (f" <= {support}" if support else "")


# fact role -> claim kind; roles left out (name, measures, colours, sizes, use, care, origin,
# price, audience, flag) are not claim vocabulary
_ROLE_CLAIMS = {"features": "feature", "materials": "material", "certifications": "certification",
                "attribute": "term", "text": "term"}


def claim_kind(fact_field: str, role: str | None = None) -> str | None:
    """The claim kind of a fact column by its role (drafted, :func:`draft_roles`), else by
    its name; None for columns that are not claims."""
    if role is not None:
        return _ROLE_CLAIMS.get(role)
    name = fact_field.lower()
    if any(word in name for word in _NOT_CLAIMS):
        return None
    return next((kind for kind, words in _CLAIM_KINDS if any(w in name for w in words)), "term")


def fact_phrases(nlp, records: list[dict], roles: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Record id -> {noun phrase: claim kind} over the claimable fact values (``roles``:
    column -> drafted role; without it, claim kinds come from the column names)."""
    roles = roles or {}
    values = [(r["id"], kind, v) for r in records for f, value in r["facts"].items()
              if (kind := claim_kind(f, roles.get(f))) for v in (value if isinstance(value, list) else [value])]
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for (rid, kind, _), doc in zip(values, nlp.pipe([str(v) for _, _, v in values], batch_size=256)):
        for phrase in _noun_phrases(doc):
            out[rid].setdefault(phrase, kind)
    return out


def _noun_phrases(doc) -> list[str]:
    """Lower-cased noun phrases of a fact value, without determiners, numbers and units."""
    phrases = []
    for chunk in doc.noun_chunks:
        words = [t.lower_ for t in chunk if t.pos_ in ("NOUN", "PROPN", "ADJ", "VERB") and t.is_alpha
                 and not t.like_num and len(t) > 1]
        words = words[-_MAX_PHRASE_WORDS:]
        if words and chunk.root.pos_ in ("NOUN", "PROPN") and words[-1] == chunk.root.lower_:
            phrases.append(" ".join(words))
    return phrases


def draft_claims(phrases: dict[str, dict[str, str]]) -> list[ClaimDraft]:
    """Claim terms: fact noun phrases seen in at least two records (plural and singular as one)."""
    drafts: dict[tuple, ClaimDraft] = {}
    for rid, found in phrases.items():
        for phrase, kind in found.items():
            draft = drafts.setdefault(_singular_words(phrase), ClaimDraft(kind, phrase))
            draft.records.add(rid)
            if len(phrase) < len(draft.form):
                draft.form = phrase  # the singular: spaCy's lemma matcher also catches the plural
    return sorted((d for d in drafts.values() if len(d.records) >= MIN_RECORDS), key=lambda d: (d.kind, d.form))


_SETTLE_ROUNDS = 4


def settle_claims(drafts: list[ClaimDraft], records: list[dict], phrases, copy_texts, nlp, say=None) -> None:
    """Check the approved copy against the drafted terms; find supporters for the misses.

    A term the copy uses where the record's facts do not hold it gets, as supporters, the
    facts' phrases with the same head noun ("shoulder straps" <= "wide straps"); where there
    are none, its ``unsupported`` set names the records and the term is left out of the
    active vocabulary. Leaving a long term out lets a shorter one match ("steel" once
    "stainless steel" is out), so the check repeats until nothing changes.
    """
    docs = _parsed(nlp, [text for record in records for text in copy_texts(record)], say)
    for _ in range(_SETTLE_ROUNDS):
        active = [d for d in drafts if not d.unsupported]
        if not _settle_round(active, records, phrases, copy_texts, nlp, docs):
            return


def _parsed(nlp, texts: list[str], say=None) -> dict:
    """Text -> its spaCy Doc, each distinct text parsed once in batches (every round reuses them).

    The docs' tok2vec tensors are dropped (only tags, lemmas and parses are read), so
    thousands of docs stay small. ``say`` (optional) hears every 2,000th text.
    """
    import numpy

    unique = list(dict.fromkeys(texts))
    docs = {}
    for n, (text, doc) in enumerate(zip(unique, nlp.pipe(unique, batch_size=256)), 1):
        doc.tensor = numpy.zeros((0, 0), dtype="float32")
        docs[text] = doc
        if say is not None and n % 2000 == 0:
            say(f"parsed {n:,}/{len(unique):,} texts of the approved copy")
    return docs


def _settle_round(active: list[ClaimDraft], records, phrases, copy_texts, nlp, docs: dict) -> bool:

    terms = tuple(ClaimTerm(d.kind, (d.form,), tuple(d.supporters)) for d in active)
    by_key = {_singular_words(d.form): d for d in active}
    changed = False
    for record in records:
        index = FactIndex.for_facts(record["facts"])
        for text in copy_texts(record):
            for claim in term_claims(text, index, terms, doc=docs[text], nlp=nlp):
                draft = by_key.get(_singular_words(claim.text))
                if draft is not None:
                    changed |= _support_or_miss(draft, record["id"], phrases.get(record["id"], {}))
    return changed


def _singular_words(phrase: str) -> tuple[str, ...]:
    return tuple(w[:-1] if w.endswith("s") and not w.endswith("ss") and len(w) > 3 else w
                 for w in re.findall(r"[a-z]+", phrase.lower()))


def _support_or_miss(draft: ClaimDraft, rid: str, record_phrases: dict) -> bool:
    """Record a miss of ``draft`` in record ``rid``; whether anything changed."""
    head = _singular_words(draft.form)[-1:]
    same_head = [p for p in record_phrases if _singular_words(p)[-1:] == head
                 and _singular_words(p) != _singular_words(draft.form)]
    for phrase in same_head if draft.kind == "feature" else ():
        draft.supporters.setdefault(phrase, set()).add(rid)
    if not same_head or draft.kind != "feature":  # a material is no synonym of another: only feature names
        draft.unsupported.add(rid)
    return True


# --- terminology ------------------------------------------------------------------------


@dataclass
class TermDraft:
    """Terminology drafted from the copy: brand-name spellings and brand-specific words."""
    name_spellings: Counter = field(default_factory=Counter)
    candidates: list[tuple[str, int]] = field(default_factory=list)  # (word, records)


def draft_terminology(name: str, records: list[dict], copy_texts) -> TermDraft:
    """How the copy spells the brand name, and frequent words no English dictionary has.

    Product names are left out of the candidates: they belong to one product, not the brand.
    """
    pattern = re.compile(r"\b" + r"\s*(?:&|and|\+)\s*".join(
        re.escape(part) for part in re.split(r"\s*(?:&|\band\b|\+)\s*", name)) + r"\b", re.I)
    draft, seen, spelled = TermDraft(), Counter(), Counter()
    names = {w.lower() for r in records for w in re.findall(r"[A-Za-z]+", str(r["facts"].get("name", "")))}
    for record in records:
        text = " ".join(copy_texts(record))
        draft.name_spellings.update(m.group(0) for m in pattern.finditer(text))
        words = {w.lower(): w for w in re.findall(r"\b[A-Za-z][A-Za-z'’-]{2,}\b", text)}  # per record once
        seen.update(w for w in words if w not in names and "'" not in w and "’" not in w
                    and not is_english_word(w) and not _dictionary_compound(w, is_english_word))
        spelled.update(words.values())
    draft.candidates = [(_usual_spelling(w, spelled), n) for w, n in seen.most_common(12) if n >= 3]
    return draft


def _usual_spelling(word: str, spelled: Counter) -> str:
    """The corpus' most frequent casing of ``word`` that is not a sentence-initial capital."""
    forms = [(n, w) for w, n in spelled.items() if w.lower() == word]
    lower = [(n, w) for n, w in forms if not w[0].isupper() or w.isupper() or not w[1:].islower()]
    return max(lower or forms)[1]


def _dictionary_compound(word: str, is_english_word) -> bool:
    parts = word.split("-")
    return len(parts) > 1 and all(is_english_word(p) for p in parts if p)


# --- voice ------------------------------------------------------------------------------

VOICE_MIN_TEXTS = 10  # fewer texts give no stable share: the placeholder stays
_OPENERS = ("a question to the reader", "a command", "the product's name", 'the reader ("you")', "a scene or a claim")
_NAME_LEAD = frozenset({"the", "this", "these", "our", "meet"})
_PRIOR = 1000.0  # pseudo-count of the log-odds prior (the pooled counts, scaled to this)
_MIN_Z = 2.0  # a favoured word's z-score: about the 2.5% tail
_VOICE_WORDS = 8  # words listed as favoured or never used
_NEVER_MIN_SHARE = 0.03  # never-used words: in 3%+ of the reference texts
_CONTENT_POS = frozenset({"NOUN", "PROPN", "NUM", "PUNCT", "SYM", "X", "SPACE"})


@dataclass
class VoiceDraft:
    """The brand's measured voice traits, with their figures (``stylegen init``)."""

    task: str
    texts: int
    sentences: int
    person: dict[str, float]  # you / we / I -> share of sentences
    words: tuple[int, int, int]  # words a sentence: 10th percentile, median, 90th percentile
    per_text: tuple[int, int, int]  # sentences a text: the same
    openers: list[tuple[str, float]]  # how the first sentence opens -> share of texts
    favoured: list[tuple[str, int]] = field(default_factory=list)  # word, texts using it
    never: list[tuple[str, int]] = field(default_factory=list)  # word, reference texts using it
    reference_texts: int = 0
    copy_texts: int = 0  # every copy text (fields and list items) the words were counted in

    def lines(self) -> list[str]:
        """The voice as a few lines of prose, each trait with its figure."""
        p = self.person
        lines = [(f'Second person: {p["you"]:.0%} of sentences say "you" or "your"; "we"/"our" {p["we"]:.0%},'
                  f' "I"/"my" {p["i"]:.0%}.'),
                 (f"Sentences: {self.words[1]} words at the median ({self.words[0]}-{self.words[2]} for the middle"
                  f" 80%), {self.per_text[1]} a {self._item()} ({self.per_text[0]}-{self.per_text[2]})."),
                 "Opens with " + ", ".join(f"{name} {share:.0%}" for name, share in self.openers)
                 + f" (first sentences of {self.texts} {self._item()}s)."]
        if self.favoured:
            lines.append("Favours: " + ", ".join(f"{w} ({n})" for w, n in self.favoured)
                         + f" (in how many of its {self.copy_texts} copy texts).")
        if self.never:
            lines.append("Never uses: " + ", ".join(self._quoted(w) for w, _ in self.never)
                         + " (each common in other brands' product copy).")
        return lines

    def _item(self) -> str:
        return self.task.replace("_", " ")

    @staticmethod
    def _quoted(word: str) -> str:
        return f'"{word}"'


def draft_voice(texts: list[str], all_texts: list[str], names: set[str], task: str, nlp) -> VoiceDraft | None:
    """Measure the voice of ``texts`` (one copy field, one text per record).

    Args:
        texts: the field's texts (person, sentence length and openers are measured here).
        all_texts: every copy text of the corpus (favoured and never-used words).
        names: lower-case words of the products' names (never listed as favoured words).
        task: the field's name, for the wording.
        nlp: the spaCy pipeline (tags the first sentences: commands).

    Returns:
        None when there are fewer than :data:`VOICE_MIN_TEXTS` texts.
    """
    texts = [t for t in texts if t.strip()]
    if len(texts) < VOICE_MIN_TEXTS:
        return None
    sentences = [SENTENCE_END.split(t.strip()) for t in texts]
    flat = [s for group in sentences for s in group if VOICE_WORD.search(s)]
    lengths = [len(s.split()) for s in flat]
    counts = [len(group) for group in sentences]
    person = {key: sum(bool(words & person_words(s)) for s in flat) / len(flat)
              for key, words in (("you", YOU), ("we", WE), ("i", ME))}
    draft = VoiceDraft(task, len(texts), len(flat), person, spread(lengths), spread(counts),
                       _openers([group[0] for group in sentences], names, nlp))
    reference = load_voice_reference()
    draft.favoured = favoured_words(all_texts, reference, names)
    draft.never = never_used(all_texts, reference)
    draft.reference_texts, draft.copy_texts = reference["texts"], len(all_texts)
    return draft


def _openers(first: list[str], names: set[str], nlp) -> list[tuple[str, float]]:
    """How each text's first sentence opens, as shares, most frequent first."""
    kinds = Counter(_opener(s, doc, names) for s, doc in zip(first, nlp.pipe(first, disable=["parser"])))
    return [(k, kinds[k] / len(first)) for k in sorted(kinds, key=lambda k: (-kinds[k], _OPENERS.index(k)))]


def _opener(sentence: str, doc, names: set[str]) -> str:
    """One of :data:`_OPENERS`, tested in that order."""
    words = [w.lower() for w in VOICE_WORD.findall(sentence)]
    tokens = [t for t in doc if not t.is_punct and not t.is_space]
    if sentence.rstrip("\"'\u201d\u2019) ").endswith("?"):
        return _OPENERS[0]
    if tokens and tokens[0].tag_ == "VB":
        return _OPENERS[1]
    lead = words[1:3] if words and words[0] in _NAME_LEAD else words[:2]
    if names and any(w in names for w in lead):
        return _OPENERS[2]
    if YOU & set(words):
        return _OPENERS[3]
    return _OPENERS[4]


@functools.lru_cache(maxsize=1)
def load_voice_reference() -> dict:
    """The reference word counts shipped with stylegen (scripts/build_voice_reference.py)."""
    path = Path(__file__).resolve().parent / "data" / "voice_reference.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _counts(texts: list[str]) -> tuple[Counter, Counter]:
    """(word counts, texts using each word), lower case."""
    count, used_in = Counter(), Counter()
    for text in texts:
        words = [w.lower().replace("\u2019", "'") for w in VOICE_WORD.findall(text.replace("\u2019", "'"))]
        count.update(words)
        used_in.update(set(words))
    return count, used_in


def favoured_words(texts: list[str], reference: dict, names: set[str]) -> list[tuple[str, int]]:
    """Words the corpus uses more than the reference, by the log-odds ratio with an
    informative Dirichlet prior (Monroe, Colaresi and Quinn 2008), z-score at least 2.

    Only words in at least 3 texts (and 5% of them) count; function words, product-name
    words and person words (reported on their own) are left out.
    """
    count, used_in = _counts(texts)
    ref = reference["words"]
    n, m = sum(count.values()), reference["tokens"]
    floor = max(3, math.ceil(.05 * len(texts)))
    scored = []
    for word, y in count.items():
        if used_in[word] < floor or len(word) < 3 or word in FUNCTION_WORDS or word in names \
                or word in YOU | WE | ME:
            continue
        r = ref.get(word, (0, 0, "X"))[1]
        prior = _PRIOR * (y + r) / (n + m)
        delta = math.log((y + prior) / (n + _PRIOR - y - prior)) - math.log((r + prior) / (m + _PRIOR - r - prior))
        z = delta / math.sqrt(1 / (y + prior) + 1 / (r + prior))
        if z >= _MIN_Z:
            scored.append((z, word))
    return [(w, used_in[w]) for _, w in sorted(scored, reverse=True)[:_VOICE_WORDS]]


def never_used(texts: list[str], reference: dict) -> list[tuple[str, int]]:
    """Words common in the reference (3%+ of its texts; not nouns, numbers or names) that
    the corpus never uses, most common first."""
    count, _ = _counts(texts)
    floor = _NEVER_MIN_SHARE * reference["texts"]
    common = [(n_texts, w) for w, (n_texts, _, pos) in reference["words"].items()
              if n_texts >= floor and pos not in _CONTENT_POS and w not in count and len(w) > 1]
    return [(w, n) for n, w in sorted(common, key=lambda x: (-x[0], x[1]))[:_VOICE_WORDS]]


# --- fact roles ------------------------------------------------------------------------

# A column's words (split on _, -, spaces; a plural s dropped) -> the role they name
# (stylegen.kit.roles). The last word is read first: "fabric_weight" is a weight.
_ROLE_WORDS = {
    "name": "name", "title": "name", "category": "category", "categorie": "category", "type": "category",
    "department": "category", "feature": "features", "detail": "features", "highlight": "features",
    "spec": "features", "bullet": "features", "material": "materials", "fabric": "materials",
    "fabrication": "materials", "shell": "materials", "lining": "materials", "fill": "materials",
    "composition": "materials", "blend": "materials", "weight": "weight", "wt": "weight", "mass": "weight",
    "gram": "weight", "dimension": "dimensions", "measurement": "dimensions", "length": "dimensions",
    "width": "dimensions", "height": "dimensions", "depth": "dimensions", "inseam": "dimensions",
    "capacity": "capacity", "volume": "capacity", "color": "colors", "colour": "colors", "colorway": "colors",
    "size": "sizes", "use": "use", "activity": "use", "sport": "use", "climate": "use", "season": "use",
    "weather": "use", "terrain": "use", "care": "care", "wash": "care", "certification": "certifications",
    "certified": "certifications", "standard": "certifications", "label": "certifications", "origin": "origin",
    "country": "origin", "price": "price", "msrp": "price", "cost": "price", "gender": "audience",
    "audience": "audience", "washing": "care", "laundry": "care", "shade": "colors", "fit": "fit",
}
_ROLE_PHRASES = {"made_in": "origin", "good_for": "use", "best_for": "use", "product_name": "name",
                 "age_group": "audience"}
_ONE_VALUE_ROLES = ("name", "category", "weight", "dimensions", "capacity", "care", "origin", "price", "fit")
_FLAGS = frozenset({"yes", "no", "true", "false", "y", "n", "0", "1"})
_MEASURES = {"mass": "weight", "volume": "capacity", "length": "dimensions"}
_COLOURS = frozenset("""black white gray grey red blue green yellow orange purple pink brown beige tan navy
    olive khaki teal maroon burgundy charcoal cream ivory silver gold natural multi lavender indigo rust sage
    coral mint slate sand stone moss forest sky heather""".split())
_SIZE = re.compile(r"(?:x{0,3}s|s|m|l|x{1,3}l|\d{1,2}x?l|one size|os|\d{1,3}(?:\.\d)?(?:\s?(?:cm|in|foot|ft))?)$",
                   re.IGNORECASE)


@dataclass
class RoleDraft:
    """The role drafted for one fact column, and where it came from."""

    column: str
    role: str
    source: str


def draft_roles(records: list[dict], fact_fields: list[str]) -> list[RoleDraft]:
    """A role for every fact column: by its name, then by its values (which win when they
    disagree); a one-value role claimed by two columns stays with the fuller one."""
    drafts = [_draft_role(f, [r["facts"][f] for r in records if r["facts"].get(f) not in (None, "", [])])
              for f in fact_fields]
    filled = {f: sum(1 for r in records if r["facts"].get(f) not in (None, "", [])) for f in fact_fields}
    for role in _ONE_VALUE_ROLES:
        claimants = sorted((d for d in drafts if d.role == role), key=lambda d: -filled[d.column])
        for d in claimants[1:]:
            d.role, d.source = ("attribute" if role == "category" else "text"), (
                f"{d.source}; but {claimants[0].column!r} is filled in more rows and keeps {role}")
    return drafts


def role_by_name(column: str) -> str | None:
    """The role a column's name says (None: it says none)."""
    key = re.sub(r"[\s-]+", "_", column.strip().lower())
    if key in _ROLE_PHRASES:
        return _ROLE_PHRASES[key]
    words = [w[:-1] if w.endswith("s") and len(w) > 3 else w for w in key.split("_") if w]
    return next((_ROLE_WORDS[w] for w in reversed(words) if w in _ROLE_WORDS), None)


def _draft_role(column: str, values: list) -> RoleDraft:
    named = role_by_name(column)
    by_values, why = _role_by_values(values)
    # values win for flags and measures, and over "features" when the items are one-word
    # labels ("Waterproof", "Lightweight"): the assembler would call them "a waterproof"
    wins = ("flag", *_MEASURES.values()) + (("attribute",) if named == "features" else ())
    if by_values and by_values != named and (named is None or by_values in wins):
        said = f" (the name said {named})" if named else ""
        return RoleDraft(column, by_values, f"values: {why}{said}")
    if named == "weight" and _measured_share(values, named) < 0.5:
        # "fabric_weight: 240 gsm" is not what the product weighs: the frames would say "weighs 240 gsm"
        # (a capacity may be a count: "2 person")
        share = _measured_share(values, named)
        return RoleDraft(column, "text", f"column name {column!r} said weight, but {share:.0%} of its values are"
                                         " masses: free text")
    if named:
        return RoleDraft(column, named, f"column name {column!r}")
    if by_values:
        return RoleDraft(column, by_values, f"values: {why}")
    return RoleDraft(column, "text", "no role in its name or values: free text")


def _role_by_values(values: list) -> tuple[str | None, str]:
    """The role the values show, with the figure that shows it (None: they show none)."""
    items = [str(x).strip() for v in values for x in (v if isinstance(v, list) else [v]) if str(x).strip()]
    if not items:
        return None, ""
    share = (lambda test: sum(map(test, items)) / len(items))  # noqa: E731
    if share(lambda x: x.lower() in _FLAGS) >= 0.9:
        return "flag", f"{share(lambda x: x.lower() in _FLAGS):.0%} Yes/No"
    measures = Counter(_one_measure(x) for x in items)
    for dimension, role in _MEASURES.items():
        if measures[dimension] / len(items) >= 0.8:
            return role, f"{measures[dimension] / len(items):.0%} are one {dimension}"
    if share(lambda x: set(re.findall(r"[a-z]+", x.lower())) <= _COLOURS and x[:1].isalpha()) >= 0.8:
        return "colors", "colour words"
    if share(lambda x: bool(_SIZE.match(x))) >= 0.8:
        return "sizes", "size tokens"
    distinct, words = Counter(items), sum(len(x.split()) for x in items) / len(items)
    if any(isinstance(v, list) for v in values) and words >= 3:
        return "features", f"lists of phrases, {words:.1f} words an item"
    if len(distinct) < 50 and words <= 2 and share(lambda x: distinct[x] >= 2) >= 0.8:
        return "attribute", f"a closed set of {len(distinct)} labels"
    return None, ""


def _measured_share(values: list, role: str) -> float:
    """The share of a column's values that are a quantity of ``role``'s dimension."""
    dimension = next(d for d, r in _MEASURES.items() if r == role)
    items = [str(x) for v in values for x in (v if isinstance(v, list) else [v]) if str(x).strip()]
    return sum(any(q.dimension == dimension for q in read_quantities(x)) for x in items) / max(1, len(items))


def _one_measure(text: str) -> str | None:
    """The dimension of ``text`` when it is one quantity with a unit and little else."""
    found = read_quantities(text)
    dims = {q.dimension for q in found if q.unit}
    rest = re.sub(r"[\d.,/x×\s\"']+", " ", text).split()
    return dims.pop() if len(dims) == 1 and len(rest) <= 4 else None
