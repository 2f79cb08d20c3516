"""A vLLM engine behind the :class:`~stylegen.generation.engine.Engine` interface (GPU path).

One ``vllm.LLM`` with LoRA enabled and prefix caching on (every prompt of a brand shares
its system prompt); each request carries its own ``SamplingParams(seed=...)`` so a row's
text does not depend on its batch, and its own ``LoRARequest``, so one batch can mix brands'
adapters. vLLM is an optional extra (``pip install .[vllm]``), imported lazily, never pulled
by the default install or CI; ``scripts/gpu_check.sh`` runs its contract test on a GPU.
"""
from __future__ import annotations

from pathlib import Path

from stylegen.errors import ConfigError
from stylegen.generation.engine import Engine, GenRequest, GenResult
from stylegen.kit.prompts import render_prompt

DEFAULT_MAX_LORA_RANK = 16  # vLLM's default max_lora_rank; it accepts up to 512 when raised


def import_vllm():
    """vLLM, or a :class:`ConfigError` (exit 2) saying how to install the extra."""
    try:
        import vllm
    except ImportError as exc:
        raise ConfigError(f"the vLLM engine needs the vllm extra on a GPU machine ({exc}):"
                          " `pip install -e .[vllm]`") from exc
    return vllm


class VLLMEngine(Engine):
    """Generation with vLLM: per-request LoRA adapter and seed, prefix caching.

    Args:
        base_model: model id or folder.
        adapters: adapter name -> folder; a request picks one with ``adapter_for(key)``.
        adapter_for: maps a request's key (``row/task``) to an adapter name (None: base model);
            by default every request uses the only adapter, if there is exactly one.
        dtype: vLLM dtype (``auto``, ``float16``, ``bfloat16``, ``float32``).
        max_lora_rank: the largest adapter rank this engine accepts.
        llm_kwargs: extra ``vllm.LLM`` arguments (``gpu_memory_utilization``, ``max_model_len``...).
    """

    name = "vllm"

    def __init__(self, base_model: str, adapters: dict | None = None, adapter_for=None, dtype: str = "auto",
                 max_lora_rank: int = DEFAULT_MAX_LORA_RANK, **llm_kwargs):
        vllm = import_vllm()
        from vllm.lora.request import LoRARequest

        self.adapters = {name: str(Path(p)) for name, p in (adapters or {}).items()}
        self._lora = {name: LoRARequest(name, i + 1, path) for i, (name, path) in enumerate(self.adapters.items())}
        only = next(iter(self.adapters)) if len(self.adapters) == 1 else None
        self.adapter_for = adapter_for or (lambda key: only)
        self.base_model, self.dtype = base_model, dtype
        self.llm = vllm.LLM(model=base_model, dtype=dtype, enable_lora=bool(self.adapters),
                            max_lora_rank=max_lora_rank, max_loras=max(1, len(self.adapters)),
                            enable_prefix_caching=True, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    def describe(self) -> dict:
        return {"engine": self.name, "base_model": self.base_model, "dtype": self.dtype,
                "adapters": sorted(self.adapters), "prefix_caching": True}

    def render(self, messages: list[dict]) -> str:
        return render_prompt(self.tokenizer, messages)

    def sampling_params(self, req: GenRequest):
        """The request's own ``SamplingParams`` (its seed: independent of its batch)."""
        from vllm import SamplingParams

        return SamplingParams(seed=req.seed % (2**63), max_tokens=req.max_new_tokens,
                              min_tokens=req.min_new_tokens,
                              temperature=req.temperature if req.do_sample else 0.0,
                              top_p=req.top_p if req.do_sample else 1.0,
                              repetition_penalty=req.repetition_penalty, logprobs=0,
                              allowed_token_ids=_sorted_or_none(self.allowed_ids(req)))

    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        if not requests:
            return []
        import time

        # a multi-brand run names each request's adapter; otherwise the key decides
        lora = [self._lora.get(r.adapter or self.adapter_for(r.key)) if self.adapters else None for r in requests]
        started = time.perf_counter()
        outs = self.llm.generate([r.prompt for r in requests], [self.sampling_params(r) for r in requests],
                                 lora_request=lora if self.adapters else None, use_tqdm=False)
        share = (time.perf_counter() - started) / len(requests)
        return [_result(req, out, share) for req, out in zip(requests, outs)]


    def score(self, requests: list[GenRequest]) -> list[GenResult]:
        """Mean log-probability of each fixed ``text`` (end-of-turn included) after its prompt,
        from vLLM's prompt log-probabilities (prefix caching shares the prompts' prefix)."""
        if not requests:
            return []
        import time

        from vllm import SamplingParams

        stop = self.lexicon_stops()[0]
        prompts = [self.tokenizer(r.prompt, add_special_tokens=False)["input_ids"] for r in requests]
        texts = [self.tokenizer(r.text or "", add_special_tokens=False)["input_ids"] + [stop] for r in requests]
        lora = [self._lora.get(r.adapter or self.adapter_for(r.key)) if self.adapters else None for r in requests]
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        started = time.perf_counter()
        outs = self.llm.generate([{"prompt_token_ids": p + t} for p, t in zip(prompts, texts)], params,
                                 lora_request=lora if self.adapters else None, use_tqdm=False)
        share = (time.perf_counter() - started) / len(requests)
        results = []
        for req, p, t, out in zip(requests, prompts, texts, outs):
            logprobs = [out.prompt_logprobs[len(p) + k][tid].logprob for k, tid in enumerate(t)]
            results.append(GenResult(req.key, req.text or "", len(p), 0, share, True, sum(logprobs) / len(t)))
        return results


def _sorted_or_none(ids):
    return sorted(ids) if ids is not None else None


def _result(req: GenRequest, out, seconds: float) -> GenResult:
    completion = out.outputs[0]
    logprobs = getattr(completion, "cumulative_logprob", None)
    n = len(completion.token_ids)
    return GenResult(req.key, completion.text, len(out.prompt_token_ids), n, seconds,
                     completion.finish_reason == "stop",
                     (logprobs / n) if logprobs is not None and n else None)
