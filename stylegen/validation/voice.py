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

The score of a text is that calibrated probability: 0.5 means "as likely the brand's
approved copy as contrast text", values near 1 read like the brand. It is meaningless on
very short texts (a few words), which is why the ``voice`` check has ``min_words``.
"""
from __future__ import annotations

import functools
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from stylegen._versions import package_versions
from stylegen.errors import ConfigError, DataError
from stylegen.generation.engine import derive_seed, Engine, GenRequest, load_engine
from stylegen.kit.brand import BrandKit, load_brand
from stylegen.kit.prompts import parse_completion, render_messages
from stylegen.training.data import data_files, Example, files_sha256, is_eval, split
from stylegen.training.adapter import read_manifest
from stylegen.validation.readability import count_words
from stylegen.validation.records import field_text, read_records  # noqa: F401 (field_text re-exported)


FORMAT = "stylegen-voice/1"
MODEL_FILE = "voice-model.json"
CONTRAST_FILE = "voice-model.contrast.jsonl"
# The two feature families (see module doc); the order is the order of the weights.
FEATURES = (
    {"name": "chars", "analyzer": "char_wb", "ngram_range": [2, 5], "lowercase": False},
    {"name": "words", "analyzer": "word", "ngram_range": [1, 2], "lowercase": True},
)
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_MIN_CALIBRATION = 10  # texts per class on the held-out side needed to calibrate there


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


def _ngrams(text: str, family: dict) -> list[str]:
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
    counts = Counter(g for g in _ngrams(text, family) if g in table)
    values = [((1.0 + math.log(n)) * table[g][0], table[g][1]) for g, n in counts.items()]
    norm = math.sqrt(sum(v * v for v, _ in values))
    return sum(v * w for v, w in values) / norm if norm else 0.0


def _vectorizer(family: dict, vocabulary=None, idf=None, min_df: int = 1):
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


# --- data: approved copy, contrast text, split ----------------------------------------


@dataclass
class VoiceText:
    """One text of one record's task field, with its class and split side."""

    record_id: str
    task: str
    text: str
    label: int      # 1 approved copy, 0 contrast text
    held_out: bool


def approved_records(brand, data: str | Path | None = None) -> tuple[list, list[Path]]:
    """The approved records (with an id and at least one task field) and the files read."""

    files = data_files(data if data is not None else brand.resolve(brand.training.data))
    records = []
    for path in files:
        recs, _ = read_records(path, brand)  # malformed rows are training's business; skip them here
        records += [r for r in recs if r.id and record_texts(r.fields, brand.tasks)]
    if not records:
        raise DataError(f"no approved records with task fields in {', '.join(map(str, files))}")
    return records, files


def held_out_ids(brand, record_ids: list[str], adapter: str | Path | None = None) -> tuple[set[str], str]:
    """The held-out record ids and where the split came from.

    The adapter's manifest wins (its eval split is what ``stylegen eval`` scores);
    otherwise the sha256-of-id split of :func:`stylegen.training.data.split` with the brand's
    ``training.eval_fraction``.
    """
    if adapter is not None:

        manifest = read_manifest(adapter)
        held = set(manifest.get("split", {}).get("eval", []))
        return held, f"adapter manifest {Path(adapter) / 'manifest.json'}"

    fake = [Example(id=r, record_id=r, task=None, prompt="", completion="", source="") for r in sorted(set(record_ids))]
    _, held = split(fake, brand.training.eval_fraction)
    return {e.record_id for e in held}, f"sha256(record id) < training.eval_fraction ({brand.training.eval_fraction})"


def read_contrast(brand, paths: list[str | Path]) -> list:
    """Contrast records (same shape as validate input: ``id`` + task fields) from files."""

    records = []
    for path in paths:
        recs, findings = read_records(path, brand)
        bad = [f for f in findings if f.level == "error"]
        if bad:
            raise DataError("\n".join(f"{f.where()}: {f.message}" for f in bad[:20]))
        records += [r for r in recs if record_texts(r.fields, brand.tasks)]
    if not records:
        raise DataError(f"no contrast texts in {', '.join(map(str, paths))}")
    return records


def build_texts(brand, approved: list, contrast: list, held: set[str], eval_fraction: float) -> list[VoiceText]:
    """Every text with its label and split side; contrast text follows its record id's side."""

    known = {r.id for r in approved}
    texts = []
    for label, records in ((1, approved), (0, contrast)):
        for i, rec in enumerate(records):
            rid = rec.id or f"contrast-{i}"
            # Contrast for an approved record's prompt goes where that record goes; other
            # contrast text is split by the same hash of its id.
            side = rid in held if rid in known else is_eval(rid, eval_fraction)
            texts += [VoiceText(rid, task, text, label, side) for task, text in record_texts(rec.fields, brand.tasks)]
    return texts


# --- fitting ------------------------------------------------------------------------


@dataclass
class FitOptions:
    """Settings of ``stylegen voice fit``."""

    max_terms: int = 4000        # n-grams kept per model (largest absolute weights)
    folds: int = 5
    c_grid: tuple = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    min_df: int = 2


def fit_texts(texts: list[VoiceText], options: FitOptions | None = None) -> VoiceModel:
    """Fit, prune and calibrate a voice model on labelled texts (see module doc).

    Raises:
        DataError: a class is missing on the training side.
    """
    options = options or FitOptions()
    train = [t for t in texts if not t.held_out]
    held = [t for t in texts if t.held_out]
    if len({t.label for t in train}) < 2:
        raise DataError("voice fit needs approved copy and contrast text on the training side")
    best_c, cv_auc, oof = _choose_c(train, options)
    features, intercept = _fit_pruned(train, best_c, options)
    model = VoiceModel(features=features, intercept=intercept, calibration={"method": "platt", "a": 1.0, "b": 0.0})
    model.calibration = _calibrate(model, train, held, oof)
    model.metrics = {"cross_validation": {"folds": options.folds, "C": best_c, "roc_auc": round(cv_auc, 4)},
                     "train": _counts(train), "held_out": _held_out_metrics(model, held)}
    return model


def _design(texts: list[str], families: list, fit: bool = False):
    """The sparse feature matrix: one block per feature family, side by side."""
    from scipy.sparse import hstack

    blocks = [(vec.fit_transform(texts) if fit else vec.transform(texts)) for vec in families]
    return hstack(blocks).tocsr()


def _new_families(options: FitOptions) -> list:
    return [_vectorizer(f, min_df=options.min_df) for f in FEATURES]


def _choose_c(train: list[VoiceText], options: FitOptions) -> tuple[float, float, list]:
    """The regularisation with the best grouped cross-validated ROC AUC on the training side.

    Folds are grouped by record (a record's fields never straddle a fold) and the
    vectorizers are fitted inside each fold. Returns ``(C, mean AUC, out-of-fold decision
    values for that C)``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    folds = _folds(train, options)
    results = {}
    for c in options.c_grid:
        aucs, oof = [], [0.0] * len(train)
        for x_fit, y_fit, x_test, y_test, test_idx in folds:
            clf = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x_fit, y_fit)
            values = clf.decision_function(x_test)
            for i, v in zip(test_idx, values):
                oof[i] = float(v)
            if len(set(y_test)) == 2:
                aucs.append(roc_auc_score(y_test, values))
        results[c] = (sum(aucs) / len(aucs) if aucs else float("nan"), oof)
    best = max(results, key=lambda c: (results[c][0], -c))  # ties: the stronger regularisation
    return best, results[best][0], results[best][1]


def _folds(train: list[VoiceText], options: FitOptions) -> list[tuple]:
    """``(x_fit, y_fit, x_test, y_test, test indices)`` per grouped fold."""
    from sklearn.model_selection import GroupKFold

    docs, labels, groups = [t.text for t in train], [t.label for t in train], [t.record_id for t in train]
    n_folds = max(2, min(options.folds, len(set(groups))))
    folds = []
    for fit_idx, test_idx in GroupKFold(n_splits=n_folds).split(docs, labels, groups):
        fams = _new_families(options)
        x_fit = _design([docs[i] for i in fit_idx], fams, fit=True)
        x_test = _design([docs[i] for i in test_idx], fams)
        folds.append((x_fit, [labels[i] for i in fit_idx], x_test, [labels[i] for i in test_idx], list(test_idx)))
    return folds


def _fit_pruned(train: list[VoiceText], c: float, options: FitOptions) -> tuple[list[dict], float]:
    """Fit on every n-gram, keep the ``max_terms`` largest weights, refit on those."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    docs, labels = [t.text for t in train], [t.label for t in train]
    fams = _new_families(options)
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(_design(docs, fams, fit=True), labels)
    order = np.argsort(-np.abs(clf.coef_[0]), kind="stable")[: options.max_terms]
    bounds = np.cumsum([0] + [len(v.vocabulary_) for v in fams])
    kept = []
    for i, vec in enumerate(fams):
        names = vec.get_feature_names_out()
        idx = sorted(int(j - bounds[i]) for j in order if bounds[i] <= j < bounds[i + 1]) or [0]
        kept.append([str(names[j]) for j in idx])
    fixed = [_vectorizer(f, vocabulary=terms) for f, terms in zip(FEATURES, kept)]
    x = _design(docs, fixed, fit=True)  # fixed vocabulary: idf refitted on the training texts
    final = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x, labels)
    features, start = [], 0
    for spec, terms, vec in zip(FEATURES, kept, fixed):
        weights = final.coef_[0][start:start + len(terms)]
        start += len(terms)
        features.append({**spec, "terms": terms, "idf": [round(float(v), 6) for v in vec.idf_],
                         "weights": [round(float(v), 6) for v in weights]})
    return features, round(float(final.intercept_[0]), 6)


def _calibrate(model: VoiceModel, train: list[VoiceText], held: list[VoiceText], oof: list[float]) -> dict:
    """Platt scaling of the linear score: on the held-out side when it has enough texts of
    both classes, else on the training side's out-of-fold scores."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    counts = _counts(held)
    if min(counts["approved"], counts["contrast"]) >= _MIN_CALIBRATION:
        values, labels, where = model.decision([t.text for t in held]), [t.label for t in held], "held-out records"
    else:
        values, labels = oof, [t.label for t in train]
        where = "training records, out-of-fold scores (too few held-out texts)"
    platt = LogisticRegression(C=1e4, class_weight="balanced", max_iter=5000)
    platt.fit(np.asarray(values).reshape(-1, 1), labels)
    return {"method": "platt", "a": round(float(platt.coef_[0][0]), 6), "b": round(float(platt.intercept_[0]), 6),
            "fitted_on": where, "texts": len(values)}


def _counts(texts: list[VoiceText]) -> dict:
    pos = sum(t.label for t in texts)
    return {"texts": len(texts), "approved": pos, "contrast": len(texts) - pos,
            "records": len({t.record_id for t in texts if t.label == 1})}


def roc_auc(positives: list[float], negatives: list[float]) -> float | None:
    """ROC AUC of scores that should be higher for ``positives`` (None without both classes)."""
    if not positives or not negatives:
        return None
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score([1] * len(positives) + [0] * len(negatives), list(positives) + list(negatives))),
                 4)


def _held_out_metrics(model: VoiceModel, held: list[VoiceText]) -> dict:
    """ROC AUC (overall and per task), mean scores and the rates of each threshold."""
    scores = model.score([t.text for t in held])
    pos = [s for s, t in zip(scores, held) if t.label == 1]
    neg = [s for s, t in zip(scores, held) if t.label == 0]
    per_task = {}
    for task in dict.fromkeys(t.task for t in held):
        tp = [s for s, t in zip(scores, held) if t.task == task and t.label == 1]
        tn = [s for s, t in zip(scores, held) if t.task == task and t.label == 0]
        per_task[task] = {"roc_auc": roc_auc(tp, tn), "approved": len(tp), "contrast": len(tn)}
    return {**_counts(held), "roc_auc": roc_auc(pos, neg), "per_task": per_task,
            "mean_score": {"approved": _mean(pos), "contrast": _mean(neg)},
            "thresholds": [{"threshold": th, "approved_pass": _share(pos, lambda s: s >= th),
                            "contrast_flagged": _share(neg, lambda s: s < th)} for th in THRESHOLDS]}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _share(values: list[float], cond) -> float | None:
    return round(sum(1 for v in values if cond(v)) / len(values), 4) if values else None


def fit_voice(brand_dir: str | Path, contrast: list[str | Path] | None = None, data: str | Path | None = None,
              adapter: str | Path | None = None, out: str | Path | None = None,
              options: FitOptions | None = None) -> tuple[VoiceModel, Path]:
    """Fit the brand-voice score model of a brand kit and write it (``stylegen voice fit``).

    Args:
        brand_dir: the brand kit folder (or its brand.yaml).
        contrast: files of contrast records (default: ``voice-model.contrast.jsonl`` in the
            brand folder, as written by :func:`generate_contrast`).
        data: approved copy (default: brand.yaml ``training.data``).
        adapter: take the held-out split from this adapter's manifest.
        out: where to write the model (default: ``voice-model.json`` in the brand folder).
        options: fitting settings.

    Returns:
        The model and the path it was written to.

    Raises:
        ConfigError / DataError: bad brand kit, no approved copy, no contrast text.
    """

    started = time.perf_counter()
    brand = load_brand(brand_dir)
    contrast_files = [Path(p) for p in contrast] if contrast else [brand.root / CONTRAST_FILE]
    missing = [str(p) for p in contrast_files if not p.exists()]
    if missing:
        raise DataError(f"contrast text not found: {', '.join(missing)} (write base-model outputs with"
                        " `stylegen voice contrast`, or give --contrast FILE)")
    approved, files = approved_records(brand, data)
    others = read_contrast(brand, contrast_files)
    held, split_from = held_out_ids(brand, [r.id for r in approved], adapter)
    texts = build_texts(brand, approved, others, held, brand.training.eval_fraction)
    model = fit_texts(texts, options)
    model.info = {"brand": brand.name, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "data": {"approved_files": [str(p) for p in files], "approved_sha256": files_sha256(files),
                           "contrast_files": [str(p) for p in contrast_files],
                           "contrast_sha256": files_sha256([p for p in contrast_files if p.is_file()]),
                           "split": split_from},
                  "settings": {**(options or FitOptions()).__dict__, "features": list(FEATURES)},
                  "versions": package_versions(("scikit-learn", "numpy", "scipy")),
                  "fit_seconds": round(time.perf_counter() - started, 1)}
    path = model.save(out if out is not None else brand.root / MODEL_FILE)
    return model, path


def fit_summary(model: VoiceModel, path: str | Path) -> str:
    """What ``stylegen voice fit`` prints: where the model is and how well it separates."""
    held, cv = model.metrics["held_out"], model.metrics["cross_validation"]
    auc = held.get("roc_auc")
    lines = [f"voice model written to {path} ({sum(len(f['terms']) for f in model.features)} n-grams)",
             f"cross-validated ROC AUC (training records): {cv['roc_auc']} (C={cv['C']})",
             f"held-out ROC AUC, approved copy vs contrast text: {auc if auc is not None else 'n/a'}"
             f" ({held['approved']} approved, {held['contrast']} contrast texts)",
             f"calibrated on {model.calibration['fitted_on']}"]
    for row in held.get("thresholds", []):
        if row["threshold"] in (0.3, 0.5, 0.7):
            lines.append(f"  threshold {row['threshold']}: {_pct(row['approved_pass'])} of held-out approved copy"
                         f" passes, {_pct(row['contrast_flagged'])} of contrast text is flagged")
    return "\n".join(lines)


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


# --- contrast text: base-model outputs for the approved records' prompts -----------------


def generate_contrast(brand_dir: str | Path, out: str | Path | None = None, data: str | Path | None = None,
                      limit: int | None = None, seed: int | None = None, batch_size: int | None = None,
                      adapter: str | Path | None = None, threads: int | None = None, engine=None,
                      echo=print) -> dict:
    """Write the base model's outputs for the task prompts of the approved records.

    One output per record and task, from the short task prompt, with the brand's sampling
    settings and a seed per record and task. Appends to ``out`` and skips records already
    there, so an interrupted run resumes.

    Args:
        brand_dir: the brand kit.
        out: the JSONL file (default ``voice-model.contrast.jsonl`` in the brand folder).
        data: approved copy (default: brand.yaml ``training.data``).
        limit: only N approved records, held-out records first (see :func:`held_out_ids`).
        seed: sampling seed (default: brand.yaml ``generation.seed``).
        batch_size: prompts per batch (default: brand.yaml ``generation.batch_size``).
        adapter: take the held-out split from this adapter's manifest.
        threads: torch threads (default: the engine's choice, every usable CPU).
        engine: an Engine to use instead of loading the base model (tests).
        echo: progress messages.

    Returns:
        ``{"path", "records", "written", "seconds", "new_tokens"}``.
    """

    brand = load_brand(brand_dir)
    path = Path(out) if out is not None else brand.root / CONTRAST_FILE
    records = _contrast_records(brand, data, adapter, limit)
    done = _ids_in(path)
    todo = [r for r in records if r.id not in done]
    gen = brand.generation
    if todo and engine is None:

        engine = load_engine(brand.model.base_model, dtype=brand.model.dtype, batch_size=batch_size or gen.batch_size,
                             trust_remote_code=brand.model.trust_remote_code, threads=threads)
    run = _ContrastRun(brand=brand, path=path, engine=engine, seed=gen.seed if seed is None else seed,
                       chunk=max(1, (batch_size or gen.batch_size)), echo=echo)
    tokens, seconds = _write_contrast(run, todo)
    return {"path": str(path), "records": len(records), "written": len(todo), "seconds": round(seconds, 1),
            "new_tokens": tokens}


@dataclass
class _ContrastRun:
    """What every chunk of one :func:`generate_contrast` call writes with."""

    brand: BrandKit
    """The loaded brand kit (tasks, sampling settings)."""
    path: Path
    """The contrast JSONL file, appended to."""
    engine: Engine | None
    """The Engine that writes the outputs (None when there is nothing to write)."""
    seed: int
    """Sampling seed; each record and task derives its own from it."""
    chunk: int
    """Records per batch of requests (and per append to ``path``)."""
    echo: Callable[[str], object]
    """Where progress messages go."""


def _contrast_records(brand: BrandKit, data: str | Path | None, adapter: str | Path | None,
                      limit: int | None) -> list:
    """The approved records to write contrast for, held-out records first, up to ``limit``."""
    records, _ = approved_records(brand, data)
    held, _ = held_out_ids(brand, [r.id for r in records], adapter)
    # Held-out records first: calibration needs their contrast most when --limit cuts the list.
    records = sorted(records, key=lambda r: r.id not in held)
    return records[:limit] if limit is not None else records


def _write_contrast(run: _ContrastRun, todo: list) -> tuple[int, float]:
    """Generate and append the contrast of ``todo`` chunk by chunk; returns ``(new tokens, seconds)``."""
    started, tokens = time.perf_counter(), 0
    for start in range(0, len(todo), run.chunk):
        part = todo[start:start + run.chunk]
        lines, new = _contrast_chunk(run.brand, part, run.engine, run.seed)
        tokens += new
        with open(run.path, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))
        run.echo(f"contrast: {start + len(part)}/{len(todo)} records,"
                 f" {tokens / (time.perf_counter() - started):.0f} new tokens/s")
    return tokens, time.perf_counter() - started


def _ids_in(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    ids = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by an interrupted run: that record is generated again
    return ids


def _contrast_chunk(brand, records, engine, seed: int) -> tuple[list[str], int]:

    gen = brand.generation
    keys, requests = [], []
    for rec in records:
        for task in brand.tasks:
            if task in rec.fields:
                prompt = engine.render(render_messages(brand, task, rec.facts or {}))
                requests.append(GenRequest(prompt=prompt, seed=derive_seed(seed, rec.id, task, "contrast"),
                                           max_new_tokens=brand.tasks[task].max_new_tokens, temperature=gen.temperature,
                                           top_p=gen.top_p, repetition_penalty=gen.repetition_penalty,
                                           do_sample=gen.do_sample, key=f"{rec.id}/{task}"))
                keys.append((rec.id, task))
    results = engine.generate(requests)
    out: dict = {}
    for (rid, task), res in zip(keys, results):
        out.setdefault(rid, {"id": rid})[task] = parse_completion(brand, task, res.text)
    lines = [json.dumps({**out[r.id], "note": "contrast: base model, short task prompt, no adapter"},
                        ensure_ascii=False) + "\n" for r in records if r.id in out]
    return lines, sum(r.new_tokens for r in results)


# --- scoring files -------------------------------------------------------------------------


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


def format_scores(rows: list[dict]) -> str:
    """One line per scored field and the mean."""
    lines = [f"{r['where']}: {r['id'] or '-'} {r['field']}: {r['score']:.2f} ({r['words']} words)" for r in rows]
    if rows:
        lines.append(f"mean brand-voice score: {sum(r['score'] for r in rows) / len(rows):.2f} over {len(rows)}"
                     " field(s)")
    return "\n".join(lines) + "\n"
