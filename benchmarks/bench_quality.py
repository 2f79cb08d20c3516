"""What ships, per CPU-second: the nightly pipeline on the first N catalog rows of any kit.

    python benchmarks/bench_quality.py                       # the sample brand's shipped settings, 100 rows
    python benchmarks/bench_quality.py --brand KIT --catalog FILE   # any kit (e.g. one `stylegen init` drafted)
    python benchmarks/bench_quality.py --rows 40 --json q.json
    python benchmarks/bench_quality.py --config baseline     # the old loop: corrective note on,
                                                             # 3 attempts, 1 candidate, no fixes, no new checks
    python benchmarks/bench_quality.py --baseline q-old.json # print a stored baseline beside this run
    python benchmarks/bench_quality.py --set candidates=6 --set temperature=0.5   # a sweep point

Prints, and with ``--json`` writes: accepted_share (products accepted / generated),
first_pass_share per field (a candidate of round 1 passed), candidates_per_accepted_field,
cpu_seconds_per_accepted_product (wall x cores), tokens_per_accepted_product,
approved_flag_rate (share of held-out approved records the new checks flag at error level)
and output_flag_rate (share of generated candidates the new checks flag, before
selection). Every figure is computed from the run's ledger.

Per field, the accepted copy against the brand's approved copy
(:mod:`stylegen.evaluation.measures`): voice_auc (a TF-IDF n-gram discriminator, names and
numbers masked, 5-fold; 0.5 = indistinguishable), verbatim_reuse, boilerplate,
fact_recall, fact_precision and unsupported_claims (grounding, must be 0). The same
discriminator on approved copy against a held-out quarter of approved copy is printed as
``voice_auc_floor`` (what "indistinguishable" measures as on this corpus).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stylegen.catalog.rows import read_catalog  # noqa: E402
from stylegen.evaluation.measures import field_measures, field_texts_of, voice_auc  # noqa: E402
from stylegen.generation.ledger import LEDGER_FILE, Ledger  # noqa: E402
from stylegen.generation.run import GenerateOptions, run_generate  # noqa: E402
from stylegen.kit.brand import load_brand  # noqa: E402
from stylegen.validation.cadence import measure  # noqa: E402
from stylegen.validation.corpus import load_corpus  # noqa: E402
from stylegen.validation.records import Record  # noqa: E402
from stylegen.validation.rules import load_rules  # noqa: E402

NEW_CHECKS = ("Default.Echo", "Default.Degenerate", "Sense.OffTopic", "Sense.Contradiction",
              "Sense.UnitSense")
BASELINE = {"generation": {"feedback": True, "max_attempts": 3, "candidates": 1, "fixes": False,
                           "temperature": 0.7, "top_p": 0.9, "assemble": [],
                           "fallback": "model"}, "off": NEW_CHECKS}
GEN_KEYS = ("temperature", "top_p", "repetition_penalty", "max_attempts", "candidates", "feedback", "fixes",
            "batch_size", "lexicon", "assemble", "fallback", "compose", "examples", "slots", "cadence")


def brand_copy(tmp: Path, kit: Path, generation: dict, off: tuple) -> Path:
    """A copy of a brand kit with generation settings changed and rules turned off (its
    relative paths made absolute, so the copy reads the kit's own files)."""
    kit = load_brand(kit).root
    dst = tmp / "brand"
    shutil.copytree(kit, dst)
    data = yaml.safe_load((dst / "brand.yaml").read_text(encoding="utf-8"))
    data["generation"].update(generation)
    for key in ("schema", "claims"):
        if data.get(key):
            data[key] = str((kit / data[key]).resolve())
    if data["model"].get("adapter"):
        data["model"]["adapter"] = str((kit / data["model"]["adapter"]).resolve())
    data["training"]["data"] = str((kit / data["training"]["data"]).resolve())
    data["validators"]["path"] = str((kit / data["validators"]["path"]).resolve())
    known = {r.id for r in load_rules(load_brand(kit), include_off=True)}
    data["validators"].setdefault("levels", {}).update({rule: "off" for rule in off if rule in known})
    (dst / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dst


def metrics(run_dir: Path, tasks: list[str], candidates: int, wall: float, cores: int) -> dict:
    """The benchmark's figures from a finished run's ledger."""
    ledger = Ledger(run_dir / LEDGER_FILE)
    try:
        rows = [r for r in ledger.finished_rows() if r.source == "validation"]
        attempts = ledger.attempt_rows()
    finally:
        ledger.close()
    accepted = {r.row_key for r in rows if r.status == "accepted"}
    per_field: dict[tuple, list] = {}
    for a in attempts:
        per_field.setdefault((a["row_key"], a["task"]), []).append(a)
    first = {t: [any(a["errors"] == 0 for a in per_field[k] if a["attempt"] <= candidates)
                 for k in per_field if k[1] == t] for t in tasks}
    acc_fields = [len(v) for k, v in per_field.items() if k[0] in accepted]
    tokens = sum(a["new_tokens"] for a in attempts)
    flagged = sum(1 for a in attempts if any(f["rule"] in NEW_CHECKS and f["level"] == "error"
                                              for f in json.loads(a["findings"])))
    n_acc = len(accepted)
    source = {(a["row_key"], a["task"], a["attempt"]): a.get("source") or "model" for a in attempts}
    best = [(r.row_key, json.loads(r.payload).get("best_attempt", {})) for r in rows if r.status == "accepted"]
    assembled = {t: round(sum(source.get((k, t, b.get(t))) == "assembled" for k, b in best) / n_acc, 4)
                 if n_acc else None for t in tasks}
    return {
        "rows_generated": len(rows), "accepted": n_acc,
        "accepted_share": round(n_acc / len(rows), 4) if rows else None,
        "first_pass_share": {t: round(sum(v) / len(v), 4) if v else None for t, v in first.items()},
        "candidates_per_accepted_field": round(sum(acc_fields) / len(acc_fields), 3) if acc_fields else None,
        "cpu_seconds_per_accepted_product": round(wall * cores / n_acc, 1) if n_acc else None,
        "tokens_per_accepted_product": round(tokens / n_acc, 1) if n_acc else None,
        "output_flag_rate": round(flagged / len(attempts), 4) if attempts else None,
        "accepted_fields_assembled": assembled,  # share of accepted products whose field is assembled copy
        "candidates": len(attempts), "new_tokens": tokens, "wall_seconds": round(wall, 1), "cores": cores,
    }


def voice_figures(run_dir: Path, brand, approved: list) -> dict:
    """Per field: the night's accepted copy against the brand's approved copy."""
    ledger = Ledger(run_dir / LEDGER_FILE)
    try:
        payloads = [json.loads(r.payload) for r in ledger.finished_rows() if r.status == "accepted"]
    finally:
        ledger.close()
    facts = catalog_facts(run_dir, brand)
    accepted = [Record(id=p["id"], fields=p["fields"], facts=facts.get(p["id"])) for p in payloads]
    out = {}
    for task in brand.tasks:
        mine, theirs = field_texts_of(accepted, task), field_texts_of(approved, task)
        out[task] = field_measures(mine, theirs, brand.catalog)
        out[task]["traits"] = {"accepted": traits(mine, task, brand.catalog),
                               "approved": traits(theirs, task, brand.catalog)}
        out[task]["order_agreement"] = order_agreement(out[task]["traits"])
    return out


def order_agreement(both: dict) -> float | None:
    """Spearman's rank correlation of where the accepted copy and the approved copy put each
    kind of fact they both state (1: the brand's order; None: fewer than 3 kinds in common)."""
    from scipy.stats import spearmanr

    if not both["accepted"] or not both["approved"]:
        return None
    mine, theirs = both["accepted"]["fact_position"], both["approved"]["fact_position"]
    kinds = sorted(set(mine) & set(theirs))
    if len(kinds) < 3:
        return None
    return round(float(spearmanr([mine[k] for k in kinds], [theirs[k] for k in kinds]).statistic), 2)


def traits(texts: list, task: str, catalog) -> dict | None:
    """The voice traits `init` drafts (second person, sentence length, sentences a text, how
    texts open), and where each kind of fact sits: what an approach keeps of the brand's
    order, rhythm and framing (issue 21)."""
    from stylegen.init.drafts import draft_voice
    from stylegen.validation.nlp import load_nlp

    names = {w.lower() for t in texts for w in str((t.facts or {}).get("name") or "").split()}
    draft = draft_voice([t.text for t in texts], [t.text for t in texts], names, task, load_nlp())
    if draft is None:
        return None
    return {"texts": draft.texts, "you_share": round(draft.person["you"], 3),
            "sentence_words_p10_median_p90": list(draft.words), "sentences_p10_median_p90": list(draft.per_text),
            "openers": {k: round(v, 2) for k, v in draft.openers[:4]}, "fact_position": fact_order(texts, catalog)}


def fact_order(texts: list, catalog) -> dict:
    """Per kind of fact: the mean position (0-1) of its first mention, as the assembler reads
    the brand's order (:func:`stylegen.validation.cadence.measure`)."""
    cadence = measure([(t.text, t.facts) for t in texts], catalog)
    return dict(cadence.order) if cadence else {}


def catalog_facts(run_dir: Path, brand) -> dict:
    """Each accepted product's catalog facts, read back with the brand's catalog mapping."""
    settings = json.loads((run_dir / "settings.json").read_text(encoding="utf-8"))
    return {row.id: row.facts for row in read_catalog(settings["catalog"], brand.catalog).rows}


def voice_floor(brand, approved: list) -> dict:
    """The discriminator on approved copy against a held-out quarter of approved copy."""
    import random

    out = {}
    for task in brand.tasks:
        texts = field_texts_of(approved, task)
        random.Random(0).shuffle(texts)
        quarter = len(texts) // 4
        out[task] = voice_auc(texts[:quarter], texts[quarter:])
    return out


def approved_rate(brand_dir: Path) -> dict | None:
    """The new checks' error-level flag rate on the held-out approved copy."""
    try:
        from stylegen.validation.calibration import approved_flag_rate
    except ImportError:
        return None
    brand = load_brand(brand_dir)
    rules = [r for r in load_rules(brand) if r.id in NEW_CHECKS]
    return approved_flag_rate(brand, rules) if rules else None


def parse_sets(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in GEN_KEYS:
            raise SystemExit(f"--set {key}: not one of {', '.join(GEN_KEYS)}")
        out[key] = yaml.safe_load(value)
    return out


def run(args) -> dict:
    config = BASELINE if args.config == "baseline" else {"generation": {}, "off": ()}
    generation = {**config["generation"], **parse_sets(args.set)}
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        brand_dir = brand_copy(Path(tmp), Path(args.brand), generation, config["off"])
        out = Path(args.out) if args.out else Path(tmp) / "run"
        started = time.perf_counter()
        summary = run_generate(GenerateOptions(brand=str(brand_dir), catalog=str(args.catalog),
                                               out=str(out), limit=args.rows, progress=not args.quiet))
        wall = time.perf_counter() - started
        brand = load_brand(brand_dir)
        approved = load_corpus(brand).with_facts()
        result = {"config": args.config, "brand": brand.name, "catalog": str(args.catalog),
                  "generation": {k: getattr(brand.generation, k) for k in GEN_KEYS},
                  "rows": args.rows, **metrics(out, list(brand.tasks), brand.generation.candidates, wall, cores),
                  "approved_flag_rate": approved_rate(Path(args.brand)), "run_dir": str(out) if args.out else None,
                  "voice": voice_figures(out, brand, approved), "voice_auc_floor": voice_floor(brand, approved)}
        result["rejected_input"] = summary.report["rows"]["rejected_input"]
    return result


def figures_of(run_dir: Path, brand_dir: str) -> dict:
    """The voice figures of a run directory's accepted copy, read with the kit in ``brand_dir``
    (the benchmark's own kit copy is gone after its run)."""
    brand = load_brand(brand_dir)
    return {"run_dir": str(run_dir), "brand": brand.name,
            "voice": voice_figures(run_dir, brand, load_corpus(brand).with_facts())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100, help="first N catalog rows")
    parser.add_argument("--brand", default=str(ROOT / "brand"), help="brand kit folder (default: the sample brand)")
    parser.add_argument("--catalog", default=str(ROOT / "catalog" / "sample_catalog.csv"),
                        help="catalog file (default: the sample catalog)")
    parser.add_argument("--config", choices=("shipped", "baseline"), default="shipped")
    parser.add_argument("--set", action="append", default=[], help="generation setting KEY=VALUE (a sweep point)")
    parser.add_argument("--baseline", help="a JSON written by an earlier --config baseline run, printed beside")
    parser.add_argument("--out", help="keep the run directory here (default: a temporary one)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--figures-of", metavar="RUN_DIR",
                        help="no new run: the voice figures of an existing run directory's accepted copy"
                             " (read with --brand)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = figures_of(Path(args.figures_of), args.brand) if args.figures_of else run(args)
    if args.baseline:
        result["baseline"] = json.loads(Path(args.baseline).read_text())
    print(json.dumps(result, indent=2))
    if args.baseline:
        print_ratios(result, result["baseline"])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


def print_ratios(new: dict, old: dict) -> None:
    for key in ("accepted_share", "cpu_seconds_per_accepted_product", "tokens_per_accepted_product",
                "candidates_per_accepted_field"):
        a, b = new.get(key), old.get(key)
        ratio = f"{a / b:.2f}x" if a and b else "n/a"
        print(f"{key:34} {b!s:>10} -> {a!s:>10}  ({ratio})")


if __name__ == "__main__":
    main()
