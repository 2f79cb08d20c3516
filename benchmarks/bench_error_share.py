"""Error-level share of approved copy: how many approved records a kit flags, and by which rule.

    python benchmarks/bench_error_share.py --brand KIT PATH [PATH ...] [--list]

Approved copy is the brand's own published text, so each error-level finding on it is a
false finding of a rule or a fact the record lacks; the share is the figure
docs/REAL_BRAND.md reports before and after a grounding change. ``--list`` prints every
error-level finding (record, rule, message) for classifying them by hand.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="approved copy (JSONL/CSV files or folders)")
    parser.add_argument("--brand", required=True, type=Path, help="the brand kit folder")
    parser.add_argument("--list", action="store_true", help="print every error-level finding")
    args = parser.parse_args(argv)
    from stylegen.validation.validator import validate_paths

    start = time.perf_counter()
    report = validate_paths(args.paths, args.brand)
    seconds = time.perf_counter() - start
    by_rule: dict[str, set] = defaultdict(set)
    errors = [f for f in report.findings if f.level == "error"]
    for finding in errors:
        by_rule[finding.rule].add(finding.id)
    flagged = {f.id for f in errors}
    share = len(flagged) / max(1, report.records)
    print(f"{args.brand}: {len(flagged)}/{report.records} approved records ({share:.1%})"
          f" with an error-level finding; {len(errors)} error findings; {seconds:.1f} s")
    for rule, ids in sorted(by_rule.items()):
        print(f"  {rule}: {len(ids)} records")
    if args.list:
        for finding in errors:
            print(f"    {finding.id} {finding.field} {finding.rule}: {finding.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
