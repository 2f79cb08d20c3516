"""Benchmark: rows/s of the local runner vs the Ray Data runner (2 actors) on this machine.

Both runs generate the same catalog with the same brand kit, seed and engine settings into
fresh run directories; the Ray cluster is started before the clock starts (its start-up,
10-20 s, is printed apart), the actors' model loads are inside the Ray figure. Prints
rows/s of each and the overhead ratio (local rows/s / Ray rows/s).

By default on the tiny random test model (tests/conftest.py, float32, no download), so the
figures measure the runner's overhead, not the model; ``--base-model`` points at a real one.

    python benchmarks/bench_scale.py --rows 16 --json runs/bench-scale.json

``--mixed`` measures a multi-brand night instead (no Ray): two brands with an adapter each
(small random LoRA adapters built with PEFT for the tiny model), ``--rows`` rows each, run
once as one mixed run (``stylegen generate --runs``: one model load, both adapters unmerged,
every batch mixing both brands) and once as the two brands run one after the other
(``stylegen generate --brand`` twice: a model load each, the adapter merged). Prints rows/s
of each (model loads included in both) and the ratio.

    python benchmarks/bench_scale.py --mixed --rows 16 --json runs/bench-mixed.json
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


def _mixed(args, work: Path, model: str) -> dict:
    """Rows/s of one mixed two-adapter run vs the two brands one after the other."""
    import yaml

    from gen_support import make_brand, product, write_csv
    from multi_support import make_adapter
    from stylegen.generation.run import GenerateOptions, run_generate
    from stylegen.models import resolve_model

    brands, adapters, catalogs = {}, {}, {}
    for i, name in enumerate(("alpha", "beta")):
        brands[name] = make_brand(work / name, base_model=model, max_new_tokens=args.new_tokens, max_attempts=1)
        adapters[name] = make_adapter(work / f"adapter-{name}", resolve_model(model), seed=i + 1)
        rows = [product(f"{name[0].upper()}{k:04d}") for k in range(args.rows)]
        catalogs[name] = write_csv(work / f"{name}.csv", rows)
    warm = run_generate(GenerateOptions(brand=str(brands["alpha"]), catalog=str(catalogs["alpha"]),  # untimed:
                                        out=str(work / "warm-up"), limit=2, adapter=str(adapters["alpha"]),  # first
                                        batch_size=args.batch_size, progress=False))  # calls pay one-off costs
    assert warm.rows == 2
    runs = work / "night.yaml"
    runs.write_text(yaml.safe_dump({"brands": [{"brand": str(brands[n]), "catalog": str(catalogs[n]), "name": n,
                                                "adapter": str(adapters[n])} for n in brands]}))
    started = time.perf_counter()
    summary = run_generate(GenerateOptions(runs=str(runs), out=str(work / "mixed"), batch_size=args.batch_size,
                                           progress=False))
    mixed_s = time.perf_counter() - started
    assert summary.accepted + summary.rejected == 2 * args.rows
    mixed_gen = summary.report["throughput"]["generate_seconds"]
    sequential_s = sequential_gen = 0.0
    for name in brands:
        started = time.perf_counter()
        one = run_generate(GenerateOptions(brand=str(brands[name]), catalog=str(catalogs[name]),
                                           out=str(work / f"alone-{name}"), adapter=str(adapters[name]),
                                           batch_size=args.batch_size, progress=False))
        sequential_s += time.perf_counter() - started
        sequential_gen += one.report["throughput"]["generate_seconds"]
        assert one.accepted + one.rejected == args.rows
    rows = 2 * args.rows
    figures = {"model": "tiny random (float32)" if not args.base_model else args.base_model,
               "brands": 2, "rows_per_brand": args.rows, "batch_size": args.batch_size, "new_tokens": args.new_tokens,
               "cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
               "mixed_s": round(mixed_s, 2), "sequential_s": round(sequential_s, 2),
               "mixed_generate_s": mixed_gen, "sequential_generate_s": round(sequential_gen, 2),
               "mixed_rows_per_s": round(rows / mixed_s, 3), "sequential_rows_per_s": round(rows / sequential_s, 3)}
    figures["mixed_over_sequential"] = round(figures["mixed_rows_per_s"] / figures["sequential_rows_per_s"], 2)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--base-model", default=None, help="default: the tiny random test model")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--mixed", action="store_true",
                        help="one mixed two-adapter run vs the two brands one after the other (no Ray)")
    args = parser.parse_args(argv)
    if args.mixed:
        return _report(_mixed_main(args), args.json)

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
    return _report(figures, args.json)


def _mixed_main(args) -> dict:
    from conftest import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="bench-mixed-"))
    model = args.base_model or str(build_tiny_model(work / "tiny"))
    return _mixed(args, work, model)


def _report(figures: dict, path: Path | None) -> int:
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
