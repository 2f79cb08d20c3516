"""Fitting the brand-voice score model (``stylegen voice fit``): data, split, fit, calibration.

The method is in :mod:`stylegen.validation.voice` (and docs/EVAL.md): approved copy against
contrast text for the same products, TF-IDF n-grams, a class-balanced logistic regression
chosen by grouped cross-validation on the training split, Platt scaling on the held-out
split. This module needs scikit-learn; scoring does not.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from stylegen.versions import package_versions
from stylegen.errors import DataError
from stylegen.kit.brand import load_brand
from stylegen.training.adapter import read_manifest
from stylegen.validation.corpus import files_sha256, is_eval, task_records
from stylegen.validation.corpus import held_out_ids as corpus_held_out
from stylegen.validation.records import read_records
from stylegen.validation.voice import (CONTRAST_FILE, FEATURES, MIN_CALIBRATION, MODEL_FILE, record_texts,
                                       roc_auc, THRESHOLDS, vectorizer, VoiceModel)

# --- data: approved copy, contrast text, split ----------------------------------------


@dataclass
class VoiceText:
    """One text of one record's task field, with its class and split side."""

    record_id: str
    task: str
    text: str
    label: int      # 1 approved copy, 0 contrast text
    held_out: bool


def held_out_ids(brand, record_ids: list[str], adapter: str | Path | None = None) -> tuple[set[str], str]:
    """The held-out record ids and where the split came from.

    The adapter's manifest wins (its eval split is what ``stylegen eval`` scores);
    otherwise the corpus split (:func:`stylegen.validation.corpus.held_out_ids`) with the
    brand's ``training.eval_fraction``.
    """
    if adapter is not None:
        manifest = read_manifest(adapter)
        held = set(manifest.get("split", {}).get("eval", []))
        return held, f"adapter manifest {Path(adapter) / 'manifest.json'}"
    held = set(corpus_held_out(record_ids, brand.training.eval_fraction))
    return held, f"sha256(record id) < training.eval_fraction ({brand.training.eval_fraction})"


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
    return [vectorizer(f, min_df=options.min_df) for f in FEATURES]


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
    fixed = [vectorizer(f, vocabulary=terms) for f, terms in zip(FEATURES, kept)]
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
    if min(counts["approved"], counts["contrast"]) >= MIN_CALIBRATION:
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
            "thresholds": [{"threshold": th, "approved_pass": _share(pos, lambda s, th=th: s >= th),
                            "contrast_flagged": _share(neg, lambda s, th=th: s < th)} for th in THRESHOLDS]}


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
    approved, files = task_records(brand, data)
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
