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

``tests/test_compat.py`` checks the op against an exact integer product on the installed
torch and names the version when it fails.
"""
from __future__ import annotations


def int8_matmul(a, b):
    """``a @ b`` in exact integer arithmetic: ``a`` (M, K) int8, ``b`` (K, N) int8 -> (M, N) int32."""
    import torch

    return torch._int_mm(a, b)


def int8_matmul_problem() -> str | None:
    """Why :func:`int8_matmul` cannot run here (None: it runs and is exact on a small case)."""
    import torch

    try:
        a = torch.arange(-60, 60, dtype=torch.int8).reshape(3, 40)
        b = torch.arange(-80, 80, dtype=torch.int8).reshape(40, 4)
        got = int8_matmul(a, b)
    except (AttributeError, RuntimeError, NotImplementedError) as exc:
        return f"torch {torch.__version__} has no CPU int8 matmul (torch._int_mm: {exc.__class__.__name__}: {exc})"
    if not torch.equal(got.long(), a.long() @ b.long()):
        return f"torch {torch.__version__}: torch._int_mm gave a wrong product on a test case"
    return None
