"""Calibration of validator rules on approved copy: how often do they flag copy the brand
has already approved?

Approved copy is good copy by definition, so an error-level finding on it is a false flag.
Measured honestly only on records the rules did not learn from: the held-out side of the
training split (:mod:`stylegen.validation.corpus` with brand.yaml
``training.eval_fraction``), which the learned checks (``offtopic``, ``contradiction``)
leave out of their vocabulary. :func:`approved_flag_rate` is that measurement; with
``folds`` it cross-validates instead (every approved record checked against a
vocabulary learned without it), a larger sample than the held-out tenth.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from stylegen.validation.corpus import held_out_ids, load_corpus
from stylegen.validation.validator import Validator
from stylegen.validation.vocabulary import load_vocabulary


def approved_flag_rate(brand, rules, data: str | Path | None = None, folds: int | None = None) -> dict:
    """Validate approved records with ``rules`` and count those with an error-level finding.

    Args:
        brand: the BrandKit.
        rules: loaded :class:`~stylegen.validation.rules.Rule` objects (e.g. the ones of
            ``load_rules(brand)`` whose ids you want measured), used as they are.
        data: approved copy instead of brand.yaml ``training.data``.
        folds: None: the held-out records only (the training split). A number: k-fold
            cross-validation over every approved record (learned checks re-learn their
            vocabulary without each fold).

    Returns:
        ``{"records": n, "flagged": k, "rate": k / n, "by_rule": {rule id: records},
        "flagged_ids": {record id: ["Rule: message", ...]}, "split": ...}``.
    """
    records = load_corpus(brand, data).with_facts()
    rules = list(rules)
    if folds is None:
        held = held_out_ids([r.id for r in records], brand.training.eval_fraction)
        parts = [held]
        split = f"held-out records (eval_fraction {brand.training.eval_fraction})"
    else:
        parts = [frozenset(r.id for r in records if _fold(r.id, folds) == k) for k in range(folds)]
        split = f"{folds}-fold cross-validation"
    results = []
    for left_out in parts:
        _learn_without(brand, rules, left_out, data)
        checked = [r for r in records if r.id in left_out]
        results += list(zip(checked, _validator(brand, rules).check(checked)))
    _learn_without(brand, rules, None, data)  # back to what the checks learn by default
    return _summary(results, rules, split)


def _fold(record_id: str, folds: int) -> int:
    return int.from_bytes(hashlib.sha256(record_id.encode()).digest()[8:16], "big") % folds


def _validator(brand, rules) -> Validator:
    """A Validator running exactly ``rules`` (loaded for their suites, then replaced)."""
    validator = Validator(brand, sorted({r.suite for r in rules}))
    validator.rules = rules
    return validator


def _learn_without(brand, rules, left_out: frozenset | None, data) -> None:
    """Give the learned checks among ``rules`` a vocabulary without the ``left_out`` ids
    (None: let them learn as they do by default, on first use)."""
    for rule in rules:
        check = rule.check
        if not hasattr(check, "use_vocabulary"):
            continue
        if left_out is None:
            check.use_vocabulary(None)
            continue
        opts = check.options
        source = brand.resolve(opts.data) if opts.data else data
        catalogs = [brand.resolve(c) for c in getattr(opts, "catalogs", ())]
        check.use_vocabulary(load_vocabulary(brand, source, catalogs, held_out=frozenset(left_out)))


def _summary(results: list, rules: list, split: str) -> dict:
    by_rule, flagged = Counter(), {}
    for record, findings in results:
        errors = [f for f in findings if f.level == "error"]
        if errors:
            flagged[record.id] = [f"{f.rule}: {f.message}" for f in errors]
        by_rule.update({f.rule for f in errors})
    n = len(results)
    return {"records": n, "flagged": len(flagged), "rate": round(len(flagged) / n, 4) if n else None,
            "by_rule": {r.id: by_rule.get(r.id, 0) for r in rules}, "flagged_ids": flagged, "split": split}
