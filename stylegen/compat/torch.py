"""PyTorch internals stylegen relies on (checked on torch 2.13).

* :func:`int8_matmul`: ``torch._int_mm(a, b)``, an int8 x int8 -> int32 matrix product
  (oneDNN on a CPU: VNNI or AMX where the CPU has them, AVX2 or AVX-512 integer
  instructions otherwise). The int8 engine (``stylegen.generation.precision``) quantises
  each row of the activations on its own and the weights per output channel, so one
  integer product and two scalings give a linear layer whose every output row depends on
  its own input row alone. PyTorch's public dynamic quantisation
  (``torch.ao.quantization.quantize_dynamic``, deprecated since 2.10) scales the activations
  of the whole batch by one number, so a row's text would depend on its batch neighbours;
  its weight-only int8 op (``aten._weight_int8pack_mm``) measured 30x slower than float32
  on this CPU.

* :func:`int8_layout`: which layout of the right operand ``torch._int_mm`` reads faster on
  this CPU, measured once per process (with VNNI row-major was 1-8% faster; with AVX2 only
  the transposed view of an (N, K) block was 2.4-4.6x faster, but there the product is not
  exact and int8 is not used: :func:`int8_matmul_problem`). Both give the same integers.

``tests/test_compat.py`` checks the op against an exact integer product on the installed
torch (in both layouts) and names the version when it fails.
"""
from __future__ import annotations

import time

LAYOUTS = ("rows", "columns")  # right operand (K, N): row-major, or the transposed view of an (N, K) block
_LAYOUT: list[str] = []  # this process's measured choice (once)


def int8_matmul(a, b):
    """``a @ b`` in exact integer arithmetic: ``a`` (M, K) int8, ``b`` (K, N) int8 -> (M, N) int32."""
    import torch

    return torch._int_mm(a, b)


def int8_matmul_problem() -> str | None:
    """Why :func:`int8_matmul` cannot run here (None: it runs and is exact on full-range
    int8 values, in both layouts). oneDNN's int8 product on a CPU without VNNI (AVX2, or
    AVX-512 without VNNI) adds pairs of products in 16 bits and saturates them on full-range
    values: its results are wrong there (measured with ``ONEDNN_MAX_CPU_ISA=AVX2``: every
    decode-sized product differed from the exact one), so such a CPU runs float32."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a = torch.randint(-127, 128, (4, 576), dtype=torch.int8, generator=gen)
    b = torch.randint(-127, 128, (576, 64), dtype=torch.int8, generator=gen)
    try:
        got = [int8_matmul(a, b), int8_matmul(a, b.t().contiguous().t())]
    except (AttributeError, RuntimeError, NotImplementedError) as exc:
        return f"torch {torch.__version__} has no CPU int8 matmul (torch._int_mm: {exc.__class__.__name__}: {exc})"
    exact = a.long() @ b.long()
    if not all(torch.equal(g.long(), exact) for g in got):
        return (f"torch {torch.__version__}: torch._int_mm is not exact on this CPU (oneDNN's int8 product"
                " without VNNI saturates its 16-bit sums)")
    return None


def int8_layout() -> str:
    """``rows`` or ``columns``: the layout of :func:`int8_matmul`'s right operand to hold int8
    weights in here, chosen once per process by timing a decode-sized product (32 x 576 x
    3,072, one thread as each engine worker runs, best of 9 interleaved calls each, ~10-60
    ms): ``columns`` only where it is clearly faster (by :data:`COLUMNS_MARGIN`), since
    where the two are close ``rows`` measured ~8% faster end to end. The integers are the
    same either way, so the choice changes speed only."""
    if not _LAYOUT:
        _LAYOUT.append(_fastest_layout())
    return _LAYOUT[0]


COLUMNS_MARGIN = 0.9  # columns' best time must be under 90% of rows' (AVX2 without VNNI: 22-42%)


def _fastest_layout(m: int = 32, k: int = 576, n: int = 3072, calls: int = 9) -> str:
    import torch

    gen = torch.Generator().manual_seed(0)
    a = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=gen)
    blocks = {"rows": torch.randint(-127, 128, (k, n), dtype=torch.int8, generator=gen)}
    blocks["columns"] = blocks["rows"].t().contiguous().t()
    best = dict.fromkeys(LAYOUTS, float("inf"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(calls):
            for layout, b in blocks.items():
                started = time.perf_counter()
                int8_matmul(a, b)
                best[layout] = min(best[layout], time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return "columns" if best["columns"] < COLUMNS_MARGIN * best["rows"] else "rows"
