"""The generation KV cache: the prompts' shared prefix held once, every row's own tokens in
one buffer allocated once, and the attention that reads both (issue 24).

transformers' ``DynamicCache`` grows each layer's keys and values by concatenation at every
step (a copy of the whole cache per layer and token, and freed blocks of every size left
to the allocator), and a prefilled batch held the shared prefix once per row. Here, per
layer:

* the prefix keys/values ``(groups, kv_heads, prefix, dim)``: one group, or one per adapter
  in a mixed-adapter batch (``group_of`` maps each row to its own);
* a buffer ``(rows, kv_heads, span + budget, dim)``: row ``i``'s prompt tokens after the
  prefix end at column ``span`` (left padded, the padding masked), generated token ``t``
  (its input, to be exact) is written at column ``span + t``.

:func:`row_attention` is registered with transformers as the attention implementation
``stylegen`` (:func:`stylegen.compat.transformers.use_attention`). A forward pass given a
:class:`CacheStep` (keyword ``row_cache``) writes its new keys and values into the cache
and attends over prefix + the row's visible columns, in float32 softmax like SDPA; without
one it is transformers' own SDPA attention (scoring, perplexity). Rows never mix: every
product is per row (the shared prefix is one matrix every row multiplies by).
"""
from __future__ import annotations

from dataclasses import dataclass, field

ATTENTION = "stylegen"


@dataclass
class RowCache:
    """The KV cache of one generation batch (see module doc).

    Attributes:
        span: columns of the longest prompt part after the shared prefix (the last prompt
            token excluded: it is decode step 0's input).
        spans: each row's own count of those columns.
        budget: decode steps the buffer has room for.
        group_of: each row's prefix group (a tensor), None when all rows share one prefix.
    """

    span: int
    spans: list[int]
    budget: int
    group_of: object = None
    prefix: dict = field(default_factory=dict)   # layer -> (keys, values)
    buffer: object = None                        # (layers, 2, rows, kv_heads, span + budget, dim)
    valid: object = None                         # (rows, span + budget) bool: columns a row attends to

    def __post_init__(self):
        import torch

        self.valid = torch.zeros(len(self.spans), self.span + self.budget, dtype=torch.bool)
        for i, s in enumerate(self.spans):
            self.valid[i, self.span - s:self.span] = True

    def allocate(self, layers: int, kv_heads: int, head_dim: int, dtype, device=None) -> "RowCache":
        """Allocate the buffer, zeroed (the padding is masked, but must be finite), in one
        block before any forward pass: transient activations allocated later can then not
        leave it fragmented, and freeing it gives it all back."""
        import torch

        shape = (layers, 2, len(self.spans), kv_heads, self.span + self.budget, head_dim)
        self.buffer = torch.zeros(shape, dtype=dtype, device=device)
        return self

    def prefix_step(self, length: int) -> "CacheStep":
        """The forward pass over the shared prefix (``length`` tokens, causal)."""
        return CacheStep(self, "prefix", None, 0, _causal(1, length, [length], 0))

    def bucket_step(self, rows: list[int], width: int) -> "CacheStep":
        """The forward pass over prefill bucket ``rows`` (left padded to ``width`` tokens)."""
        import torch

        mask = _causal(len(rows), width, [self.spans[i] for i in rows], self.prefix_len())
        return CacheStep(self, "bucket", torch.tensor(rows), self.span - width, mask)

    def decode_step(self, step: int, device=None) -> "CacheStep":
        """Decode step ``step``: one new token per row at column ``span + step``."""
        import torch

        column = self.span + step
        self.valid[:, column] = True
        seen = torch.zeros(len(self.spans), 1, 1, self.prefix_len() + column + 1)
        seen[:, 0, 0, self.prefix_len():].masked_fill_(~self.valid[:, :column + 1], float("-inf"))
        return CacheStep(self, "decode", None, column, seen.to(device) if device is not None else seen)

    def prefix_len(self) -> int:
        """Tokens of the shared prefix (0 before it is computed, or when there is none)."""
        return next(iter(self.prefix.values()))[0].shape[2] if self.prefix else 0

    def nbytes(self) -> int:
        """Bytes the cache holds (buffer and prefix)."""
        held = [t for kv in self.prefix.values() for t in kv] + [self.buffer]
        return sum(t.numel() * t.element_size() for t in held)


def _causal(rows: int, width: int, spans: list[int], prefix: int):
    """Additive mask ``(rows, 1, width, prefix + width)``: the prefix visible, then causal
    over the row's real tokens (the last ``spans[i]`` of ``width``); a padding position
    sees itself only, so its (unused) output stays finite."""
    import torch

    cols = torch.arange(width)
    real = cols.unsqueeze(0) >= (width - torch.tensor(spans)).unsqueeze(1)           # (rows, width)
    causal = cols.unsqueeze(1) >= cols.unsqueeze(0)                                   # (query, key)
    seen = (causal.unsqueeze(0) & real.unsqueeze(1)) | torch.eye(width, dtype=torch.bool).unsqueeze(0)
    mask = torch.zeros(rows, 1, width, prefix + width)
    mask[:, 0, :, prefix:].masked_fill_(~seen, float("-inf"))
    return mask


@dataclass
class CacheStep:
    """One forward pass's view of a :class:`RowCache`: where its new keys and values go
    and what each query may attend to (``mask``, additive, ``(rows, 1, tokens, keys)``)."""

    cache: RowCache
    kind: str          # "prefix", "bucket" or "decode"
    rows: object       # bucket rows (a tensor), None: every row
    column: int        # buffer column of the pass's first token
    mask: object

    def store(self, layer: int, key, value) -> tuple:
        """Write the pass's keys and values into the cache; the row part to attend over."""
        cache = self.cache
        if key.dtype != cache.buffer.dtype:  # every pass reads keys and values as the cache holds them,
            # whether a token sits in the prefix, its bucket or the buffer (which depends on the batch)
            key, value = key.to(cache.buffer.dtype).to(key.dtype), value.to(cache.buffer.dtype).to(value.dtype)
        if self.kind == "prefix":
            cache.prefix[layer] = (key, value)
            return key, value
        keys, values = cache.buffer[layer]
        end = self.column + key.shape[2]
        if self.kind == "bucket":
            keys[self.rows, :, self.column:end] = key.to(keys.dtype)
            values[self.rows, :, self.column:end] = value.to(values.dtype)
            return key, value
        keys[:, :, self.column:end] = key
        values[:, :, self.column:end] = value
        return keys[:, :, :end].to(key.dtype), values[:, :, :end].to(value.dtype)  # no copy when held alike

    def prefix_for(self, layer: int):
        """The shared prefix's (keys, values) for this pass's rows (None: no prefix)."""
        if self.kind == "prefix" or layer not in self.cache.prefix:
            return None
        keys, values = self.cache.prefix[layer]
        if keys.shape[0] == 1:
            return keys, values  # broadcast in the product: one copy for every row
        pick = self.cache.group_of if self.rows is None else self.cache.group_of[self.rows]
        return keys.index_select(0, pick.to(keys.device)), values.index_select(0, pick.to(keys.device))


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
    prefix = row_cache.prefix_for(module.layer_idx)
    q = query.reshape(rows, kv_heads, group * tokens, dim)  # query head h reads kv head h // group
    scores = torch.matmul(q, keys.transpose(-1, -2))
    if prefix is not None:
        scores = torch.cat([torch.matmul(q, prefix[0].transpose(-1, -2)), scores], dim=-1)
    scores = scores.float().mul_(scaling if scaling is not None else dim ** -0.5)
    scores = scores.view(rows, kv_heads, group, tokens, -1).add_(row_cache.mask.unsqueeze(1))
    probs = torch.softmax(scores, dim=-1).to(query.dtype).view(rows, kv_heads, group * tokens, -1)
    if prefix is None:
        out = torch.matmul(probs, values)
    else:
        split = prefix[0].shape[2]
        out = torch.matmul(probs[..., :split], prefix[1]) + torch.matmul(probs[..., split:], values)
    return out.view(rows, heads, tokens, dim).transpose(1, 2), None


def kv_shape(config, dtype) -> tuple:
    """``(layers, kv_heads, head_dim, dtype)`` of a decoder's KV cache, from its config."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, getattr(config, "num_key_value_heads", None) or heads, head_dim, dtype
