"""The generation KV cache: every row's keys and values in one buffer allocated once, laid
out by position, and the attention that reads it so that a row's result does not depend on
its batch (issue 24).

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
                    f"{CHUNK}-key chunks (batch-independent)")


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
        return self

    def prefix_step(self) -> "CacheStep":
        """The forward pass over the shared prefix (causal)."""
        return CacheStep(self, "prefix", None, 0, _causal(1, self.prefix, [self.prefix], 0))

    def bucket_step(self, rows: list[int], width: int) -> "CacheStep":
        """The forward pass over prefill bucket ``rows`` (right padded to ``width`` tokens)."""
        import torch

        mask = _causal(len(rows), width, [self.spans[i] for i in rows], self.prefix)
        return CacheStep(self, "bucket", torch.tensor(rows), self.prefix, mask)

    def decode_step(self, step: int, device=None) -> "CacheStep":
        """Decode step ``step``: one new token per row, at column ``prefix + span + step``."""
        import torch

        columns = torch.tensor(self.spans) + (self.prefix + step)
        width = _round_up(int(columns.max()) + 1)
        seen = torch.zeros(len(self.spans), 1, 1, width)
        seen[:, 0, 0].masked_fill_(torch.arange(width).unsqueeze(0) > columns.unsqueeze(1), float("-inf"))
        return CacheStep(self, "decode", None, columns, seen.to(device) if device is not None else seen)

    def nbytes(self) -> int:
        """Bytes the cache holds."""
        return self.buffer.numel() * self.buffer.element_size()


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
        """Write the pass's keys and values into the cache; the (keys, values) to attend
        over, ``mask.shape[-1]`` columns laid out by position."""
        import torch

        cache = self.cache
        if key.dtype != cache.buffer.dtype:  # every pass reads keys and values as the cache holds them
            key, value = key.to(cache.buffer.dtype).to(key.dtype), value.to(cache.buffer.dtype).to(value.dtype)
        keys, values = cache.buffer[layer]
        width = self.mask.shape[-1]
        if self.kind == "prefix":  # one prefix (or one per adapter group) copied into every row
            pick = slice(None) if cache.group_of is None else cache.group_of.to(key.device)
            keys[:, :, :cache.prefix] = key[pick].to(keys.dtype)
            values[:, :, :cache.prefix] = value[pick].to(values.dtype)
            pad = (0, 0, 0, width - key.shape[2])
            return torch.nn.functional.pad(key, pad), torch.nn.functional.pad(value, pad)
        if self.kind == "bucket":
            end = self.column + key.shape[2]
            keys[self.rows, :, self.column:end] = key.to(keys.dtype)
            values[self.rows, :, self.column:end] = value.to(values.dtype)
            return keys[self.rows, :, :width].to(key.dtype), values[self.rows, :, :width].to(value.dtype)
        at = torch.arange(key.shape[0], device=key.device)
        keys[at, :, self.column.to(key.device)] = key[:, :, 0].to(keys.dtype)
        values[at, :, self.column.to(key.device)] = value[:, :, 0].to(values.dtype)
        return keys[:, :, :width].to(key.dtype), values[:, :, :width].to(value.dtype)  # no copy when held alike


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
    keys, values = row_cache.store(module.layer_idx, key, value)
    mask = row_cache.mask
    if row_cache.kind != "decode" and tokens == 1:  # a prefill pass multiplies at least 2 x group query rows
        query, mask = torch.cat([query, query], dim=2), torch.cat([mask, mask], dim=2)
    out = _attend(query.reshape(rows, kv_heads, -1, dim), keys, values, mask, group,
                  scaling if scaling is not None else dim ** -0.5)
    return out.view(rows, heads, -1, dim)[:, :, :tokens].transpose(1, 2), None


def _attend(q, keys, values, mask, group: int, scaling: float):
    """Softmax attention of ``q`` (rows, kv_heads, group x tokens, dim) over ``keys``/``values``
    (rows, kv_heads, width, dim), reduced as the module doc says (batch-independent)."""
    import torch

    rows, kv_heads, queries, dim = q.shape
    width = keys.shape[2]
    scores = torch.matmul(q, keys.transpose(-1, -2)).float().mul_(scaling)
    scores = scores.view(rows, kv_heads, group, queries // group, width).add_(mask.unsqueeze(1))
    weights = torch.exp(scores.sub_(scores.amax(dim=-1, keepdim=True)))
    weights = weights.to(q.dtype).view(rows, kv_heads, queries, width)
    out = total = None
    for start in range(0, width, CHUNK):  # in order: the same sums for a row in any batch
        part, vals = weights[..., start:start + CHUNK], values[:, :, start:start + CHUNK]
        if part.shape[-1] < CHUNK:  # always CHUNK keys: another length, another summation order
            part = torch.nn.functional.pad(part, (0, CHUNK - part.shape[-1]))
            vals = torch.nn.functional.pad(vals, (0, 0, 0, CHUNK - vals.shape[2]))
        if out is None:
            out, total = torch.matmul(part, vals), part.sum(dim=-1, keepdim=True)
        else:
            out.add_(torch.matmul(part, vals))
            total.add_(part.sum(dim=-1, keepdim=True))
    return out.div_(total)


def kv_shape(config, dtype) -> tuple:
    """``(layers, kv_heads, head_dim, dtype)`` of a decoder's KV cache, from its config."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, getattr(config, "num_key_value_heads", None) or heads, head_dim, dtype
