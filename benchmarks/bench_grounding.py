"""Grounding check figures: speed, findings on approved copy, and a generate run's claim rates.

    python benchmarks/bench_grounding.py                      # approved copy: speed + findings
    python benchmarks/bench_grounding.py --run runs/nightly   # also: before/after retries

Approved copy is grounded by definition, so every finding there is either a false positive
of the check or a data problem; the script lists them by record id. With ``--run`` it
reads the run's ledger and prints the share of outputs (row x task) whose first attempt
had an unsupported claim (rule ``*.Grounded`` at error level) and the share whose kept
attempt (the text in outputs.jsonl / rejects.jsonl, or for a row still running the attempt
with the fewest errors) still has one.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def approved_items(folder: Path) -> list[tuple[str, str, str, dict]]:
    """(id, field, text, facts) for every text of every approved record."""
    items = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            for name in ("description", "meta_description", "bullets"):
                value = rec.get(name)
                texts = value if isinstance(value, list) else [value]
                for i, text in enumerate(t for t in texts if t):
                    key = f"{name}[{i}]" if isinstance(value, list) else name
                    items.append((rec["id"], key, text, rec.get("facts") or {}))
    return items


def bench_approved(folder: Path, claims: Path) -> None:
    from stylegen.validation.grounding import load_claim_terms, unsupported_claims
    from stylegen.validation.nlp import parse

    terms = load_claim_terms(claims)
    items = approved_items(folder)
    start = time.perf_counter()
    docs = parse([text for _, _, text, _ in items])
    unsupported_claims(items[0][2], items[0][3], claim_terms=terms, doc=docs[0])  # builds the matchers once
    parsed = time.perf_counter()
    found = [(rid, key, claim) for (rid, key, text, facts), doc in zip(items, docs)
             for claim in unsupported_claims(text, facts, claim_terms=terms, doc=doc)]
    checked = time.perf_counter()
    records = {rid for rid, *_ in items}
    print(f"approved copy: {len(records)} records, {len(items)} texts, {len(terms)} claim terms")
    print(f"  spaCy pass (shared with the other rules) + matcher build: {parsed - start:.2f} s")
    print(f"  grounding check: {checked - parsed:.3f} s = {(checked - parsed) / len(items) * 1000:.3f} ms per text")
    flagged = {rid for rid, _, _ in found}
    print(f"  findings: {len(found)} in {len(flagged)} of {len(records)} records "
          f"({len(flagged) / max(len(records), 1):.1%}); by kind: {dict(Counter(c.kind for *_, c in found))}")
    for rid, key, claim in found:
        print(f"    {rid} {key} {claim.kind} {claim.text!r}: {claim.reason}")


def _grounding_errors(findings_json: str) -> int:
    findings = json.loads(findings_json or "[]")
    return sum(1 for f in findings if str(f.get("rule", "")).endswith(".Grounded") and f.get("level") == "error")


def bench_run(run_dir: Path) -> None:
    db = sqlite3.connect(f"file:{run_dir / 'ledger.sqlite'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    attempts: dict[tuple[str, str], list] = {}
    query = "SELECT row_key, task, attempt, text, findings, errors FROM attempts ORDER BY row_key, task, attempt"
    for row in db.execute(query):
        attempts.setdefault((row["row_key"], row["task"]), []).append(row)
    kept = _kept_texts(db)
    before = after = 0
    for (key, task), rows in attempts.items():
        before += _grounding_errors(rows[0]["findings"]) > 0
        final_text = kept.get((key, task))
        # the kept attempt: the one whose text was written out, else (unfinished row, or a
        # list field parsed from its text) the best one, as generate picks it
        final = next((r for r in reversed(rows) if r["text"] == final_text), None) \
            or min(rows, key=lambda r: (r["errors"], r["attempt"]))
        after += _grounding_errors(final["findings"]) > 0
    n = len(attempts)
    products = len({k for k, _ in attempts})
    print(f"run {run_dir}: {products} products, {n} outputs (product x task), "
          f"{sum(len(v) for v in attempts.values())} attempts")
    if n:
        print(f"  outputs with an unsupported claim: before retries {before}/{n} = {before / n:.1%}, "
              f"after retries {after}/{n} = {after / n:.1%}")


def _kept_texts(db) -> dict[tuple[str, str], str]:
    """The field values each finished row kept, as generation rendered them."""
    kept = {}
    for row in db.execute("SELECT row_key, payload FROM rows"):
        payload = json.loads(row["payload"])
        record = payload.get("fields") or payload.get("record") or {}
        for task, value in record.items():
            if isinstance(value, str):
                kept[(row["row_key"], task)] = value
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                kept[(row["row_key"], task)] = "\n".join(f"- {v}" for v in value)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approved", type=Path, default=ROOT / "training_data" / "approved")
    parser.add_argument("--claims", type=Path, default=ROOT / "brand" / "claims.txt")
    parser.add_argument("--run", type=Path, default=None, help="a generate run directory (reads its ledger)")
    args = parser.parse_args()
    bench_approved(args.approved, args.claims)
    if args.run:
        bench_run(args.run)


if __name__ == "__main__":
    main()
