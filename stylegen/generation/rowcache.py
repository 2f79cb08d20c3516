"""The engine's KV cache: every row's keys and values in one buffer allocated once, laid
out by position, and the attention that reads it so that a row's result does not depend on
its batch (issue 24). Generation decodes a token per row through it; scoring prefills each
distinct prompt once, takes its rows for the texts that follow it (:meth:`RowCache.take`)
and runs each text as one multi-token decode step.

transformers' ``DynamicCache`` grows each layer's keys and values by concatenation at every
step (a copy of the whole cache per layer and token, and freed blocks of every size left
to the allocator). Here, per layer, a buffer ``(rows, kv_heads, capacity, dim)``: row
``i``'s token at position ``p`` sits at column ``p`` (the shared prefix, computed once per
batch (per adapter group) and copied into every row, then the row's own prompt tokens,
then its generated tokens; right padded, the padding masked).

Batch independence (measured on this machine's float32 kernels, docs/SCALE.md): a matrix
product's result for one row or column changes with the product's shape (fewer than 6
rows; a column count not a multiple of 16; the reduced dimension's length and where the
terms sit in it). So attention here always has a row's keys at the columns of their
positions, attends over a width rounded up to :data:`ALIGN` columns, reduces the value
product and the softmax sum in fixed chunks of :data:`CHUNK` keys (added in order: a chunk
past a row's end adds exact zeros; the last one zero padded), divides by the sum afterwards
and gives a prefill pass at least two query tokens. With int8 linear
layers (exact per row), a row's text is then the same in any batch.

Under int8 weights the cache is int8 too (:func:`stylegen.generation.precision.cache_dtype`):
each key and value vector (one row, head and position) as integers with one step, found from
that vector alone. Attention multiplies the integers (widened to float32) and applies a key's
step to its scores and a value's step to the weights it is summed with, so the steps cost
``width`` multiplications per query instead of ``width x dim``; fresh keys and values are read
as the cache holds them in every pass.

:func:`row_attention` is registered with transformers as the attention implementation
``stylegen`` (:func:`stylegen.compat.transformers.use_attention`). A forward pass given a
:class:`CacheStep` (keyword ``row_cache``) writes its new keys and values into the cache
and attends over the row's visible columns; without one it is transformers' own SDPA
attention (scoring, perplexity). Rows never mix: every product is per row.
"""
from __future__ import annotations

from dataclasses import dataclass

ATTENTION = "stylegen"
ALIGN = 16  # attended widths are multiples of it: a product's columns then do not depend on their count
CHUNK = 64  # keys per value product (the last one zero padded): its sum then does not depend on the width
ATTENTION_KERNEL = (f"row cache by position, widths aligned to {ALIGN}, value products and softmax sums in "
                    f"{CHUNK}-key chunks (batch-independent); an int8 cache's steps applied to scores and weights")


def _round_up(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass
class RowCache:
    """The KV cache of one generation batch (see module doc).

    Attributes:
        prefix: tokens of the prompts' shared prefix (columns ``0 .. prefix - 1`` of every row).
        spans: each row's prompt tokens after the prefix, the last prompt token excluded
            (decode step 0's input).
        budget: decode steps the buffer has room for.
        group_of: each row's prefix group (a tensor), None when all rows share one prefix.
    """

    prefix: int
    spans: list[int]
    budget: int
    group_of: object = None
    buffer: object = None  # (layers, 2, rows, kv_heads, capacity, dim)
    scales: object = None  # int8 buffer: (layers, 2, rows, kv_heads, capacity), one step per key / value vector

    def capacity(self) -> int:
        """Columns per row: the longest prompt and the budget, rounded up to :data:`ALIGN`."""
        return _round_up(self.prefix + max(self.spans) + self.budget)

    def allocate(self, layers: int, kv_heads: int, head_dim: int, dtype, device=None) -> "RowCache":
        """Allocate the buffer, zeroed (the padding is masked, but must be finite), in one
        block before any forward pass: transient activations allocated later can then not
        leave it fragmented, and freeing it gives it all back."""
        import torch

        shape = (layers, 2, len(self.spans), kv_heads, self.capacity(), head_dim)
        self.buffer = torch.zeros(shape, dtype=dtype, device=device)
        if dtype == torch.int8:
            self.scales = torch.zeros(shape[:-1], device=device)
        return self

    def prefix_step(self) -> "CacheStep":
        """The forward pass over the shared prefix (causal)."""
        return CacheStep(self, "prefix", None, 0, _causal(1, self.prefix, [self.prefix], 0))

    def bucket_step(self, rows: list[int], width: int) -> "CacheStep":
        """The forward pass over prefill bucket ``rows`` (right padded to ``width`` tokens)."""
        import torch

        mask = _causal(len(rows), width, [self.spans[i] for i in rows], self.prefix)
        return CacheStep(self, "bucket", torch.tensor(rows), self.prefix, mask)

    def decode_step(self, step: int, device=None, tokens: int = 1) -> "CacheStep":
        """Decode step ``step``: ``tokens`` new tokens per row (one when generating; a fixed
        text's tokens when scoring it), the first at column ``prefix + span + step``, each
        seeing the row's columns up to its own."""
        import torch

        columns = torch.tensor(self.spans) + (self.prefix + step)
        width = _round_up(int(columns.max()) + tokens)
        later = torch.arange(width).view(1, 1, -1) > (columns.view(-1, 1, 1) + torch.arange(tokens).view(1, -1, 1))
        seen = torch.zeros(len(self.spans), 1, tokens, width)
        seen[:, 0].masked_fill_(later, float("-inf"))
        return CacheStep(self, "decode", None, columns, seen.to(device) if device is not None else seen)

    def take(self, rows, budget: int) -> "RowCache":
        """A cache of ``rows`` (a tensor; repeats allowed) holding their columns of this one, with
        room for ``budget`` more tokens each: one prefilled prompt continued by many texts."""
        taken = RowCache(prefix=self.prefix, spans=[self.spans[int(i)] for i in rows], budget=budget)
        layers, _, _, kv_heads, _, dim = self.buffer.shape
        taken.allocate(layers, kv_heads, dim, self.buffer.dtype, self.buffer.device)
        width = min(self.capacity(), taken.capacity())
        taken.buffer[..., :width, :] = self.buffer.index_select(2, rows)[..., :width, :]
        if self.scales is not None:
            taken.scales[..., :width] = self.scales.index_select(2, rows)[..., :width]
        return taken

    def nbytes(self) -> int:
        """Bytes the cache holds."""
        scales = 0 if self.scales is None else self.scales.numel() * self.scales.element_size()
        return self.buffer.numel() * self.buffer.element_size() + scales


def _causal(rows: int, width: int, spans: list[int], prefix: int):
    """Additive mask ``(rows, 1, width, keys)`` of a prefill pass over ``width`` tokens after
    ``prefix`` columns (``keys`` = their sum rounded up to :data:`ALIGN`): the prefix visible,
    then causal over the row's real tokens (its first ``spans[i]``); a padding position sees
    itself only, so its (unused) output stays finite."""
    import torch

    keys = _round_up(prefix + width)
    cols = torch.arange(keys - prefix)
    query = torch.arange(width)
    real = (query.unsqueeze(0) < torch.tensor(spans).unsqueeze(1))                    # (rows, width)
    seen = (cols.unsqueeze(0) <= query.unsqueeze(1)).unsqueeze(0) & real.unsqueeze(2)   # (rows, query, key)
    seen |= (cols.unsqueeze(0) == query.unsqueeze(1)).unsqueeze(0)
    mask = torch.zeros(rows, 1, width, keys)
    mask[:, 0, :, prefix:].masked_fill_(~seen, float("-inf"))
    return mask


@dataclass
class CacheStep:
    """One forward pass's view of a :class:`RowCache`: where its new keys and values go
    and what each query may attend to (``mask``, additive, ``(rows, 1, tokens, keys)``)."""

    cache: RowCache
    kind: str          # "prefix", "bucket" or "decode"
    rows: object       # bucket rows (a tensor), None: every row
    column: object     # buffer column of the pass's first token (decode: one per row, a tensor)
    mask: object

    def store(self, layer: int, key, value) -> tuple:
        """Write the pass's keys and values into the cache; what to attend over, ``mask.shape[-1]``
        columns laid out by position, as the cache holds them: ``(keys, values, key_steps,
        value_steps)``, the steps None unless the cache is int8 (then keys and values are its
        integers, as floats, and ``steps`` ``(rows, kv_heads, width)`` scale them)."""
        import torch

        cache = self.cache
        (k, ks), (v, vs) = _held(key, cache.buffer.dtype), _held(value, cache.buffer.dtype)
        keys, values = cache.buffer[layer]
        steps = (None, None) if cache.scales is None else cache.scales[layer]
        width = self.mask.shape[-1]
        if self.kind == "prefix":  # one prefix (or one per adapter group) copied into every row
            pick = slice(None) if cache.group_of is None else cache.group_of.to(key.device)
            at = (slice(None), slice(None), slice(None, cache.prefix))
            _write(keys, steps[0], at, k[pick], None if ks is None else ks[pick])
            _write(values, steps[1], at, v[pick], None if vs is None else vs[pick])
            return tuple(None if t is None else _pad(t, width, key.dtype) for t in (k, v, ks, vs))
        if self.kind == "bucket":
            at = (self.rows, slice(None), slice(self.column, self.column + key.shape[2]))
            _write(keys, steps[0], at, k, ks)
            _write(values, steps[1], at, v, vs)
            return _read(keys, values, steps, self.rows, width, key.dtype)
        if key.shape[2] == 1:  # one token per row (generation's hot path: plain indices)
            at = (torch.arange(key.shape[0], device=key.device), slice(None), self.column.to(key.device))
            k, v, ks, vs = (None if t is None else t[:, :, 0] for t in (k, v, ks, vs))
        else:  # a text per row: row i's tokens at columns column[i] ..
            columns = self.column.to(key.device).unsqueeze(1) + torch.arange(key.shape[2], device=key.device)
            at = (torch.arange(key.shape[0], device=key.device).unsqueeze(1), slice(None), columns)
            k, v, ks, vs = (None if t is None else t.transpose(1, 2) for t in (k, v, ks, vs))
        _write(keys, steps[0], at, k, ks)
        _write(values, steps[1], at, v, vs)
        return _read(keys, values, steps, slice(None), width, key.dtype)


def _held(x, dtype) -> tuple:
    """``x`` (rows, kv_heads, tokens, dim) as a cache of ``dtype`` holds it: ``(values, steps)``;
    int8: each vector's integers and its step (``x ~ values * steps``), else ``x`` rounded
    to ``dtype`` and None. Every pass reads keys and values so, whether fresh or cached."""
    import torch

    if dtype != torch.int8:
        return (x if x.dtype == dtype else x.to(dtype)), None
    step = x.abs().amax(dim=-1).clamp_(min=1e-12) / 127.0
    return torch.div(x, step.unsqueeze(-1)).round_().to(torch.int8), step


def _write(buffer, steps, at, values, value_steps) -> None:
    """Store ``values`` (and their int8 ``value_steps``) at index ``at`` of ``buffer``."""
    buffer[at] = values
    if steps is not None:
        steps[at] = value_steps


def _read(keys, values, steps, rows, width: int, dtype) -> tuple:
    """The cache's first ``width`` columns of ``rows`` for attention, in ``dtype`` (the widening copy)."""
    out = (keys[rows, :, :width].to(dtype), values[rows, :, :width].to(dtype))
    if steps[0] is None:
        return (*out, None, None)
    return (*out, steps[0][rows, :, :width], steps[1][rows, :, :width])


def _pad(x, width: int, dtype):
    """``x`` (rows, kv_heads, tokens[, dim]) in ``dtype``, zero padded to ``width`` tokens."""
    import torch

    pad = (0, 0, 0, width - x.shape[2]) if x.dim() == 4 else (0, width - x.shape[2])
    return torch.nn.functional.pad(x.to(dtype), pad)


def row_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
                  row_cache: CacheStep | None = None, **kwargs):
    """transformers attention function: over a :class:`CacheStep` when the forward pass has
    one (``row_cache``), else SDPA. Returns ``(output (rows, tokens, heads, dim), None)``."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if row_cache is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    rows, heads, tokens, dim = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads
    keys, values, key_steps, value_steps = row_cache.store(module.layer_idx, key, value)
    mask = row_cache.mask
    if row_cache.kind != "decode" and tokens == 1:  # a prefill pass multiplies at least 2 x group query rows
        query, mask = torch.cat([query, query], dim=2), torch.cat([mask, mask], dim=2)
    out = _attend(query.reshape(rows, kv_heads, -1, dim), (keys, key_steps), (values, value_steps), mask, group,
                  scaling if scaling is not None else dim ** -0.5)
    return out.view(rows, heads, -1, dim)[:, :, :tokens].transpose(1, 2), None


def _attend(q, keys, values, mask, group: int, scaling: float):
    """Softmax attention of ``q`` (rows, kv_heads, group x tokens, dim) over ``keys``/``values``
    (each ``(tensor (rows, kv_heads, width, dim), steps (rows, kv_heads, width) or None)``: an
    int8 cache's integers and their steps), reduced as the module doc says (batch-independent).
    A key's step scales its scores, a value's step the weights it is summed with: products over
    ``width`` x ``dim`` read the integers, the steps cost ``width`` multiplications per query."""
    import torch

    (keys, key_steps), (values, value_steps) = keys, values
    rows, kv_heads, queries, dim = q.shape
    width = keys.shape[2]
    scores = torch.matmul(q, keys.transpose(-1, -2)).float()
    if key_steps is not None:
        scores.mul_(key_steps.unsqueeze(2))
    scores.mul_(scaling)
    scores = scores.view(rows, kv_heads, group, queries // group, width).add_(mask.unsqueeze(1))
    weights = torch.exp(scores.sub_(scores.amax(dim=-1, keepdim=True)))
    weights = weights.to(q.dtype).view(rows, kv_heads, queries, width)
    out = total = None
    for start in range(0, width, CHUNK):  # in order: the same sums for a row in any batch
        part, vals = weights[..., start:start + CHUNK], values[:, :, start:start + CHUNK]
        if part.shape[-1] < CHUNK:  # always CHUNK keys: another length, another summation order
            part = torch.nn.functional.pad(part, (0, CHUNK - part.shape[-1]))
            vals = torch.nn.functional.pad(vals, (0, 0, 0, CHUNK - vals.shape[2]))
        scaled = part
        if value_steps is not None:
            steps = value_steps[:, :, start:start + CHUNK]
            steps = torch.nn.functional.pad(steps, (0, CHUNK - steps.shape[-1])).to(part.dtype)
            scaled = part * steps.unsqueeze(2)
        if out is None:
            out, total = torch.matmul(scaled, vals), part.sum(dim=-1, keepdim=True)
        else:
            out.add_(torch.matmul(scaled, vals))
            total.add_(part.sum(dim=-1, keepdim=True))
    return out.div_(total)


def kv_shape(config, dtype) -> tuple:
    """``(layers, kv_heads, head_dim, dtype)`` of a decoder's KV cache, from its config."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, getattr(config, "num_key_value_heads", None) or heads, head_dim, dtype
