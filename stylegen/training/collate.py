"""Batches for completion-only training and scoring: left padding, fixed widths, a logits window."""
from __future__ import annotations



class CompletionCollator:
    """Left-pads a batch and keeps logits only where the loss needs them.

    Labels come from :func:`stylegen.training.data.tokenize`, never from comparing ids with the pad
    id, so an end-of-turn token that equals the pad token still carries loss. Left padding
    puts every completion at the right edge, so the model computes the vocabulary logits
    (a 49k-wide matrix product and softmax per position) only for the last ``K`` positions,
    ``K`` = longest completion + 1, instead of for the prompt tokens too; ``labels`` are cut
    to the same window. ``position_ids`` restart at 0 after the padding.

    Widths (and ``K``) are rounded up to ``pad_to_multiple_of``: with free lengths nearly
    every batch has a new shape, and each new shape leaves oneDNN primitives and odd-sized
    freed blocks behind, so the process grew by ~14 MB a step over a full run (2.5 -> 5 GB
    peak RSS on the sample data); a few fixed widths cap that for a few % more padding.
    """

    def __init__(self, pad_id: int, pad_to_multiple_of: int = 1):
        self.pad_id = pad_id
        self.multiple = max(1, int(pad_to_multiple_of))

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = _round_up(max(len(f["input_ids"]) for f in features), self.multiple)
        keep = min(width, _round_up(1 + max(_completion_len(f["labels"]) for f in features), self.multiple))

        def pad(key, value):
            return torch.tensor([[value] * (width - len(f[key])) + list(f[key]) for f in features])

        mask = pad("attention_mask", 0)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return {"input_ids": pad("input_ids", self.pad_id), "attention_mask": mask, "position_ids": positions,
                "labels": pad("labels", -100)[:, -keep:], "logits_to_keep": keep}


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _completion_len(labels: list[int]) -> int:
    """Number of tokens from the first loss-carrying one to the end (the completion sits at
    the end; masked spans inside it, ``on_invalid: mask``, do not shorten the window)."""
    for n, label in enumerate(labels):
        if label != -100:
            return len(labels) - n
    return 0


def padding_share(lengths: list[int], batch_size: int, grouped: bool = True, seed: int = 0,
                  pad_to_multiple_of: int = 1) -> float:
    """Share of pad tokens in one epoch of batches, as Trainer would draw them.

    Args:
        lengths: token count of each training example.
        batch_size: examples per batch.
        grouped: batches from transformers' ``LengthGroupedSampler`` (what ``train`` uses);
            False for plain random batches padded to their longest example.
        seed: sampler seed.
        pad_to_multiple_of: batch width rounding, as :class:`CompletionCollator` does it.
    """
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(seed)
    if grouped:
        order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
    else:
        order = torch.randperm(len(lengths), generator=generator).tolist()
    padded = real = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start:start + batch_size]]
        padded += _round_up(max(batch), pad_to_multiple_of) * len(batch)
        real += sum(batch)
    return 1 - real / padded if padded else 0.0
