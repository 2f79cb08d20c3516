"""Which precision an inference model's weights run in, and the int8 path itself.

``dtype`` (brand.yaml ``model.dtype``) is ``auto``, ``float32``, ``bfloat16`` or ``int8``:

* ``int8``: every linear layer (attention, MLP and the output head; not the norms or a LoRA
  side path) holds int8 weights with one float32 scale per output channel, and quantises its
  input *row by row* (one scale per token) before an exact int8 x int8 -> int32 product
  (:func:`stylegen.compat.torch.int8_matmul`); the :data:`OUTLIERS` input channels of
  largest magnitude, calibrated once per load on a paragraph of product copy
  (:func:`calibrated_int8`), go through a second small int8 product with their own scales.
  A tied input embedding reads the int8 head's rows (:func:`int8_embedding_class`) and the
  engine's KV cache is int8 with one step per key / value vector (:func:`cache_dtype`);
  layers reading one tensor (q/k/v, gate/up) run as one product (:class:`FusedInt8`). Every linear layer's output row
  depends on its own input row alone, the engine's attention reduces in fixed shapes
  (:mod:`stylegen.generation.rowcache`), so the same seed gives the same text and a row's
  text does not depend on its batch neighbours (real model: 6 of 6 texts the same alone and
  in a batch: docs/SCALE.md). A LoRA adapter is merged
  into the float32 weights before quantising (single-adapter engines); with per-row
  adapters it stays an unquantised float32 side path next to the int8 base layer
  (:func:`stylegen.compat.peft.replace_base_layers`).
* ``auto``: int8 on a CPU without native bf16 whose int8 product is exact (on the 64-prompt
  benchmark, quiet machine with VNNI: 1.67x float32's tokens per CPU-second (the 2x target
  missed), 2.5x llama-server's, peak RSS 839 MB with the int8 KV cache; held-out perplexity
  +0.82%: docs/SCALE.md); without VNNI oneDNN's product saturates, and the engine runs float32;
  bf16 on a CPU with it (there int8 measured 0.93x bf16's tokens/s before the engine2
  branch, with more memory) and on an accelerator that supports it; else float32 (as
  :func:`stylegen.models.pick_dtype`).

When the int8 kernel cannot run here the engine falls back to float32 and says why
(a warning, and ``precision_note`` in :meth:`Engine.describe`). Training and perplexity
scoring never run in int8: ``int8`` loads their model in float32.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from stylegen.compat.peft import lora_side_layers, replace_base_layers
from stylegen import models
from stylegen.compat import torch as torch_compat

# Input channels per linear layer kept out of its main int8 product (Int8Linear; :func:`calibrated_int8`): with 8,
# the shipped adapter's held-out perplexity is +0.63-0.82% above float32 (KL 0.0084 nats/token)
# with every linear layer in int8; without them +2.34% (KL 0.032); 16 measured no better
# (+0.97%, KL 0.0077). docs/SCALE.md.
OUTLIERS = 8
INT8_KERNEL = ("torch._int_mm (oneDNN), int8 weights per channel, activations per row, "
               f"{OUTLIERS} calibrated outlier channels per layer in their own int8 product, "
               "q/k/v and gate/up joined")


@dataclass(frozen=True)
class Precision:
    """How an engine's model is loaded and held.

    Attributes:
        load_dtype: the dtype the model is loaded (and a LoRA adapter merged) in, as
            :func:`stylegen.models.pick_dtype` takes it.
        int8: quantise the linear layers to int8 after loading.
        note: why the precision asked for was not used (None: it was).
    """

    load_dtype: str
    int8: bool = False
    note: str | None = None


def choose_precision(dtype: str = "auto") -> Precision:
    """The precision for ``dtype`` on this machine, falling back to float32 (with a note,
    also issued as a warning) when int8 is asked for or would be chosen but cannot run."""
    import torch


    if dtype not in ("auto", "int8") or (dtype == "auto" and (torch.cuda.is_available() or models.cpu_supports_bf16())):
        return Precision(load_dtype=dtype)

    problem = torch_compat.int8_matmul_problem()
    if problem is None:
        return Precision(load_dtype="float32", int8=True)
    note = f"int8 weights unavailable, running in float32: {problem}"
    warnings.warn(note, stacklevel=2)
    return Precision(load_dtype="float32", note=note)


_INT8_LINEAR = None  # the Int8Linear class, built on first use


def int8_linear_class():
    """The ``torch.nn.Module`` class of an int8 linear layer (built on first use, so
    importing this module does not import torch)."""
    global _INT8_LINEAR
    if _INT8_LINEAR is None:
        _INT8_LINEAR = _int8_linear_class()
    return _INT8_LINEAR


def _int8_linear_class():
    import torch

    class Int8Linear(torch.nn.Module):
        """``y = x W^T + b`` with ``W`` in int8 (one scale per output channel) and ``x``
        quantised to int8 per row at every call.

        ``outliers`` (input channels, calibrated: :func:`calibrated_int8`) are taken out of
        that product: their activations are up to 1,000x the others' (massive activations
        after the norms and in the MLP), and one per-row scale stretched over them leaves
        the other channels a few levels. They get a second, small int8 product with their
        own per-row scale and their own weight scales; both products are exact integers, so
        a row's output still depends on that row alone.
        """

        def __init__(self, linear: torch.nn.Linear, outliers=None):
            super().__init__()
            weight = linear.weight.detach().float()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            picked = torch.as_tensor([] if outliers is None else outliers, dtype=torch.long)
            self.register_buffer("outliers", picked)
            self.register_buffer("outlier_qweight", None)
            self.register_buffer("outlier_scale", None)
            if len(picked):
                self.outlier_qweight, self.outlier_scale = _per_channel(weight[:, picked])
            # (in, out), in the layout the int8 product reads fastest here (torch_compat.int8_layout)
            qweight, scale = _per_channel(weight, picked if len(picked) else None)
            self.register_buffer("qweight", qweight)
            self.register_buffer("scale", scale)
            bias = linear.bias
            self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

        fused = None  # a FusedInt8: this layer's output is its columns of one product with its siblings'
        columns = None  # (q/k/v, gate/up; :func:`fuse_groups`)

        def forward(self, x):
            if self.fused is not None:
                return self.fused.output(x)[..., self.columns]
            shape = x.shape
            (q, step), outlying = self.quantise(x.reshape(-1, self.in_features).float())
            out = torch_compat.int8_matmul(q, self.qweight).float().mul_(step).mul_(self.scale)
            if outlying is not None:
                q, step = outlying
                out.add_(torch_compat.int8_matmul(q, self.outlier_qweight).float().mul_(step).mul_(self.outlier_scale))
            if self.bias is not None:
                out.add_(self.bias)
            return out.to(x.dtype).reshape(*shape[:-1], self.out_features)

        def quantise(self, rows):
            """``rows`` (float32) as int8 per row with their steps: ``((q, step), the outlier
            channels' (q, step) or None)``; the outlier channels count as zeros in the main part."""
            if not len(self.outliers):
                return _per_row(rows), None
            return _per_row(rows.index_fill(1, self.outliers, 0.0)), _per_row(rows.index_select(1, self.outliers))

        @classmethod
        def joined(cls, layers):
            """One layer whose output is ``layers``' outputs side by side (they read one input and
            hold the same outlier channels); each weight column keeps its own scale, so the joined
            product's columns are exactly the separate products'."""
            joined = cls.__new__(cls)
            torch.nn.Module.__init__(joined)  # built from quantised buffers, not from a float layer
            joined.in_features, joined.out_features = layers[0].in_features, sum(m.out_features for m in layers)
            for name in ("outliers", "outlier_qweight", "outlier_scale", "qweight", "scale", "bias"):
                parts = [getattr(m, name) for m in layers]
                axis = {"qweight": 1, "outlier_qweight": 1}.get(name, 0)
                if name == "outliers" or parts[0] is None:
                    value = parts[0]
                elif axis:  # joined along the output channels, in the parts' layout
                    value = _join_columns(parts)
                else:
                    value = torch.cat(parts)
                joined.register_buffer(name, value)
            return joined

        def view_of(self, fused, start: int) -> None:
            """Take this layer's output from ``fused`` (columns ``start ..``); its int8 weights become
            views into the fused layer's (held once), its scales small copies (float tensors of the
            model get copied and their old pages dropped (:func:`_own_memory`): a float view would
            drop pages the fused layer still reads)."""
            stop = start + self.out_features
            self.fused, self.columns = fused, slice(start, stop)
            joined = fused.layer
            for name in ("qweight", "outlier_qweight"):
                if getattr(self, name) is not None:
                    setattr(self, name, getattr(joined, name)[:, start:stop])
            for name in ("scale", "outlier_scale", "bias"):
                if getattr(self, name) is not None:
                    setattr(self, name, getattr(joined, name)[start:stop].clone())

        def weight_rows(self, index):
            """Rows ``index`` (output channels) of the dequantised weight, ``(len(index), in)``."""
            # contiguous: reductions over a transposed view (the next norm's) would depend on the row count
            rows = _output_channels(self.qweight, index).float().contiguous()
            rows.mul_(self.scale.index_select(0, index)[:, None])
            if len(self.outliers):
                part = _output_channels(self.outlier_qweight, index).float()
                rows.index_copy_(1, self.outliers, part.mul_(self.outlier_scale.index_select(0, index)[:, None]))
            return rows

        def extra_repr(self) -> str:
            return (f"in_features={self.in_features}, out_features={self.out_features}, int8, "
                    f"{len(self.outliers)} outlier channels")

    return Int8Linear


def _per_channel(weight, zeroed=None, rows: int = 4096):
    """``weight`` (out, in) in int8 with one scale per output channel: ``(qweight (in, out),
    scale)``, ``qweight`` row-major or the transposed view of an (out, in) block, whichever the
    int8 product reads faster on this CPU (:func:`stylegen.compat.torch.int8_layout`); input
    channels ``zeroed`` (outliers, held apart) count as zeros. Done ``rows`` output channels
    at a time: an output head's temporaries stay ~10 MB, not 3 x 113 MB."""
    import torch

    out, inputs = weight.shape
    columns = torch_compat.int8_layout() == "columns"
    # written in the layout it is held in, a block at a time: no second full-size copy
    qweight = torch.empty(out, inputs, dtype=torch.int8).t() if columns else torch.empty(inputs, out, dtype=torch.int8)
    scale = torch.empty(out)
    for start in range(0, out, rows):
        part = weight[start:start + rows].float()
        if zeroed is not None:
            part = part.index_fill(1, zeroed, 0.0)
        step = part.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        qweight[:, start:start + rows] = torch.round(part / step[:, None]).to(torch.int8).t()
        scale[start:start + rows] = step
    return qweight, scale


def _column_major(qweight) -> bool:
    """Whether int8 weights ``qweight`` (in, out) are the transposed view of an (out, in) block."""
    return qweight.t().is_contiguous()


def _output_channels(qweight, index):
    """Columns ``index`` of int8 weights ``qweight`` (in, out) as rows ``(len(index), in)``, read
    without copying the whole matrix in either layout (``index_select`` over the strided
    dimension of a transposed view copied all 28 MB of the output head per decode step)."""
    if _column_major(qweight):
        return qweight.t().index_select(0, index)
    return qweight.index_select(1, index).t()


def _join_columns(parts):
    """int8 weights ``(in, out_i)`` side by side, ``(in, sum out_i)``, in the layout they are held in."""
    import torch

    if _column_major(parts[0]):
        return torch.cat([p.t() for p in parts]).t()
    return torch.cat(parts, 1)


def _per_row(rows):
    """``rows`` quantised to int8 symmetrically per row (a row's integers depend on that row
    alone): ``(q, step)``, ``rows ~ q * step``."""
    import torch

    step = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12) / 127.0
    # |x / step| <= 127 up to rounding, so round() stays in int8 without a clamp (the same integers)
    return torch.div(rows, step).round_().to(torch.int8), step


class FusedInt8:
    """Int8 layers that read one input (q/k/v read one tensor, gate/up another) as one int8
    product over their weights side by side: one quantisation of the input, one main and one
    outlier product instead of one each per layer (fewer, larger ``_int_mm`` calls). The first
    member called runs it; each member takes its columns; the last one lets the output go (so
    no activation outlives its forward pass)."""

    def __init__(self, layers: list):
        self.layer = int8_linear_class().joined(layers)
        self.members = len(layers)
        self.put(None, None)
        start = 0
        for layer in layers:
            layer.view_of(self, start)
            start += layer.out_features

    def output(self, source):
        """The joined product of ``source`` (run here unless this group holds it)."""
        out = self.take(source)
        if out is None:
            out = self.layer(source)
            self.put(source, out)
        return out

    def put(self, source, value) -> None:
        """``value`` is the joined product of ``source``; the group's other members will take it."""
        self.source, self.value, self.left = source, value, self.members - 1

    def take(self, source):
        """The joined product of ``source`` when this group holds it (None: run it). The same
        tensor object, held here so its id cannot be reused; the decoder never writes a normed
        input in place between its projections (inference tensors keep no version counter)."""
        if source is None or self.source is not source or self.left <= 0:
            return None
        value, self.left = self.value, self.left - 1
        if not self.left:
            self.put(None, None)
        return value


def fuse_groups(groups: list[list]) -> int:
    """Join each group of int8 layers called in turn on one input (:class:`FusedInt8`) when
    they hold the same outlier channels; returns how many groups were joined."""
    import torch

    joined = 0
    for group in groups:
        if len(group) > 1 and all(torch.equal(m.outliers, group[0].outliers) for m in group) \
                and len({m.bias is None for m in group}) == 1:
            FusedInt8(group)
            joined += 1
    return joined


# The text the outlier channels are found on: a paragraph of product copy in the chat
# layout the engine prompts with (not the shipped adapter's training or held-out copy).
CALIBRATION_TEXT = """<|im_start|>system
You write product copy for an outdoor gear brand.<|im_end|>
<|im_start|>user
Write the product description for Summit Trail Lantern.
Features: Three brightness levels, USB-C charging, Folds flat
Materials: aluminum, polycarbonate
Weight: 9 oz<|im_end|>
<|im_start|>assistant
Light for the hours after the sun goes. The Summit Trail Lantern throws a warm, even glow across the whole \
table, steps down to a quiet night light, and folds flat into a side pocket when the morning comes. Charge it \
from the car on the drive in; a full battery lasts three long evenings on the low setting. Aluminum and \
polycarbonate, 9 ounces, built for rain, dust and the odd drop onto rocks.<|im_end|>
"""


# Linear layers left in float32, by attribute name: none since the outlier channels
# (OUTLIERS). Before them the MLP's down projection was kept float32 (+1.67% instead of
# +2.26%; SmoothQuant-style smoothing, float16 or weight-only int8 there did not help).
KEEP_FLOAT: tuple[str, ...] = ()


def calibrated_int8(model, tokenizer, keep: tuple[str, ...] = KEEP_FLOAT, count: int = OUTLIERS) -> dict:
    """Int8 copies of ``model``'s linear layers, each with the ``count`` input channels of
    largest magnitude on :data:`CALIBRATION_TEXT` as its outliers: ``id(layer) -> Int8Linear``.

    Layers called in turn on the same input tensor are joined into one product (:func:`fuse_groups`).
    Built during one float forward pass: a layer is copied as soon as it has run, and its
    float weight's pages dropped then (the pass never holds the whole float model resident).
    Fixed once per loaded model, so every call and every row uses the same channels
    (channels found per call would make a row's result depend on its batch). Layers named in
    ``keep``, LoRA's side layers and layers too narrow to pick from are left out.
    """
    import torch

    side = {id(m) for m in lora_side_layers(model)}
    built, hooks, groups, last = {}, [], [], [None]

    def copy(layer, args, out):
        seen = args[0].reshape(-1, layer.in_features).abs().amax(0).float()
        built[id(layer)] = int8_linear_class()(layer, seen.topk(count).indices.sort().values.cpu())
        _drop_pages(layer.weight, model, owner=layer)
        if args[0] is last[0]:  # called in turn on the same tensor: one group
            groups[-1].append(built[id(layer)])
        else:
            groups.append([built[id(layer)]])
        last[0] = args[0]

    for name, layer in model.named_modules():
        if type(layer) is torch.nn.Linear and id(layer) not in side and name.rsplit(".", 1)[-1] not in keep \
                and layer.in_features > 2 * count:
            hooks.append(layer.register_forward_hook(copy))
    try:
        with torch.inference_mode():
            model(input_ids=tokenizer(CALIBRATION_TEXT, return_tensors="pt")["input_ids"].to(model.device))
    finally:
        for hook in hooks:
            hook.remove()
    fuse_groups(groups)
    return built


def quantise_int8(model, tokenizer=None, keep: tuple[str, ...] = KEEP_FLOAT) -> int:
    """Replace ``model``'s linear layers (but those named in ``keep``) by int8 ones in place;
    returns how many. With ``tokenizer``, each layer's outlier channels are found first
    (:func:`calibrated_int8`); without, none are kept apart.

    LoRA's own small layers (``lora_A`` / ``lora_B`` of a ``PeftModel`` holding
    per-row adapters) stay float32; the layer they wrap is quantised. Each float32
    weight is freed as soon as its int8 copy exists, so the model never holds both in full.
    A tied input embedding then reads the int8 output head (:func:`int8_embedding_class`).
    """
    import torch

    built = calibrated_int8(model, tokenizer, keep) if tokenizer is not None else {}

    def int8(layer):
        return built.get(id(layer)) or int8_linear_class()(layer)

    count, side = 0, set()
    if getattr(model, "peft_config", None):  # a PeftModel with unmerged (per-row) adapters

        count = replace_base_layers(model, lambda base: int8(base) if type(base) is torch.nn.Linear else base,
                                    keep)
        side = {id(m) for m in lora_side_layers(model)}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear and id(child) not in side and name not in keep:
                setattr(parent, name, int8(child))
                _drop_pages(child.weight, model)
                count += 1
    _embed_from_head(model)
    _own_memory(model)
    trim_heap()
    return count


def _embed_from_head(model) -> None:
    """Where the input embedding is tied to an output head now in int8, look tokens up in
    that head's int8 rows (one copy of the vocabulary's weights instead of a float32 one)."""
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    if isinstance(head, int8_linear_class()) and getattr(embed, "weight", None) is not None \
            and embed.weight.shape == (head.out_features, head.in_features) and _tied(model):
        model.set_input_embeddings(int8_embedding_class()(head))
        _drop_pages(embed.weight, model)


def _tied(model) -> bool:
    """The model's config ties its input embedding to its output head."""
    config = model.get_base_model().config if hasattr(model, "get_base_model") else model.config
    return bool(getattr(config, "tie_word_embeddings", False))


_INT8_EMBEDDING = None


def int8_embedding_class():
    """The ``torch.nn.Module`` class of an embedding that reads an int8 output head's rows."""
    global _INT8_EMBEDDING
    if _INT8_EMBEDDING is None:
        import torch

        class Int8Embedding(torch.nn.Module):
            """Token ``t``'s vector: the output head's own dequantised row ``t``."""

            def __init__(self, head):
                super().__init__()
                self.head = [head]  # a list: not registered twice as a submodule

            def forward(self, ids):
                head = self.head[0]
                return head.weight_rows(ids.reshape(-1)).reshape(*ids.shape, head.in_features)

        _INT8_EMBEDDING = Int8Embedding
    return _INT8_EMBEDDING


def _drop_pages(weight, model, owner=None) -> None:
    """Give the memory pages that only ``weight`` (now quantised) uses back to the system.

    The weights are mapped from the model file, and their pages stay resident until the
    whole mapping goes; without this, quantising would briefly hold every float32 page and
    every int8 copy (the load's peak). Skipped for a weight the model still uses (the
    embedding an output head is tied to; ``owner``, the layer the weight belongs to, does
    not count as a user: it is being replaced) and off Linux.
    """
    import ctypes
    import mmap
    import sys

    if not sys.platform.startswith("linux"):
        return
    if not weight.is_contiguous():
        return
    start, size = weight.data_ptr(), weight.numel() * weight.element_size()
    held = [t for m in model.modules() if m is not owner for t in [*m.parameters(False), *m.buffers(False)]]
    for other in held:
        begin = other.data_ptr()
        if begin < start + size and start < begin + other.numel() * other.element_size():
            return  # still in use (a tied embedding)
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages only: neighbours keep theirs
    last = (start + size) // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), 4)  # MADV_DONTNEED


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; elsewhere a no-op).

    Freed tensors below glibc's mmap threshold stay in its arenas, resident, and the sizes a
    load or a prefill frees rarely fit what decoding asks for next: measured, about 100 MB
    after quantising and up to 300 MB during a 64-row generation were such free pages.
    """
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except AttributeError:  # not glibc (musl)
            pass


def _own_memory(model) -> None:
    """Copy the float tensors left (embedding, norms) out of the loaded weight file.

    transformers maps the safetensors file into memory; quantising reads every page of it,
    and one tensor still pointing into the mapping keeps all those pages resident (about
    540 MB for SmolLM2-135M). Copies let the mapping go.
    """
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            old, tensor.data = tensor.data, tensor.data.clone()
            _drop_pages(old, model)  # one tensor held twice at a time, not all of them


def cache_dtype(model):
    """The dtype the engine's KV cache is held in: int8 under int8 weights (one step per key /
    value vector, :mod:`stylegen.generation.rowcache`; a quarter of float32's memory, peak RSS
    838 vs 957 MB with float16 on the 64-prompt benchmark, no faster; row-cache perplexity
    +0.30% over float16: docs/SCALE.md), else the model's own float dtype."""
    import torch

    if any(isinstance(m, int8_linear_class()) for m in model.modules()):
        return torch.int8
    return next(p for p in model.parameters() if p.is_floating_point()).dtype


def describe_precision(model, note: str | None = None) -> dict:
    """``weights`` (int8, or the float dtype) and ``kernel`` of a loaded model, for manifests."""
    int8 = int8_linear_class()
    if any(isinstance(m, int8) for m in model.modules()):
        out = {"weights": "int8", "kernel": f"{INT8_KERNEL}; weights held by {torch_compat.int8_layout()}"}
    else:
        dtype = str(next(model.parameters()).dtype).replace("torch.", "")
        out = {"weights": dtype, "kernel": "torch matmul (" + dtype + ")"}
    return {**out, "precision_note": note} if note else out
