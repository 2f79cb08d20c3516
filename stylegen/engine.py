"""Text generation engines behind one small interface.

``Engine.generate(requests) -> results`` takes fully rendered prompts, each with its own
seed, token budget and sampling settings, and returns one result per request in the same
order. :class:`TransformersEngine` is the real one (batched by prompt length, left
padding, bf16 on CPUs that support it); :class:`ScriptedEngine` replays scripted texts
for tests. A vLLM engine or a Ray Data runner only needs to implement the same two
methods (``render`` and ``generate``).

Determinism: Hugging Face sampling draws from the global RNG, so a row's text would
depend on which rows share its batch. Instead generation runs greedy, and
:class:`_RowSampler`, the last logits processor, samples each row with its own
``torch.Generator`` (seeded per request), applying repetition penalty, temperature and
top-p itself, and leaves only the drawn token finite so greedy picks exactly it. A row's
output is then independent of its batch neighbours up to floating-point differences in
the logits of differently shaped batches (in bf16 those can, rarely, flip a draw that
lands on a probability boundary; in float32 they are far below sampling resolution).
"""
from __future__ import annotations

import abc
import hashlib
import os
import time
from dataclasses import dataclass, field


@dataclass
class GenRequest:
    """One prompt to complete.

    Attributes:
        prompt: Rendered prompt text (chat template applied, generation prompt added).
        seed: Seed of this request's own random generator.
        max_new_tokens: Hard cap on generated tokens.
        min_new_tokens: End-of-turn is forbidden before this many tokens (benchmarks).
        temperature: Softmax temperature (sampling only).
        top_p: Nucleus mass kept (sampling only).
        repetition_penalty: CTRL-style penalty on tokens already in prompt or output.
        do_sample: False for greedy decoding.
        key: Caller's tag, echoed back in the result.
    """

    prompt: str
    seed: int = 0
    max_new_tokens: int = 128
    min_new_tokens: int = 0
    temperature: float = 1.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    do_sample: bool = True
    key: str = ""


@dataclass
class GenResult:
    """The completion of one :class:`GenRequest`."""

    key: str
    text: str
    prompt_tokens: int = 0
    new_tokens: int = 0
    seconds: float = 0.0  # this request's share of its batch's wall time
    finished: bool = True  # stopped at end-of-turn (False: ran into max_new_tokens)


class Engine(abc.ABC):
    """What the run loop needs from a text generator."""

    name = "engine"

    @abc.abstractmethod
    def render(self, messages: list[dict]) -> str:
        """Turn chat messages into the prompt text this engine's model expects."""

    @abc.abstractmethod
    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        """Complete every request; results come back in request order."""

    def describe(self) -> dict:
        """Settings worth recording in a run's manifest."""
        return {"engine": self.name}


def derive_seed(run_seed: int, *parts: object) -> int:
    """A 63-bit seed from the run seed and identifying parts (row id, task, attempt).

    Hash-based, so it does not depend on row order, batch composition or Python's
    per-process string hashing.
    """
    text = "\x1f".join(str(p) for p in (run_seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") & (2**63 - 1)


def prompt_hash(prompt: str) -> str:
    """Short, stable hash of a rendered prompt (for the ledger)."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


# --- scripted fake -------------------------------------------------------------


class ScriptedEngine(Engine):
    """A fake engine for tests: answers come from a function of the request.

    ``script(request) -> str`` sees the whole request (prompt, seed, key), so a test can
    answer by row id, task and attempt, or react to the corrective note in the prompt.
    Every request is kept in ``self.requests`` for assertions.
    """

    name = "scripted"

    def __init__(self, script):
        self.script = script
        self.requests: list[GenRequest] = []

    def render(self, messages: list[dict]) -> str:
        return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"

    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        self.requests.extend(requests)
        out = []
        for req in requests:
            text = self.script(req)
            out.append(GenResult(req.key, text, len(req.prompt.split()), len(text.split()), 0.001, True))
        return out


# --- transformers ----------------------------------------------------------------


def usable_cpus() -> int:
    """CPUs this process may run on (respects affinity and cgroup-style pinning)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set (the usual knob on shared machines), else every usable CPU."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else usable_cpus()


class TransformersEngine(Engine):
    """Batched generation with a Hugging Face causal LM (optionally with a PEFT adapter).

    Args:
        model: A loaded causal LM (eval mode is set here).
        tokenizer: Its tokenizer; must have a chat template.
        batch_size: Requests per forward batch.
        threads: torch intra-op threads (default: :func:`default_threads`).
        info: Extra settings for :meth:`describe` (base model, adapter, dtype).
    """

    name = "transformers"

    def __init__(self, model, tokenizer, batch_size: int = 16, threads: int | None = None, info: dict | None = None):
        import torch

        torch.set_num_threads(threads or default_threads())
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.info = dict(info or {})
        tokenizer.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.stop_ids = _stop_ids(model, tokenizer)

    def describe(self) -> dict:
        import torch

        dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        return {"engine": self.name, "dtype": dtype, "batch_size": self.batch_size,
                "threads": torch.get_num_threads(), **self.info}

    def render(self, messages: list[dict]) -> str:
        from .prompts import render_prompt

        return render_prompt(self.tokenizer, messages)

    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        """Generate in batches of similar prompt length and token budget."""
        encoded = [self.tokenizer(r.prompt, add_special_tokens=False)["input_ids"] for r in requests]
        # Similar budgets and lengths together: less padding and fewer idle finished rows.
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_new_tokens, len(encoded[i])))
        results: list[GenResult | None] = [None] * len(requests)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            for i, res in zip(idx, self._generate_batch([requests[i] for i in idx], [encoded[i] for i in idx])):
                results[i] = res
        return results  # type: ignore[return-value]

    def _generate_batch(self, reqs: list[GenRequest], ids: list[list[int]]) -> list[GenResult]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        width = max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], dtype=torch.long)
        budget = max(r.max_new_tokens for r in reqs)
        config = GenerationConfig(
            max_new_tokens=budget, do_sample=False, num_beams=1, repetition_penalty=1.0,
            eos_token_id=self.stop_ids, pad_token_id=pad, use_cache=True)
        sampler = _RowSampler(reqs, [width - len(x) for x in ids], width, self.stop_ids[0])
        started = time.perf_counter()
        with torch.inference_mode():
            device = self.model.device
            out = self.model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                      generation_config=config, logits_processor=LogitsProcessorList([sampler]))
        seconds = time.perf_counter() - started
        return self._decode(reqs, ids, out[:, width:].tolist(), seconds)

    def _decode(self, reqs, ids, new_ids, seconds) -> list[GenResult]:
        stops = set(self.stop_ids)
        rows = [row[:req.max_new_tokens] for req, row in zip(reqs, new_ids)]
        cuts = [next((k for k, t in enumerate(row) if t in stops), None) for row in rows]
        counts = [len(row) if c is None else c + 1 for row, c in zip(rows, cuts)]
        total = max(1, sum(counts))
        results = []
        for req, prompt_ids, row, c, n in zip(reqs, ids, rows, cuts, counts):
            text = self.tokenizer.decode(row if c is None else row[:c], skip_special_tokens=True)
            results.append(GenResult(req.key, text.strip(), len(prompt_ids), n, seconds * n / total, c is not None))
        return results


def _stop_ids(model, tokenizer) -> list[int]:
    """End-of-turn ids: the tokenizer's EOS, ``<|im_end|>`` if known, the model's EOS ids."""
    ids = []
    candidates = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    model_eos = getattr(model.generation_config, "eos_token_id", None)
    candidates += model_eos if isinstance(model_eos, list) else [model_eos]
    for tid in candidates:
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid not in ids:
            ids.append(tid)
    return ids


_CANDIDATES = 256  # tokens considered for the nucleus before falling back to a full sort


class _RowSampler:
    """Logits processor that samples every row with its own generator (see module doc).

    Also applies each row's repetition penalty (ignoring left padding, so padding cannot
    change a row's result), its min/max token budget, temperature and top-p. Greedy
    decoding then picks the one token left finite.
    """

    def __init__(self, reqs: list[GenRequest], pads: list[int], prompt_width: int, eos_id: int):
        import torch

        self.pads = torch.tensor(pads)
        self.width = prompt_width
        self.eos = eos_id
        self.gens = []
        for r in reqs:
            gen = torch.Generator()
            gen.manual_seed(r.seed)
            self.gens.append(gen)
        self.sample = torch.tensor([r.do_sample for r in reqs])
        self.temp = torch.tensor([max(r.temperature, 1e-5) for r in reqs]).unsqueeze(1)
        self.top_p = torch.tensor([r.top_p for r in reqs]).unsqueeze(1)
        self.penalty = torch.tensor([r.repetition_penalty for r in reqs]).unsqueeze(1)
        self.min_new = torch.tensor([r.min_new_tokens for r in reqs])
        self.max_new = torch.tensor([r.max_new_tokens for r in reqs])

    def __call__(self, input_ids, scores):
        import torch

        scores = scores.float().cpu()
        step = input_ids.shape[1] - self.width  # tokens generated so far
        scores = self._penalize(input_ids.cpu(), scores)
        scores[step < self.min_new, self.eos] = float("-inf")
        chosen = self._choose(scores)
        # A row past its own budget only ends its turn (the batch runs to the largest budget).
        chosen = torch.where(step >= self.max_new, torch.full_like(chosen, self.eos), chosen)
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(chosen)), chosen] = 0.0
        return out.to(input_ids.device)

    def _penalize(self, input_ids, scores):
        import torch

        if bool((self.penalty == 1.0).all()):
            return scores
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        # Padding positions repeat the row's first real token, so padding adds nothing.
        first = input_ids.gather(1, self.pads.unsqueeze(1))
        index = torch.where(positions < self.pads.unsqueeze(1), first, input_ids)
        seen = scores.gather(1, index)
        seen = torch.where(seen > 0, seen / self.penalty, seen * self.penalty)
        return scores.scatter(1, index, seen)

    def _choose(self, scores):
        import torch

        greedy = scores.argmax(dim=-1)
        probs = torch.softmax(scores / self.temp, dim=-1)
        top_p = torch.where(self.sample.unsqueeze(1), self.top_p, torch.zeros_like(self.top_p))
        mass, ids = probs.topk(min(_CANDIDATES, probs.shape[1]), dim=-1)  # sorted, most likely first
        in_nucleus = (mass.cumsum(dim=-1) - mass) < top_p  # the top token always stays
        # Inverse CDF over the nucleus in vocabulary order, not probability order: near-ties
        # that swap places under tiny numeric differences (another batch shape) then cannot
        # change the pick. Tokens outside the nucleus add zero mass.
        if ids.shape[1] < probs.shape[1] and bool(in_nucleus[:, -1].any()):  # nucleus may go further
            mass, ids = probs.sort(dim=-1, descending=True)
            keep = torch.zeros_like(probs, dtype=torch.bool).scatter_(1, ids, (mass.cumsum(dim=-1) - mass) < top_p)
            ids = torch.arange(probs.shape[1]).expand_as(probs)
            mass = probs * keep
        else:
            order = ids.argsort(dim=-1)
            ids, mass = ids.gather(1, order), (mass * in_nucleus).gather(1, order)
        cum = mass.cumsum(dim=-1)
        # One uniform draw per row from that row's own generator: batch-independent.
        draws = torch.stack([torch.rand(1, generator=g, dtype=torch.float64) for g in self.gens]).float()
        pick = torch.searchsorted(cum, draws * cum[:, -1:], right=True).clamp(max=cum.shape[1] - 1)
        sampled = ids.gather(1, pick).squeeze(1)
        # Only a token with mass can be found; the guard covers float rounding at the very end.
        sampled = torch.where(mass.gather(1, pick).squeeze(1) > 0, sampled, greedy)
        return torch.where(self.sample, sampled, greedy)


def load_engine(base_model: str, adapter: str | None = None, dtype: str = "auto",
                batch_size: int = 16, trust_remote_code: bool = False) -> TransformersEngine:
    """Load base model (+ adapter, checked against it) through :mod:`stylegen.models`.

    The LoRA adapter is merged into the base weights: same outputs, no per-layer adapter
    matmuls at inference time.
    """
    from .models import load_model

    model, tokenizer = load_model(base_model, adapter=adapter, dtype=dtype, trust_remote_code=trust_remote_code)
    if adapter is not None and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    info = {"base_model": base_model, "adapter": str(adapter) if adapter else None}
    return TransformersEngine(model, tokenizer, batch_size=batch_size, info=info)
