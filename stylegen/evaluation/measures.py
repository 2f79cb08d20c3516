"""How close a night's accepted copy is to the brand's own approved copy, per field.

- ``voice_auc``: a plain discriminator (TF-IDF word 1-2-grams and character 2-5-grams in
  word boundaries, logistic regression, stratified 5-fold cross-validation, fixed seed)
  telling accepted copy from approved copy of the same field. Product names and numbers
  are masked in both sets first, so it cannot win on names or figures. 0.5: a reader
  cannot tell them apart; 1.0: every text gives itself away.
- ``verbatim_reuse``: share of accepted texts with half or more of their word 8-grams in
  one approved text (copying the brand's pages is not writing new ones).
- ``boilerplate``: share of accepted texts with half or more of their word 8-grams also in
  other accepted texts of the same night.
- ``fact_recall`` (the share of a row's facts a text states) and ``fact_precision`` (the
  share of its content words that are the row's fact words), as candidate ranking
  measures them (:mod:`stylegen.validation.coverage`).
- ``unsupported_claims``: grounding's unsupported claims in accepted copy (must be 0).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stylegen.validation.corpus import words
from stylegen.validation.coverage import fact_coverage, fact_precision
from stylegen.validation.grounding import unsupported_claims
from stylegen.validation.records import field_text

GRAM = 8
FOLDS = 5
SEED = 0
_NUMBER = re.compile(r"\d+(?:[.,/]\d+)*")


@dataclass(frozen=True)
class Text:
    """One field's text with the facts of its product (None for approved copy without facts)."""

    text: str
    facts: dict | None = None


def masked(text: str, facts: dict | None) -> str:
    """The text with the product's name words as ``NAME`` and every number as ``0``."""
    name_words = {w for w in words(str((facts or {}).get("name") or "")) if len(w) > 2}
    out = _NUMBER.sub("0", text)
    for word in sorted(name_words, key=len, reverse=True):
        out = re.sub(rf"(?i)\b{re.escape(word)}\b", "NAME", out)
    return out


def voice_auc(generated: list[Text], approved: list[Text]) -> float | None:
    """Cross-validated ROC AUC of a discriminator telling ``generated`` from ``approved``."""
    import numpy as np  # scikit-learn and numpy: heavy, only for the benchmark's figures
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    if min(len(generated), len(approved)) < FOLDS:
        return None
    texts = [masked(t.text, t.facts) for t in generated + approved]
    labels = np.array([1] * len(generated) + [0] * len(approved))
    scores = np.zeros(len(texts))
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(texts, labels):
        vecs = [TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)]
        fit = hstack([v.fit_transform([texts[i] for i in train]) for v in vecs])
        clf = LogisticRegression(max_iter=2000, class_weight="balanced").fit(fit, labels[train])
        scores[test] = clf.decision_function(hstack([v.transform([texts[i] for i in test]) for v in vecs]))
    return round(float(roc_auc_score(labels, scores)), 4)


def grams(text: str, n: int = GRAM) -> list[tuple]:
    """The word ``n``-grams of a text (lower case)."""
    toks = words(text)
    return [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]


def verbatim_reuse(generated: list[str], approved: list[str]) -> float | None:
    """Share of ``generated`` texts with half or more of their 8-grams in one approved text."""
    sets = [set(grams(t)) for t in approved]
    index: dict[tuple, set[int]] = {}
    for i, s in enumerate(sets):
        for g in s:
            index.setdefault(g, set()).add(i)
    hits = []
    for text in generated:
        own = grams(text)
        counts: dict[int, int] = {}
        for g in set(own):
            for i in index.get(g, ()):
                counts[i] = counts.get(i, 0) + 1
        hits.append(bool(own) and max(counts.values(), default=0) * 2 >= len(set(own)))
    return round(sum(hits) / len(hits), 4) if hits else None


def boilerplate(generated: list[str]) -> float | None:
    """Share of texts with half or more of their 8-grams also in other texts of the same set."""
    owners: dict[tuple, set[int]] = {}
    for i, text in enumerate(generated):
        for g in set(grams(text)):
            owners.setdefault(g, set()).add(i)
    hits = []
    for text in generated:
        own = set(grams(text))
        shared = sum(1 for g in own if len(owners[g]) > 1)
        hits.append(bool(own) and shared * 2 >= len(own))
    return round(sum(hits) / len(hits), 4) if hits else None


def field_measures(generated: list[Text], approved: list[Text], catalog=None) -> dict:
    """Every measure of one field: the night's accepted texts against the brand's approved ones
    (``catalog``: ``brand.catalog``, the facts' roles; None reads fact names as roles)."""
    texts = [t.text for t in generated]
    with_facts = [t for t in generated if t.facts]
    claims = sum(len(unsupported_claims(t.text, t.facts, catalog=catalog)) for t in with_facts)
    mean = (lambda xs: round(sum(xs) / len(xs), 4) if xs else None)  # noqa: E731
    return {"texts": len(texts), "approved_texts": len(approved),
            "voice_auc": voice_auc(generated, approved),
            "verbatim_reuse": verbatim_reuse(texts, [t.text for t in approved]),
            "boilerplate": boilerplate(texts),
            "fact_recall": mean([fact_coverage(t.text, t.facts, catalog) for t in with_facts]),
            "fact_precision": mean([fact_precision(t.text, t.facts) for t in with_facts]),
            "unsupported_claims": claims,
            "mean_words": mean([len(words(t)) for t in texts])}


def field_texts_of(records: list, task: str) -> list[Text]:
    """One :class:`Text` per record (:class:`~stylegen.validation.records.Record`) with text in ``task``."""
    texts = [Text(field_text(rec.fields.get(task)), rec.facts) for rec in records]
    return [t for t in texts if t.text]
