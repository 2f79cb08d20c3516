"""What the assembler writes for a kit's catalog rows, read by the kit's fact roles (no model).

    python benchmarks/bench_assembled.py --brand KIT --catalog FILE [--limit 20] [--task description]
        [--records OUT.jsonl] [--quiet]

Prints each row's first assembled variant of ``--task`` (the text ``generation.assemble``
gives the run loop first) with its sentence count, then how many rows get more than one
sentence. ``--records`` writes the texts with their facts as JSONL, for
``stylegen validate --brand KIT OUT.jsonl`` (docs/REAL_BRAND.md, "Fact roles").
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--brand", required=True, type=Path, help="the brand kit folder")
    parser.add_argument("--catalog", required=True, type=Path, help="the catalog (CSV or JSONL)")
    parser.add_argument("--limit", type=int, default=20, help="the first N rows (default 20)")
    parser.add_argument("--task", default="description", help="the task to assemble (default description)")
    parser.add_argument("--records", type=Path, help="write {id, facts, <task>} JSONL here")
    parser.add_argument("--quiet", action="store_true", help="print the figures only")
    args = parser.parse_args(argv)
    from stylegen.catalog.rows import read_catalog
    from stylegen.generation.assemble import variants
    from stylegen.kit.brand import load_brand
    from stylegen.validation.nlp import parse

    brand = load_brand(args.brand)
    kind = brand.tasks[args.task].kind
    rows = read_catalog(args.catalog, brand.catalog).rows[:args.limit]
    texts = [(variants(row.facts, args.task, kind, 1, catalog=brand.catalog) or [""])[0] for row in rows]
    counts = [len(list(doc.sents)) if text else 0 for text, doc in zip(texts, parse(texts, level="tokens"))]
    for row, text, count in zip(rows, texts, counts):
        if not args.quiet:
            print(f"{row.id}\t{count}\t{text}")
    print(f"{sum(c > 1 for c in counts)} of {len(rows)} rows get more than one sentence; "
          f"{sum(not t for t in texts)} empty")
    if args.records:
        args.records.write_text("".join(json.dumps({"id": r.id, "facts": r.facts, args.task: t}, ensure_ascii=False)
                                        + "\n" for r, t in zip(rows, texts)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
