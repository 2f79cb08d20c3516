"""Values ``stylegen init`` drafts from an approved corpus: readability targets, a claim
vocabulary with supporters, and terminology candidates.

Each draft keeps the evidence it came from (counts, record ids) so the written kit can say,
in a comment beside every value, where the value came from.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

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


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.floor(q * (len(ordered) - 1) + 0.5)))]


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
    from stylegen.validation.readability import count_words, score

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


def claim_kind(fact_field: str) -> str | None:
    """The claim kind of a fact column by its name, or None for columns that are not claims."""
    name = fact_field.lower()
    if any(word in name for word in _NOT_CLAIMS):
        return None
    return next((kind for kind, words in _CLAIM_KINDS if any(w in name for w in words)), "term")


def fact_phrases(nlp, records: list[dict]) -> dict[str, dict[str, str]]:
    """Record id -> {noun phrase: claim kind} over the claimable fact values."""
    values = [(r["id"], kind, v) for r in records for f, value in r["facts"].items()
              if (kind := claim_kind(f)) for v in (value if isinstance(value, list) else [value])]
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
    from stylegen.validation.grounding import ClaimTerm, FactIndex, term_claims

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
    from stylegen.validation.readability import is_english_word

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
