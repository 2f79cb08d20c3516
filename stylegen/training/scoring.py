"""Scoring copy under a model: completion-only perplexity.

A component of its own that takes a model and tokenized rows (prompt tokens masked with
-100), so training, eval and any engine (transformers, vLLM) share one definition of
perplexity without eval reaching into an engine's internals.
"""
from __future__ import annotations

import math

from stylegen.training.collate import CompletionCollator


def completion_perplexity(model, rows: list[dict], pad_id: int, batch_size: int = 8, use_bf16: bool = False) -> dict:
    """Perplexity of the completion tokens only (labels != -100) of ``rows``.

    Returns:
        ``{"perplexity", "nll", "tokens"}`` where ``nll`` is the mean per-token NLL.
    """
    import torch

    collate = CompletionCollator(pad_id)
    total_nll, total_tokens = 0.0, 0
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))  # little padding
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16 and not torch.cuda.is_available())
    with torch.no_grad(), autocast:
        for start in range(0, len(order), batch_size):
            batch = collate([rows[i] for i in order[start:start + batch_size]])
            batch = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in batch.items()}
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()
            labels = labels[:, 1:]
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels.reshape(-1),
                                                    ignore_index=-100, reduction="sum")
            total_nll += nll.item()
            total_tokens += int((labels != -100).sum())
    mean = total_nll / max(total_tokens, 1)
    return {"perplexity": round(math.exp(mean), 4), "nll": round(mean, 5), "tokens": total_tokens}


def model_is_bf16(model) -> bool:
    """Whether a model's weights are bf16 (score under bf16 autocast then)."""
    return "bfloat16" in str(next(model.parameters()).dtype)


class PerplexityScorer:
    """Scores token rows under one model (the component eval uses beside an engine).

    Args:
        model: a transformers causal LM (a PEFT model, merged or not, works too).
        tokenizer: its tokenizer (for the pad id).
    """

    def __init__(self, model, tokenizer):
        self.model, self.pad_id = model, tokenizer.pad_token_id

    def perplexity(self, rows: list[dict], batch_size: int = 8) -> dict:
        """Completion-only perplexity of ``rows``; bf16 autocast when the weights are bf16."""
        return completion_perplexity(self.model, rows, self.pad_id, batch_size, model_is_bf16(self.model))
