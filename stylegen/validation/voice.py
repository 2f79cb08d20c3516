"""The brand-voice score: how much a text reads like the brand's approved copy.

Method (documented in full in docs/EVAL.md):

1. **Two classes of text for the same products.** Positives are the brand's approved copy
   (one text per task field; a list field is its items joined by newlines). Negatives are
   *contrast* texts, by default the base model's own outputs for the same task prompts
   (``stylegen voice contrast`` writes them), so both classes talk about the same products
   and the model has to learn how the brand writes, not what it writes about.
2. **Features.** TF-IDF (sublinear tf, l2-normalised) over character n-grams inside word
   boundaries (2 to 5 characters, case kept: rhythm, punctuation, "you", contractions)
   and over word 1-2 grams. Nothing here needs torch or spaCy, and scoring a text needs
   only the JSON file: the TF-IDF transform is re-done in plain Python.
3. **Model.** A class-balanced logistic regression (scikit-learn); its regularisation is
   chosen by 5-fold cross-validated ROC AUC with folds grouped by record, on the training
   split only. The model keeps the ``max_terms`` n-grams with the largest weights and is
   refitted on them, so the stored file stays small and readable (JSON, no pickle).
4. **Calibration on held-out data.** The split is the training split of the adapter
   (record ids in its manifest) or the same sha256-of-id split ``stylegen train`` uses.
   On the held-out records, the linear score is mapped to a probability with Platt
   scaling, and the ROC AUC of held-out approved copy against held-out contrast text is
   recorded, with the pass/flag rates of a range of thresholds.

This module is the score itself (the model file, its n-grams, scoring texts and files);
fitting it is :mod:`stylegen.training.voice_fit`, the contrast text
:mod:`stylegen.generation.contrast`.

The score of a text is that calibrated probability: 0.5 means "as likely the brand's
approved copy as contrast text", values near 1 read like the brand. It is meaningless on
very short texts (a few words), which is why the ``voice`` check has ``min_words``.
"""
from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from stylegen.errors import ConfigError
from stylegen.kit.brand import load_brand
from stylegen.validation.readability import count_words
from stylegen.validation.records import field_text, read_records

FORMAT = "stylegen-voice/1"
MODEL_FILE = "voice-model.json"
CONTRAST_FILE = "voice-model.contrast.jsonl"
# The two feature families (see module doc); the order is the order of the weights.
FEATURES = (
    {"name": "chars", "analyzer": "char_wb", "ngram_range": [2, 5], "lowercase": False},
    {"name": "words", "analyzer": "word", "ngram_range": [1, 2], "lowercase": True},
)
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MIN_CALIBRATION = 10  # texts per class on the held-out side needed to calibrate there


def record_texts(fields: dict, tasks) -> list[tuple[str, str]]:
    """``(task, text)`` for every task field of a record that has text."""
    out = []
    for task in tasks:
        if task in fields:
            text = field_text(fields[task])
            if text:
                out.append((task, text))
    return out


# --- the fitted model -----------------------------------------------------------------


@dataclass
class VoiceModel:
    """A fitted brand-voice score model (the content of ``voice-model.json``)."""

    features: list[dict]          # per feature family: settings, vocabulary terms, idf, weights
    intercept: float
    calibration: dict             # {"method": "platt", "a": float, "b": float, "fitted_on": str}
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def decision(self, texts: list[str]) -> list[float]:
        """The uncalibrated linear score of each text (log-odds before calibration)."""
        return [self.intercept + sum(_family_dot(text, fam, table) for fam, table in zip(self.features, self._tables))
                for text in texts]

    def score(self, texts: list[str]) -> list[float]:
        """The brand-voice score of each text: calibrated probability in [0, 1]."""
        a, b = self.calibration["a"], self.calibration["b"]
        return [_sigmoid(a * d + b) for d in self.decision(texts)]

    def score_one(self, text: str) -> float:
        """The brand-voice score of one text."""
        return self.score([text])[0]

    @functools.cached_property
    def _tables(self) -> list[dict]:
        """Per feature family: n-gram -> (idf, weight)."""
        return [dict(zip(f["terms"], zip(f["idf"], f["weights"]))) for f in self.features]

    def to_dict(self) -> dict:
        """The JSON document written to ``voice-model.json``."""
        return {"format": FORMAT, "about": _ABOUT, **self.info, "metrics": self.metrics,
                "calibration": self.calibration, "intercept": self.intercept, "features": self.features}

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (small, diffable, safe to load: no pickle)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, doc: dict, where: str = "voice model") -> "VoiceModel":
        """Build a model from its JSON document.

        Raises:
            ConfigError: not a stylegen voice model, or a part is missing or malformed.
        """
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ConfigError(f"{where}: not a stylegen voice model (expected format {FORMAT!r})")
        problems = []
        for key in ("features", "intercept", "calibration"):
            if key not in doc:
                problems.append(f"{where}: {key}: missing")
        for i, fam in enumerate(doc.get("features") or []):
            n = len(fam.get("terms") or [])
            if not n or len(fam.get("idf") or []) != n or len(fam.get("weights") or []) != n:
                problems.append(f"{where}: features[{i}]: terms, idf and weights must be non-empty and equally long")
        if problems:
            raise ConfigError(problems)
        info = {k: v for k, v in doc.items() if k not in ("format", "about", "metrics", "calibration", "intercept",
                                                           "features")}
        return cls(features=doc["features"], intercept=float(doc["intercept"]), calibration=doc["calibration"],
                   metrics=doc.get("metrics") or {}, info=info)


_ABOUT = ("Brand-voice score model made by `stylegen voice fit`: TF-IDF character and word n-grams, "
          "logistic regression (approved copy vs contrast text), Platt-calibrated on held-out records. "
          "score(text) = sigmoid(a * (intercept + sum of tfidf * weight) + b). See docs/EVAL.md.")


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


# Scoring re-implements TfidfVectorizer.transform for a fixed vocabulary in plain Python
# (tests check it against scikit-learn to 1e-9): no numpy, scipy or scikit-learn import,
# so the `voice` rule costs validate well under a millisecond per field.
_WHITESPACE = re.compile(r"\s\s+")
_WORD_TOKEN = r"(?u)\b\w+\b|[!?;:]"  # one-letter words count ("a", "I"), and so does !?;: (style)


def ngrams(text: str, family: dict) -> list[str]:
    """The n-grams scikit-learn's ``char_wb`` / ``word`` analyzers produce for ``text``."""
    if family["lowercase"]:
        text = text.lower()
    low, high = family["ngram_range"]
    grams: list[str] = []
    if family["analyzer"] == "char_wb":
        for word in _WHITESPACE.sub(" ", text).split():
            word = f" {word} "
            for n in range(low, high + 1):
                if len(word) <= n:  # a short word counts once, whole
                    grams.append(word)
                    break
                grams += [word[i:i + n] for i in range(len(word) - n + 1)]
        return grams
    tokens = re.findall(_WORD_TOKEN, text)
    for n in range(low, min(high, len(tokens)) + 1):
        grams += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return grams


def _family_dot(text: str, family: dict, table: dict) -> float:
    """l2-normalised sublinear TF-IDF of ``text`` (kept n-grams only) dotted with the weights."""
    counts = Counter(g for g in ngrams(text, family) if g in table)
    values = [((1.0 + math.log(n)) * table[g][0], table[g][1]) for g, n in counts.items()]
    norm = math.sqrt(sum(v * v for v, _ in values))
    return sum(v * w for v, w in values) / norm if norm else 0.0


def vectorizer(family: dict, vocabulary=None, idf=None, min_df: int = 1):
    """A scikit-learn TfidfVectorizer for one feature family (fitting; fixed vocabulary when given)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = {"token_pattern": _WORD_TOKEN} if family["analyzer"] == "word" else {}
    vec = TfidfVectorizer(analyzer=family["analyzer"], ngram_range=tuple(family["ngram_range"]),
                          lowercase=family["lowercase"], sublinear_tf=True, min_df=min_df, dtype=np.float64,
                          vocabulary={t: i for i, t in enumerate(vocabulary)} if vocabulary is not None else None,
                          **words)
    if idf is not None:
        vec.idf_ = np.asarray(idf, dtype=np.float64)  # the stored idf: no refit at score time
    return vec


def _model_key(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def load_voice_model(path: str | Path) -> VoiceModel:
    """Load ``voice-model.json`` (cached per file version, so each Validator does not re-read it).

    Raises:
        ConfigError: the file is missing, not JSON or not a voice model.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no brand-voice model here; fit one with `stylegen voice fit`")
    return _load_cached(*_model_key(path))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, _mtime: int, _size: int) -> VoiceModel:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON: {exc}") from None
    return VoiceModel.from_dict(doc, path)


# --- scoring files -------------------------------------------------------------------------


def roc_auc(positives: list[float], negatives: list[float]) -> float | None:
    """ROC AUC of scores that should be higher for ``positives`` (None without both classes)."""
    if not positives or not negatives:
        return None
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score([1] * len(positives) + [0] * len(negatives), list(positives) + list(negatives))),
                 4)


def score_paths(paths: list[str], brand_dir: str | Path = "brand", model_path: str | Path | None = None,
                field_name: str | None = None) -> list[dict]:
    """The brand-voice score of every task field of the records in ``paths``.

    Returns:
        One dict per scored field: ``id``, ``field``, ``where`` (file:line), ``words``, ``score``.

    Raises:
        ConfigError: no voice model; DataError: unreadable input.
    """

    brand = load_brand(brand_dir)
    model = load_voice_model(model_path if model_path else brand.root / MODEL_FILE)
    rows = []
    for path in paths:
        records, _ = read_records(path, brand, field_name)
        for rec in records:
            for task, text in record_texts(rec.fields, brand.tasks):
                rows.append({"id": rec.id, "field": task, "where": f"{rec.path}:{rec.line}", "words": count_words(text),
                             "text": text})
    for row, value in zip(rows, model.score([r.pop("text") for r in rows])):
        row["score"] = round(value, 4)
    return rows
