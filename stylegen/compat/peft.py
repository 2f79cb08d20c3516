"""PEFT internals stylegen relies on (checked on 0.21).

* Per-row adapters from several threads at once (``stylegen.generation.engine``, a
  multi-brand run). PEFT's public way to mix adapters in one batch is the
  ``adapter_names=[...]`` argument of ``PeftModel.forward`` / ``generate`` ("mixed adapter
  batches"); for the length of that call it registers a forward pre-hook on every LoRA
  layer that adds ``adapter_names`` to the layer's keywords. The engine's CPU workers run
  two batches on one model at the same time, in two threads, and each would then see the
  other's hooks. :func:`install_row_adapters` registers one such pre-hook per LoRA layer,
  once, that passes the adapter names of the *calling thread* (set with
  :func:`row_adapters`); the layer itself then does what it does for PEFT's own argument
  (``LoraLayer._mixed_batch_forward``: the base output plus, per adapter, its LoRA delta on
  the rows that name it; ``"__base__"`` rows get none).

* An int8 base under per-row adapters (``stylegen.generation.precision``): the linear layer
  a LoRA layer wraps is its ``base_layer`` attribute, which its forward calls as a module
  (:func:`replace_base_layers`); the adapter's own layers are the modules in its
  ``lora_A`` / ``lora_B`` dictionaries (:func:`lora_side_layers`), left in float32.

What this relies on: ``peft.tuners.lora.LoraLayer`` and ``peft.utils.other.
AuxiliaryTrainingWrapper`` are the modules PEFT hooks, and their ``forward`` takes the
``adapter_names`` keyword. ``tests/test_multi_engine.py`` checks both against the
installed PEFT (a forward under :func:`row_adapters` must equal PEFT's own
``adapter_names`` forward, and differ from the active adapter alone) and names the
version when they fail.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

BASE = "__base__"  # PEFT's name for "no adapter" in ``adapter_names``
_HOOKED = "_stylegen_row_adapters"
_local = threading.local()


def adapter_layers(model) -> list:
    """The modules PEFT routes ``adapter_names`` to: LoRA layers and ``modules_to_save`` wrappers."""
    from peft.tuners.lora import LoraLayer
    from peft.utils.other import AuxiliaryTrainingWrapper

    return [m for m in model.modules() if isinstance(m, (LoraLayer, AuxiliaryTrainingWrapper))]


def lora_side_layers(model) -> list:
    """Every LoRA ``A`` and ``B`` module of ``model`` (the adapters' side path)."""
    from peft.tuners.lora import LoraLayer

    return [side for m in model.modules() if isinstance(m, LoraLayer)
            for table in (m.lora_A, m.lora_B) for side in table.values()]


def replace_base_layers(model, replace, keep: tuple[str, ...] = ()) -> int:
    """Set each LoRA layer's wrapped layer to ``replace(base_layer)``; returns how many changed.

    The LoRA layer keeps adding its adapters' deltas to what the new base layer returns.
    LoRA layers whose attribute name is in ``keep`` (``down_proj``) are left alone.
    """
    from peft.tuners.lora import LoraLayer

    count = 0
    for name, layer in [(n.rsplit(".", 1)[-1], m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]:
        if name in keep:
            continue
        new = replace(layer.base_layer)
        if new is not layer.base_layer:
            layer.base_layer = new
            count += 1
    return count


def loaded_adapters(model) -> set[str]:
    """Names of the adapters loaded into a ``PeftModel`` (its ``peft_config`` keys)."""
    return set(getattr(model, "peft_config", {}) or {})


def install_row_adapters(model) -> None:
    """Make ``model`` (a ``PeftModel``) take per-row adapter names from :func:`row_adapters`.

    Idempotent. Outside a :func:`row_adapters` block the model behaves as before (its
    active adapter for every row).

    Raises:
        ValueError: the model has no LoRA layers.
    """
    if getattr(model, _HOOKED, False):
        return
    layers = adapter_layers(model)
    if not layers:
        raise ValueError("the model has no LoRA layers: nothing to route per-row adapters to")
    for layer in layers:
        layer.register_forward_pre_hook(_pre_hook, with_kwargs=True)
    setattr(model, _HOOKED, True)


def _pre_hook(module, args, kwargs):
    names = getattr(_local, "names", None)
    if names is None:
        return None
    kwargs["adapter_names"] = names
    return args, kwargs


@contextmanager
def row_adapters(names: list[str] | None):
    """Within the block, this thread's forward passes use adapter ``names[i]`` for row ``i``.

    ``None`` leaves the model's active adapter on (the block does nothing). Other threads
    are not affected.
    """
    previous = getattr(_local, "names", None)
    _local.names = list(names) if names is not None else None
    try:
        yield
    finally:
        _local.names = previous
