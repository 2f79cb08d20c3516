"""Benchmark: rows/s of the local runner vs the Ray Data runner (2 actors) on this machine.

Both runs generate the same catalog with the same brand kit, seed and engine settings into
fresh run directories; the Ray cluster is started before the clock starts (its start-up,
10-20 s, is printed apart), the actors' model loads are inside the Ray figure. Prints
rows/s of each and the overhead ratio (local rows/s / Ray rows/s).

By default on the tiny random test model (tests/conftest.py, float32, no download), so the
figures measure the runner's overhead, not the model; ``--base-model`` points at a real one.

    python benchmarks/bench_scale.py --rows 16 --json runs/bench-scale.json

Not measured yet: a mixed two-adapter batch vs two brands one after the other (the
several-brands run is not built).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _timed_run(brand: Path, catalog: Path, out: Path, runner: str, actors: int, batch: int) -> float:
    from stylegen.generation.run import GenerateOptions, run_generate

    started = time.perf_counter()
    summary = run_generate(GenerateOptions(brand=str(brand), catalog=str(catalog), out=str(out), no_adapter=True,
                                           batch_size=batch, progress=False, runner=runner, actors=actors))
    assert summary.accepted + summary.rejected == summary.rows
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--base-model", default=None, help="default: the tiny random test model")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    from conftest import build_tiny_model
    from gen_support import make_brand, product, write_csv
    from stylegen.generation.ray_runner import ensure_ray

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    model = args.base_model or str(build_tiny_model(work / "tiny"))
    brand = make_brand(work, base_model=model, max_new_tokens=args.new_tokens, max_attempts=1)
    catalog = write_csv(work / "cat.csv", [product(f"S{i:04d}") for i in range(args.rows)])
    local_s = _timed_run(brand, catalog, work / "local", "local", 1, args.batch_size)
    started = time.perf_counter()
    ensure_ray(num_cpus=args.actors)
    ray_start_s = time.perf_counter() - started
    ray_s = _timed_run(brand, catalog, work / "ray", "ray", args.actors, args.batch_size)
    figures = {"model": "tiny random (float32)" if not args.base_model else args.base_model, "rows": args.rows,
               "batch_size": args.batch_size, "new_tokens": args.new_tokens, "actors": args.actors,
               "cpus": os.cpu_count(), "local_rows_per_s": round(args.rows / local_s, 3),
               "ray_rows_per_s": round(args.rows / ray_s, 3), "ray_cluster_start_s": round(ray_start_s, 1)}
    figures["overhead_ratio"] = round(figures["local_rows_per_s"] / figures["ray_rows_per_s"], 2)
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
