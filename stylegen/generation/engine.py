"""Text generation engines behind one small interface.

``Engine.generate(requests) -> results`` takes fully rendered prompts, each with its own
seed, token budget and sampling settings, and returns one result per request in the same
order; ``Engine.score(requests)`` ranks fixed texts by the model's likelihood (through the
same prefill, KV cache and attention as generation: each distinct prompt once).
:class:`TransformersEngine` is the real one (the prompts' shared prefix computed once, the
rest prefilled in length buckets, batched decoding, int8 weights on a CPU without bf16
(:mod:`stylegen.generation.precision`), one single-thread batch per core);
:class:`ScriptedEngine` replays scripted texts for tests. Another engine (vLLM:
:mod:`stylegen.generation.vllm_engine`) implements the same abstract methods
(``render``, ``generate``, ``score``, ``describe``) and sets ``tokenizer``.

Determinism: Hugging Face sampling draws from the global RNG, so a row's text would
depend on which rows share its batch. Instead the engine's own decode loop (over the KV
cache of :mod:`stylegen.generation.rowcache`) has :class:`_RowSampler` pick each row's
next token with the row's own ``torch.Generator`` (seeded per request), applying
repetition penalty, temperature and top-p itself. A row's
output is then independent of its batch neighbours up to floating-point differences in
the logits of differently shaped batches: in float32 they are far below sampling
resolution; in bf16 one flipped draw is enough for the rest of a long text to diverge, and
measured on the default model most 64-token texts did diverge somewhere when the batch
split changed. In int8 (:mod:`stylegen.generation.precision`) there are none: every linear
layer quantises each row on its own and multiplies in exact integers, and the row cache's
attention (:mod:`stylegen.generation.rowcache`) lays keys out by position and reduces in
shapes that do not depend on the batch, so a row's text is the same alone and in any batch
(measured on the default model: docs/SCALE.md). The same
requests with the same settings always reproduce exactly, in every precision.
"""
from __future__ import annotations

import abc
import dataclasses
import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Any
from stylegen.compat.peft import BASE, install_row_adapters, loaded_adapters, row_adapters
from stylegen.compat.transformers import use_attention
from stylegen.generation.lexicon import TokenLexicon
from stylegen.generation.precision import cache_dtype, choose_precision, describe_precision, quantise_int8, trim_heap
from stylegen.generation.rowcache import ATTENTION, ATTENTION_KERNEL, RowCache, kv_shape, row_attention
from stylegen.kit.prompts import render_prompt
from stylegen.models import load_model
from stylegen.training.adapter import check_adapter


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
        words: The only words the completion may use, lower case (None: any); digits,
            punctuation and whitespace are always allowed (:mod:`stylegen.generation.lexicon`).
        adapter: The named adapter of a multi-adapter engine this request runs with
            (:func:`load_multi_engine`); None: the engine's own model (its merged adapter, or
            the base model where the engine holds named adapters).
        text: A fixed completion (copy assembled from the facts): nothing is sampled, the
            engine only scores how likely its model finds ``text`` after ``prompt``
            (:func:`complete`).
        grammar: Holds each next token to a grammar, on top of ``words`` (None: none): an
            object whose ``step(generated ids)`` returns ``("only", ids)`` or ``("ban", ids)``
            (:class:`~stylegen.generation.slots.SlotGrammar`). The CPU engine applies it; vLLM
            and the scripted engine ignore it (the slots are still checked after generation).
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
    words: frozenset[str] | None = None
    adapter: str | None = None
    text: str | None = None
    grammar: Any = field(default=None, compare=False, repr=False)


@dataclass
class GenResult:
    """The completion of one :class:`GenRequest`."""

    key: str
    text: str
    prompt_tokens: int = 0
    new_tokens: int = 0
    seconds: float = 0.0  # this request's share of its batch's wall time
    finished: bool = True  # stopped at end-of-turn (False: ran into max_new_tokens)
    # Mean log-probability the model gave its own tokens (end-of-turn included), before
    # temperature and top-p: how fluent the model found the text; None when not known.
    mean_logprob: float | None = None


class Engine(abc.ABC):
    """What the run loop and the other callers need from a text generator.

    Every engine implements the four abstract methods: :meth:`render` (chat messages to its
    prompt text), :meth:`generate` (sample completions), :meth:`score` (rank fixed texts by
    the model's likelihood) and :meth:`describe` (settings for a run's manifest). Lexicons
    (``GenRequest.words``) need :attr:`tokenizer`; :meth:`allowed_ids` and
    :meth:`lexicon_stops` are built on it here and shared by every engine.
    """

    name = "engine"
    tokenizer = None
    """The Hugging Face tokenizer of the engine's model (its ids are the ids a lexicon
    allows); None for an engine without one, which then refuses lexicon requests."""

    @abc.abstractmethod
    def render(self, messages: list[dict]) -> str:
        """Turn chat messages into the prompt text this engine's model expects."""

    @abc.abstractmethod
    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        """Complete every request; results come back in request order."""

    @abc.abstractmethod
    def score(self, requests: list[GenRequest]) -> list[GenResult]:
        """Results for fixed-text requests (``GenRequest.text``), in request order: the text
        itself, and its mean log-probability after the prompt (end-of-turn included) under
        the request's model and adapter, or None where the engine cannot compute it."""

    @abc.abstractmethod
    def describe(self) -> dict:
        """Settings worth recording in a run's manifest (at least ``engine``: its name)."""

    _token_lexicon = None  # TokenLexicon of this engine's tokenizer, built on first use

    def allowed_ids(self, req: GenRequest) -> frozenset[int] | None:
        """The token ids ``req`` may sample (None: all), from its lexicon (``GenRequest.words``).

        Raises:
            ValueError: the request has a lexicon and the engine has no tokenizer.
        """
        if req.words is None:
            return None
        if self.tokenizer is None:
            raise ValueError(f"the {self.name} engine has no tokenizer: it cannot restrict a request to a lexicon")
        if self._token_lexicon is None:

            self._token_lexicon = TokenLexicon(self.tokenizer, self.lexicon_stops())
        return self._token_lexicon.ids(req.words)

    def lexicon_stops(self) -> list[int]:
        """End-of-turn ids a lexicon must always allow (the tokenizer's end-of-sequence)."""
        eos = self.tokenizer.eos_token_id if self.tokenizer is not None else None
        return [eos] if eos is not None else []


def complete(engine: Engine, requests: list[GenRequest]) -> list[GenResult]:
    """Results for ``requests`` in order: fixed texts scored (:meth:`Engine.score`), the
    rest generated (:meth:`Engine.generate`), each in one call."""
    results: list[GenResult | None] = [None] * len(requests)
    sampled = [i for i, r in enumerate(requests) if r.text is None]
    if sampled:
        for i, res in zip(sampled, engine.generate([requests[i] for i in sampled])):
            results[i] = res
    # the same text for the same prompt (variants whose frames ran out) is scored once
    fixed: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        if r.text is not None:
            fixed.setdefault((r.prompt, r.text, r.adapter), []).append(i)
    if fixed:
        scored = engine.score([requests[idx[0]] for idx in fixed.values()])
        for idx, res in zip(fixed.values(), scored):
            for n, i in enumerate(idx):  # the time is counted once
                results[i] = dataclasses.replace(res, key=requests[i].key, seconds=res.seconds if n == 0 else 0.0)
    return results  # type: ignore[return-value]


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

    def score(self, requests: list[GenRequest]) -> list[GenResult]:
        """The fixed texts themselves, unscored (a script has no likelihood); not added to
        ``self.requests``, which holds what was sampled."""
        return [GenResult(key=r.key, text=r.text or "") for r in requests]

    def describe(self) -> dict:
        return {"engine": self.name}


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

    On a CPU the rows in flight are shared by ``workers`` Python threads, each running its
    own batch with ``threads // workers`` torch threads. At these sizes (a 135M model, 32-64
    rows) a decode step is ~1,000 small ops, and two cores that synchronise on every one of
    them wait more than they compute; two independent single-thread batches on two cores
    were 1.4x faster than one two-thread batch (torch releases the GIL inside its ops).

    Args:
        model: A loaded causal LM (eval mode is set here).
        tokenizer: Its tokenizer; must have a chat template.
        batch_size: Rows in flight: split into ``workers`` batches of ``batch_size / workers``.
        threads: CPU threads in all (default: :func:`default_threads`).
        workers: Concurrent batches (default: ``threads`` on a CPU, 1 on an accelerator).
        info: Extra settings for :meth:`describe` (base model, adapter, dtype).
        adapters: Named adapters loaded into ``model`` (a ``PeftModel``, not merged): name ->
            folder. Each request then runs with its own ``GenRequest.adapter`` (None: the
            base model), rows of different adapters in the same batch.
    """

    name = "transformers"

    def __init__(self, model, tokenizer, batch_size: int = 16, threads: int | None = None,
                 workers: int | None = None, info: dict | None = None, adapters: dict | None = None):
        import torch

        threads = max(1, threads or default_threads())
        on_cpu = getattr(model, "device", None) is None or model.device.type == "cpu"
        self.workers = max(1, min(threads, workers or (threads if on_cpu else 1)))
        torch.set_num_threads(max(1, threads // self.workers))
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.info = dict(info or {})
        tokenizer.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.stop_ids = _stop_ids(model, tokenizer)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        use_attention(model, ATTENTION, row_attention)  # generation's KV cache (rowcache.py)
        self.kv_shape = kv_shape(base.config, cache_dtype(model))
        self.adapters = {str(k): str(v) for k, v in (adapters or {}).items()}
        if self.adapters:

            missing = sorted(set(self.adapters) - loaded_adapters(model))
            if missing:
                raise ValueError(f"adapters {missing} are not loaded into the model")
            install_row_adapters(model)

    def lexicon_stops(self) -> list[int]:
        return self.stop_ids

    def describe(self) -> dict:
        """Settings for a run's manifest: ``dtype`` (of the model's float parameters), the
        ``weights`` precision and ``kernel`` that ran (:mod:`stylegen.generation.precision`),
        the dtype the ``kv_cache`` is held in, and the ``attention`` that reads it."""
        import torch


        dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        extra = {"adapters": dict(self.adapters)} if self.adapters else {}
        info = {k: v for k, v in self.info.items() if k != "precision_note"}
        return {"engine": self.name, "dtype": dtype, **describe_precision(self.model, self.info.get("precision_note")),
                "kv_cache": str(self.kv_shape[3]).replace("torch.", ""), "attention": ATTENTION_KERNEL,
                "batch_size": self.batch_size,
                "workers": self.workers, "threads": torch.get_num_threads(),
                **info, **extra}

    def render(self, messages: list[dict]) -> str:

        return render_prompt(self.tokenizer, messages)

    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        """Generate in batches of similar prompt length and token budget, ``workers`` at a time."""
        encoded = [self.tokenizer(r.prompt, add_special_tokens=False)["input_ids"] for r in requests]
        # each request's lexicon ids here, once: not built racing in the worker threads
        allowed = [self.allowed_ids(r) for r in requests]
        # Similar budgets and lengths together: less padding and fewer idle finished rows.
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_new_tokens, len(encoded[i])))
        return self._in_batches(order, lambda idx: self._generate_batch(
            [requests[i] for i in idx], [encoded[i] for i in idx], [allowed[i] for i in idx]))

    def _in_batches(self, order: list[int], run) -> list[GenResult]:
        """``run`` on consecutive slices of ``order`` (one batch per worker share of
        ``batch_size``), ``workers`` at a time; results back in index order.

        Batches are fixed before any runs, so which worker takes which batch cannot change
        a result.
        """
        from concurrent.futures import ThreadPoolExecutor

        size = -(-self.batch_size // self.workers)
        batches = [order[start:start + size] for start in range(0, len(order), size)]
        if self.workers > 1 and len(batches) > 1:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="stylegen-engine") as pool:
                done = list(pool.map(run, batches))
        else:
            done = [run(idx) for idx in batches]
        results: list[GenResult | None] = [None] * len(order)
        for idx, batch in zip(batches, done):
            for i, res in zip(idx, batch):
                results[i] = res
        return results  # type: ignore[return-value]

    def score(self, requests: list[GenRequest]) -> list[GenResult]:
        """Mean log-probability of each fixed ``text`` (end-of-turn included) after its prompt,
        under this engine's model and the request's adapter, in batches of ``batch_size``
        (``workers`` at a time), each distinct prompt of a batch prefilled once."""
        # one prompt's texts together (one prefill), prompts of similar length together (less padding)
        order = sorted(range(len(requests)), key=lambda i: (len(requests[i].prompt), requests[i].prompt,
                                                            str(requests[i].adapter), len(requests[i].text or "")))
        return self._in_batches(order, lambda idx: self._score_batch([requests[i] for i in idx]))

    SCORE_POSITIONS = 1024  # scored positions per forward pass: caps its logits at ~200 MB (49k vocabulary)

    def _score_batch(self, reqs: list[GenRequest]) -> list[GenResult]:
        """Score one batch: every distinct prompt (with its adapter) prefilled once into a
        :class:`RowCache`, as generation prefills (:meth:`_fill`), then each text after its
        prompt's columns, in chunks of rows, through the same cache and attention as
        generation. Many compositions of one row cost one prompt prefill."""
        import torch

        tok = self.tokenizer
        texts = [tok(r.text, add_special_tokens=False)["input_ids"] + [self.stop_ids[0]] for r in reqs]
        names = self._adapter_names(reqs)
        keys = list(dict.fromkeys((r.prompt, r.adapter) for r in reqs))
        which = torch.tensor([keys.index((r.prompt, r.adapter)) for r in reqs])  # each row's prompt
        firsts = [int((which == n).nonzero()[0]) for n in range(len(keys))]
        prompts = [tok(reqs[f].prompt, add_special_tokens=False)["input_ids"] for f in firsts]
        started = time.perf_counter()
        with torch.inference_mode():
            layout = _Layout(prompts, tok.pad_token_id)
            cache = self._fill(layout, [names[f] for f in firsts] if names else None, budget=0)
            logprobs = []
            for rows in _score_chunks([len(t) + 1 for t in texts], [len(t) for t in texts], self.SCORE_POSITIONS):
                logprobs += self._score_rows(rows, texts, which[rows], layout, cache,
                                             [names[i] for i in rows] if names else None)
        seconds = (time.perf_counter() - started) / max(1, len(reqs))
        return [GenResult(key=r.key, text=r.text, prompt_tokens=len(prompts[int(w)]), new_tokens=0, seconds=seconds,
                          mean_logprob=lp) for r, w, lp in zip(reqs, which, logprobs)]

    def _score_rows(self, rows, texts, prompt_of, layout: _Layout, cache: RowCache, names) -> list[float]:
        """Mean log-probabilities of ``texts[i]`` for ``rows``: one pass over each prompt's last
        token and the text (right padded), after that prompt's prefilled columns (``prompt_of``)."""
        import torch

        rests = [[layout.ids[int(p)][-1]] + texts[i] for i, p in zip(rows, prompt_of)]
        width = max(len(x) for x in rests)
        ids = torch.tensor([x + [self.tokenizer.pad_token_id] * (width - len(x)) for x in rests], dtype=torch.long)
        starts = torch.tensor([len(layout.ids[int(p)]) - 1 for p in prompt_of]).unsqueeze(1)
        step = cache.take(prompt_of, budget=width).decode_step(0, self.model.device, tokens=width)
        with row_adapters(names):
            logits = self.model(input_ids=ids.to(self.model.device), position_ids=(starts + torch.arange(width)).to(
                self.model.device), use_cache=False, logits_to_keep=width, row_cache=step).logits
        out = []
        for n, i in enumerate(rows):  # text token k is predicted at position k (after the prompt's last token)
            t = torch.tensor(texts[i])
            lp = torch.log_softmax(logits[n, :len(t)].float(), dim=-1)
            out.append(lp.gather(1, t.unsqueeze(1)).mean().item())
        return out

    def _generate_batch(self, reqs: list[GenRequest], ids: list[list[int]], allowed: list) -> list[GenResult]:
        """One batch: prefilled into a :class:`~stylegen.generation.rowcache.RowCache` (the
        shared prefix once, the rest in buckets), then decoded a token per step, every row
        sampled by its own generator (:class:`_RowSampler`)."""
        import torch

        layout = _Layout(ids, self.tokenizer.pad_token_id)
        names = self._adapter_names(reqs)
        budget = max(r.max_new_tokens for r in reqs)
        sampler = _RowSampler(reqs, layout.pad_mask, self.stop_ids[0], self.stop_ids, allowed=allowed)
        started = time.perf_counter()
        with torch.inference_mode():
            cache = self._fill(layout, names, budget)
            trim_heap()  # the prefill's activations, freed: their pages back before decoding
            new = self._sample(layout, cache, sampler, names, budget)
        seconds = time.perf_counter() - started
        results = self._decode(reqs, ids, new.tolist(), seconds)
        for res, lp in zip(results, sampler.mean_logprobs()):
            res.mean_logprob = lp
        return results

    def _fill(self, layout: "_Layout", names: list[str] | None, budget: int) -> RowCache:
        """A batch's :class:`RowCache` with every prompt token but the last: the shared prefix
        once (once per adapter in a mixed batch), the rest in buckets of similar length."""
        import torch

        groups, group_of = _adapter_groups(names)
        cache = RowCache(prefix=layout.prefix, spans=[layout.span(i) for i in range(len(layout.ids))],
                         budget=budget, group_of=group_of).allocate(*self.kv_shape, device=self.model.device)
        if layout.prefix:
            shared = layout.input_ids[:1, :layout.prefix].expand(len(groups), -1)
            positions = torch.arange(layout.prefix).expand(len(groups), -1)
            self._step(shared, positions, cache.prefix_step(), groups if names else None)
        for rows in layout.buckets():
            ids, positions, span = layout.bucket_rows(rows)
            if span:
                self._step(ids, positions, cache.bucket_step(rows, span), [names[i] for i in rows] if names else None)
        return cache

    def _sample(self, layout: "_Layout", cache: RowCache, sampler: "_RowSampler", names, budget: int):
        """Decode up to ``budget`` tokens per row from the filled ``cache``; the new ids
        (rows, steps), stopping early once every row has ended its turn."""
        import torch

        seq = layout.input_ids
        positions = layout.mask.sum(dim=1, keepdim=True) - 1  # each row's last prompt token
        token = seq[:, -1:]
        for step in range(budget):
            logits = self._step(token, positions + step, cache.decode_step(step, self.model.device), names)
            token = sampler(seq, logits[:, -1]).unsqueeze(1)
            seq = torch.cat([seq, token], dim=1)
            if bool(sampler.done.all()):
                break
        return seq[:, layout.width:]

    def _step(self, ids, positions, step, names=None):
        """One forward pass through the row cache (``step``: a :class:`CacheStep`); the logits
        of each row's last position."""
        device = self.model.device
        with row_adapters(names):
            return self.model(input_ids=ids.to(device), position_ids=positions.to(device), use_cache=False,
                              logits_to_keep=1, row_cache=step).logits

    def _adapter_names(self, reqs: list[GenRequest]) -> list[str] | None:
        """Each row's adapter name for PEFT (``__base__``: none), or None on a single-model engine."""

        asked = sorted({r.adapter for r in reqs if r.adapter is not None} - set(self.adapters))
        if asked:
            raise ValueError(f"requests name adapters this engine does not hold: {asked}"
                             f" (loaded: {sorted(self.adapters) or 'none'})")
        return [r.adapter or BASE for r in reqs] if self.adapters else None

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


class _Layout:
    """Token layout of one batch: ``[shared prefix][padding][rest of the prompt]``.

    Padding sits after the prefix all prompts share, so that prefix is computed once and
    copied into every row; attention masks out the padding and position ids skip it
    (``generate`` derives them from the mask the same way), so a row's positions and
    attention are exactly those it has alone. The last prompt token of every row is left
    for ``generate``, which then continues from the prefilled cache.
    """

    BUCKET_TOKENS = 512    # tokens per prefill forward pass: matmuls stay efficient, activations small
    BUCKET_WASTE = 0.10    # a new bucket rather than more than 10% padding in one

    def __init__(self, ids: list[list[int]], pad_id: int):
        import torch

        self.ids, self.pad_id = ids, pad_id
        self.width = max(len(x) for x in ids)
        self.prefix = _common_prefix(ids)
        rows = [x[:self.prefix] + [pad_id] * (self.width - len(x)) + x[self.prefix:] for x in ids]
        pads = [[False] * self.prefix + [True] * (self.width - len(x)) + [False] * (len(x) - self.prefix) for x in ids]
        self.input_ids = torch.tensor(rows, dtype=torch.long)
        self.pad_mask = torch.tensor(pads, dtype=torch.bool)
        self.mask = (~self.pad_mask).long()
        self._buckets = None

    def span(self, i: int) -> int:
        """Tokens of row ``i`` between the shared prefix and its last token."""
        return len(self.ids[i]) - self.prefix - 1

    def buckets(self) -> list[list[int]]:
        """Rows grouped by similar span, for prefill passes with little padding."""
        if self._buckets is None:
            self._buckets = []
            for i in sorted(range(len(self.ids)), key=self.span):
                bucket = self._buckets[-1] if self._buckets else None
                tokens = sum(self.span(j) for j in bucket or []) + self.span(i)
                padded = (len(bucket or []) + 1) * self.span(i)
                if bucket and padded <= self.BUCKET_TOKENS and tokens >= (1 - self.BUCKET_WASTE) * padded:
                    bucket.append(i)
                else:
                    self._buckets.append([i])
        return self._buckets

    def bucket_rows(self, rows: list[int]):
        """ids, position ids and span of one prefill bucket after the shared prefix, right
        padded (the row cache lays tokens out by position: :mod:`stylegen.generation.rowcache`)."""
        import torch

        span = max(self.span(i) for i in rows)
        ids = torch.tensor([self.ids[i][self.prefix:-1] + [self.pad_id] * (span - self.span(i)) for i in rows],
                           dtype=torch.long)
        return ids, (self.prefix + torch.arange(span)).expand(len(rows), -1), span


def _adapter_groups(names: list[str] | None):
    """The distinct adapters of a batch, in first-seen order, and each row's index into them
    (``[None]`` and None on a single-model engine)."""
    import torch

    if not names:
        return [None], None
    groups = list(dict.fromkeys(names))
    return groups, torch.tensor([groups.index(n) for n in names])


def _score_chunks(lengths: list[int], scored: list[int], positions: int) -> list[list[int]]:
    """Consecutive rows in chunks whose logits (rows x the chunk's longest scored span) stay
    within ``positions`` and whose padded tokens stay within :attr:`_Layout.BUCKET_TOKENS`."""
    chunks: list[list[int]] = []
    for i in range(len(lengths)):
        rows = (chunks[-1] if chunks else []) + [i]
        fits = (len(rows) * (max(scored[j] for j in rows) + 1) <= positions
                and len(rows) * max(lengths[j] for j in rows) <= _Layout.BUCKET_TOKENS)
        if chunks and fits:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def _common_prefix(ids: list[list[int]]) -> int:
    """Length of the token prefix every row shares, leaving each row at least one token."""
    limit = min(len(x) for x in ids) - 1
    first = ids[0]
    n = 0
    while n < limit and all(x[n] == first[n] for x in ids):
        n += 1
    return n


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
    """Picks every row's next token, sampled with the row's own generator (see module doc).

    Also applies each row's repetition penalty (ignoring left padding, so padding cannot
    change a row's result), its min/max token budget, temperature and top-p; called with
    the ids so far and the last position's logits, it returns one token id per row.
    """

    def __init__(self, reqs: list[GenRequest], pad_mask, eos_id: int, stop_ids: list[int] | None = None,
                 allowed: list | None = None):
        import torch

        self.pad_mask = pad_mask  # (rows, prompt width): True where a prompt is padded
        self.width = pad_mask.shape[1]
        self.first = (~pad_mask).long().argmax(dim=1, keepdim=True)  # each row's first real token
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
        self.logprob = torch.zeros(len(reqs), dtype=torch.float64)  # summed over each row's tokens
        self.tokens = torch.zeros(len(reqs), dtype=torch.long)
        self.done = torch.zeros(len(reqs), dtype=torch.bool)
        self.stops = torch.tensor(stop_ids or [eos_id])
        self.allowed = allowed if allowed and any(a is not None for a in allowed) else None
        self.blocked = None  # (rows, vocabulary): True where a row's lexicon forbids a token
        self.grammars = [r.grammar for r in reqs]

    def mean_logprobs(self) -> list[float | None]:
        """Per row: the mean log-probability of its generated tokens (see :class:`GenResult`)."""
        return [round(float(s) / int(n), 4) if int(n) else None for s, n in zip(self.logprob, self.tokens)]

    def __call__(self, input_ids, scores):
        import torch

        scores = scores.float().cpu()
        step = input_ids.shape[1] - self.width  # tokens generated so far
        scores = self._penalize(input_ids.cpu(), scores)
        scores[step < self.min_new, self.eos] = float("-inf")
        chosen = self._choose(self._grammar(input_ids, scores, self._restrict(scores)))
        # A row past its own budget only ends its turn (the batch runs to the largest budget).
        chosen = torch.where(step >= self.max_new, torch.full_like(chosen, self.eos), chosen)
        self._track(scores, chosen)  # fluency as the unrestricted model sees it
        return chosen.to(input_ids.device)

    def _restrict(self, scores):
        """Scores with every token outside each row's lexicon at -inf."""
        import torch

        if self.allowed is None:
            return scores
        if self.blocked is None:
            self.blocked = torch.zeros(scores.shape, dtype=torch.bool)
            for row, ids in enumerate(self.allowed):
                if ids is not None:
                    self.blocked[row] = True
                    self.blocked[row, [i for i in ids if i < scores.shape[1]]] = False
        return scores.masked_fill(self.blocked, float("-inf"))

    def _grammar(self, input_ids, scores, restricted):
        """Each grammar row's next tokens held to its grammar. Inside a slot the grammar
        alone decides (a slot name's pieces need not be words of the row's lexicon)."""
        if not any(g is not None for g in self.grammars):
            return restricted
        import torch

        restricted = restricted.clone() if restricted is scores else restricted  # scores stay unrestricted
        for row, grammar in enumerate(self.grammars):
            if grammar is None or bool(self.done[row]):
                continue
            mode, ids = grammar.step(input_ids[row, self.width:].tolist())
            ids = [i for i in ids if i < scores.shape[1]]
            if mode == "only" and ids:
                keep = torch.full((scores.shape[1],), float("-inf"))
                keep[ids] = 0.0
                restricted[row] = scores[row] + keep
            else:
                restricted[row, ids] = float("-inf")
        return restricted

    def _track(self, scores, chosen) -> None:
        """Add each unfinished row's log-probability of its chosen token; rows end at end-of-turn."""
        import torch

        live = ~self.done
        # the chosen token's log-probability alone: no (rows, vocabulary) log-softmax written per step
        picked = (scores.gather(1, chosen.unsqueeze(1)).squeeze(1) - torch.logsumexp(scores, dim=-1)).double()
        picked = torch.where(torch.isfinite(picked), picked, torch.zeros_like(picked))
        self.logprob += torch.where(live, picked, torch.zeros_like(picked))
        self.tokens += live.long()
        self.done |= torch.isin(chosen, self.stops)

    def _penalize(self, input_ids, scores):
        import torch

        if bool((self.penalty == 1.0).all()):
            return scores
        # Padding positions repeat the row's first real token, so padding adds nothing.
        generated = torch.zeros(input_ids.shape[0], input_ids.shape[1] - self.width, dtype=torch.bool)
        padding = torch.cat([self.pad_mask, generated], dim=1)
        index = torch.where(padding, input_ids.gather(1, self.first), input_ids)
        seen = scores.gather(1, index)
        seen = torch.where(seen > 0, seen / self.penalty, seen * self.penalty)
        return scores.scatter_(1, index, seen)  # in place: the step's logits are not read again

    def _choose(self, scores):
        import torch

        greedy = scores.argmax(dim=-1)
        probs = torch.softmax(scores / self.temp, dim=-1)
        top_p = torch.where(self.sample.unsqueeze(1), self.top_p, torch.zeros_like(self.top_p))
        mass, ids = probs.topk(min(_CANDIDATES, probs.shape[1]), dim=-1)  # sorted, most likely first
        in_nucleus = (mass.cumsum(dim=-1) - mass) < top_p  # the top token always stays
        # One uniform draw per row from that row's own generator: batch-independent.
        draws = torch.stack([torch.rand(1, generator=g, dtype=torch.float64) for g in self.gens]).float()
        # Rows whose nucleus may pass the candidates are sorted in full, those rows only
        # (a full sort of the batch was 5% of the decode time and its largest buffers).
        wide = in_nucleus[:, -1] if ids.shape[1] < probs.shape[1] else torch.ones_like(greedy, dtype=torch.bool)
        sampled = greedy.clone()
        if bool((~wide).any()):
            # Inverse CDF over the nucleus in vocabulary order, not probability order: near-ties
            # that swap places under tiny numeric differences (another batch shape) then cannot
            # change the pick. Tokens outside the nucleus add zero mass.
            order = ids[~wide].argsort(dim=-1)
            sampled[~wide] = _inverse_cdf(ids[~wide].gather(1, order), (mass * in_nucleus)[~wide].gather(1, order),
                                          draws[~wide], greedy[~wide])
        if bool(wide.any()):
            full, rank = probs[wide].sort(dim=-1, descending=True)
            kept = (full.cumsum(dim=-1) - full) < top_p[wide]
            keep = torch.zeros_like(full, dtype=torch.bool).scatter_(1, rank, kept)
            vocab = torch.arange(probs.shape[1]).expand_as(full)
            sampled[wide] = _inverse_cdf(vocab, probs[wide] * keep, draws[wide], greedy[wide])
        return torch.where(self.sample, sampled, greedy)


def _inverse_cdf(ids, mass, draws, greedy):
    """Each row's token at its ``draw`` (0 to 1) of its cumulative ``mass`` over ``ids`` (in
    vocabulary order); ``greedy`` where float rounding at the very end finds no mass."""
    import torch

    cum = mass.cumsum(dim=-1)
    pick = torch.searchsorted(cum, draws * cum[:, -1:], right=True).clamp(max=cum.shape[1] - 1)
    sampled = ids.gather(1, pick).squeeze(1)
    return torch.where(mass.gather(1, pick).squeeze(1) > 0, sampled, greedy)


def load_inference_model(base_model: str, adapter: str | None = None, dtype: str = "auto",
                         trust_remote_code: bool = False):
    """``(model, tokenizer)`` for inference: the adapter checked against the base model first,
    then merged into its weights (same outputs, no per-layer adapter matmuls). ``int8``
    loads float32 weights (quantising is :func:`load_engine`'s step)."""
    if adapter is not None:
        check_adapter(adapter, base_model)
    dtype = "float32" if dtype == "int8" else dtype
    model, tokenizer = load_model(base_model, adapter=adapter, dtype=dtype, trust_remote_code=trust_remote_code)
    if adapter is not None and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model, tokenizer


def _precise(model, tokenizer, precision) -> dict:
    """Quantise ``model`` when ``precision`` says int8 (outlier channels calibrated with
    ``tokenizer``); the engine's ``info`` about it."""

    if precision.int8:
        quantise_int8(model, tokenizer)
    return {"precision_note": precision.note} if precision.note else {}


def load_engine(base_model: str, adapter: str | None = None, dtype: str = "auto", batch_size: int = 16,
                trust_remote_code: bool = False, threads: int | None = None,
                workers: int | None = None) -> TransformersEngine:
    """Load base model (+ adapter, checked against it) through :mod:`stylegen.models`.

    The LoRA adapter is merged into the base weights (:func:`load_inference_model`), then
    the weights are held in the precision ``dtype`` picks on this machine
    (:func:`stylegen.generation.precision.choose_precision`: ``auto`` is int8 on a CPU
    without native bf16).
    """

    precision = choose_precision(dtype)
    model, tokenizer = load_inference_model(base_model, adapter, precision.load_dtype, trust_remote_code)
    info = {"base_model": base_model, "adapter": str(adapter) if adapter else None,
            **_precise(model, tokenizer, precision)}
    return TransformersEngine(model, tokenizer, batch_size=batch_size, threads=threads, workers=workers, info=info)


def load_multi_engine(base_model: str, adapters: dict[str, str | None], dtype: str = "auto", batch_size: int = 16,
                      trust_remote_code: bool = False, threads: int | None = None,
                      workers: int | None = None) -> TransformersEngine:
    """One base model with several named LoRA adapters, loaded once, for mixed batches.

    Args:
        base_model: the base model every adapter was trained on (each is checked against it).
        adapters: adapter name -> adapter folder; a request names its adapter in
            ``GenRequest.adapter`` (None: the base model). An entry whose folder is None is
            left out (prompt-only).
        dtype, batch_size, trust_remote_code, threads, workers: as :func:`load_engine`.

    The adapters stay unmerged (a merged adapter would apply to every row): the first is
    loaded with ``PeftModel.from_pretrained``, the others with ``load_adapter``; no adapter
    is loaded again while the engine lives.
    """

    adapters = {name: str(path) for name, path in adapters.items() if path is not None}
    for path in adapters.values():
        check_adapter(path, base_model)
    precision = choose_precision(dtype)
    model, tokenizer = load_model(base_model, dtype=precision.load_dtype, trust_remote_code=trust_remote_code)
    if adapters:
        from peft import PeftModel

        (first, path), *rest = adapters.items()
        model = PeftModel.from_pretrained(model, path, adapter_name=first)
        for name, path in rest:
            model.load_adapter(path, adapter_name=name)
        model.eval()
    info = {"base_model": base_model, "adapter": None, **_precise(model, tokenizer, precision)}
    return TransformersEngine(model, tokenizer, batch_size=batch_size, threads=threads, workers=workers, info=info,
                              adapters=adapters)
