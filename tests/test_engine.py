"""The engine on a tiny real model: batching, left padding, per-row seeds, token budgets."""
from __future__ import annotations

import pytest

from stylegen.generation.engine import GenRequest, ScriptedEngine, TransformersEngine, derive_seed, prompt_hash


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return TransformersEngine(model, tokenizer, batch_size=4, threads=1)


def _requests(engine, n=6, **kw):
    texts = ["Write the product description for Ember Kettle.", "Name: Tarn Pot\nWeight: 4.6 oz",
             "Write 3 to 5 feature bullets for a very long product name with many words in it.", "Hi",
             "Features: folds flat, packs small, aluminum body", "Care: hand wash and dry before packing"]
    out = []
    for i in range(n):
        prompt = engine.render([{"role": "user", "content": texts[i % len(texts)]}])
        params = dict(seed=derive_seed(7, f"SKU{i}", "description", 1), max_new_tokens=12 + i, temperature=0.8,
                      top_p=0.9, repetition_penalty=1.1, key=f"SKU{i}")
        params.update(kw)
        out.append(GenRequest(prompt=prompt, **params))
    return out


def test_same_requests_reproduce(engine):
    reqs = _requests(engine)
    first = engine.generate(reqs)
    second = engine.generate(reqs)
    assert [r.text for r in first] == [r.text for r in second]
    assert [r.key for r in first] == [r.key for r in reqs]  # results in request order


def test_row_output_does_not_depend_on_batch_neighbours(engine):
    reqs = _requests(engine)
    together = engine.generate(reqs)
    alone = [engine.generate([r])[0] for r in reqs]
    reversed_ = engine.generate(reqs[::-1])[::-1]
    assert [r.text for r in together] == [r.text for r in alone] == [r.text for r in reversed_]
    assert [r.new_tokens for r in together] == [r.new_tokens for r in alone]


def test_different_seeds_sample_different_texts(engine):
    base = _requests(engine, n=1)[0]
    texts = {engine.generate([GenRequest(**{**base.__dict__, "seed": s})])[0].text for s in range(5)}
    assert len(texts) > 1


def test_token_budgets_per_request(engine):
    reqs = _requests(engine, min_new_tokens=0)
    for req, res in zip(reqs, engine.generate(reqs)):
        assert 1 <= res.new_tokens <= req.max_new_tokens
        assert res.prompt_tokens > 0
    forced = _requests(engine, n=4, min_new_tokens=10, max_new_tokens=10)
    assert [r.new_tokens for r in engine.generate(forced)] == [10, 10, 10, 10]


def test_greedy_matches_transformers_greedy_with_left_padding(engine):
    reqs = _requests(engine, n=3, do_sample=False, max_new_tokens=8, repetition_penalty=1.0)
    for req, res in zip(reqs, engine.generate(reqs)):
        assert res.text == _plain_greedy(engine, req.prompt, 8), req.key


def _plain_greedy(engine, prompt: str, new_tokens: int) -> str:
    """transformers' own greedy ``generate`` on one prompt alone, cut at the stop token."""
    import torch

    ids = engine.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        ref = engine.model.generate(**ids, max_new_tokens=new_tokens, do_sample=False, eos_token_id=engine.stop_ids,
                                    pad_token_id=engine.tokenizer.pad_token_id)
    new = ref[0, ids["input_ids"].shape[1]:].tolist()
    cut = next((k for k, t in enumerate(new) if t in engine.stop_ids), len(new))
    return engine.tokenizer.decode(new[:cut], skip_special_tokens=True).strip()


def _shared_prefix_requests(engine):
    """Prompts with a long common head and tails of near and far lengths (several buckets, padded)."""
    head = "Write the product description for a Kettle & Cairn item from these facts.\n"
    tails = ["Name: Tarn Pot" + ", folds flat" * k + ", packs" * (k % 2) for k in (0, 1, 2, 9, 10, 11, 30, 31, 33)]
    return [GenRequest(prompt=engine.render([{"role": "user", "content": head + t}]), do_sample=False,
                       max_new_tokens=6, key=str(k)) for k, t in enumerate(tails)]


def test_layout_shares_the_prefix_and_buckets_by_length(engine):
    from stylegen.generation.engine import _Layout

    reqs = _shared_prefix_requests(engine)
    ids = [engine.tokenizer(r.prompt, add_special_tokens=False)["input_ids"] for r in reqs]
    layout = _Layout(ids, engine.tokenizer.pad_token_id)
    head = engine.render([{"role": "user", "content": "Write the product description"}])
    assert layout.prefix >= len(engine.tokenizer(head, add_special_tokens=False)["input_ids"]) - 8
    assert sorted(i for b in layout.buckets() for i in b) == list(range(len(ids)))
    assert len(layout.buckets()) > 2  # no bucket with at most 10% padding can hold them all
    assert any(layout.span(b[0]) != layout.span(b[-1]) for b in layout.buckets())  # padding inside a bucket
    for i, row in enumerate(ids):  # each row's real tokens, in order, with the padding after the prefix
        real = layout.input_ids[i][~layout.pad_mask[i]].tolist()
        assert real == row and not layout.pad_mask[i, :layout.prefix].any()
        assert layout.pad_mask[i].sum() == layout.width - len(row)


def test_prefilled_prefix_and_buckets_match_plain_generate(engine):
    """Greedy output of the shared-prefix / bucketed prefill equals transformers' own generate per prompt."""
    reqs = _shared_prefix_requests(engine)
    for req, res in zip(reqs, engine.generate(reqs)):
        assert res.text == _plain_greedy(engine, req.prompt, 6), req.key


def test_scoring_through_the_row_cache_gives_each_text_its_solo_logprob(tiny_model_dir, monkeypatch):
    """Scoring fixed texts (several per prompt, prompts sharing a prefix, rows in chunks)
    through the row cache gives each text the mean log-probability of a plain forward pass
    over its prompt and text alone.

    The fixture model's weights are scaled up (initializer_range 0.5) so that positions and
    attention visibly change the logits; with the default 0.02 they hardly depend on input.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer


    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tiny_model_dir, initializer_range=0.5))
    engine = TransformersEngine(model, AutoTokenizer.from_pretrained(tiny_model_dir), batch_size=16, threads=1)
    monkeypatch.setattr(TransformersEngine, "SCORE_POSITIONS", 40)  # several chunks
    texts = ["Warm.", "A mug that keeps tea hot for a long walk.", "Packs flat, weighs little, lasts."]
    reqs = [GenRequest(prompt=r.prompt, text=t, key=f"{r.key}/{j}")
            for r in _shared_prefix_requests(engine)[:4] for j, t in enumerate(texts)]
    scored = engine.score(reqs)
    tok = engine.tokenizer
    with torch.inference_mode():
        for req, res in zip(reqs, scored):
            prompt = tok(req.prompt, add_special_tokens=False)["input_ids"]
            text = tok(req.text, add_special_tokens=False)["input_ids"] + [engine.stop_ids[0]]
            logits = model(input_ids=torch.tensor([prompt + text])).logits[0, len(prompt) - 1:-1]
            solo = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(text).unsqueeze(1)).mean().item()
            assert res.mean_logprob == pytest.approx(solo, abs=1e-3), req.key
    assert len({round(r.mean_logprob, 3) for r in scored}) > 6  # the scores carry signal


def test_row_cache_decoding_gives_each_row_its_solo_logits(tiny_model_dir):
    """Generation's own KV cache (rowcache.py: the prefix held once, rows in one buffer):
    at every decode step each row's logits are those of its whole sequence run alone."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from stylegen.generation.engine import _Layout

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tiny_model_dir, initializer_range=0.5))
    engine = TransformersEngine(model, AutoTokenizer.from_pretrained(tiny_model_dir), batch_size=16, threads=1)
    ids = [engine.tokenizer(r.prompt, add_special_tokens=False)["input_ids"] for r in _shared_prefix_requests(engine)]
    layout = _Layout(ids, engine.tokenizer.pad_token_id)
    forced = torch.randint(5, 200, (len(ids), 3))
    with torch.inference_mode():
        cache = engine._fill(layout, None, budget=3)
        token, positions = layout.input_ids[:, -1:], layout.mask.sum(dim=1, keepdim=True) - 1
        for step in range(3):
            batched = engine._step(token, positions + step, cache.decode_step(step))[:, -1]
            solo = torch.stack([model(input_ids=torch.tensor([row + forced[i, :step].tolist()])).logits[0, -1]
                                for i, row in enumerate(ids)])
            assert solo.std() > 0.5  # the logits carry signal
            torch.testing.assert_close(batched, solo, atol=1e-3, rtol=1e-3)
            token = forced[:, step:step + 1]
    layers, _, rows, kv_heads, columns, dim = cache.buffer.shape
    longest = max(len(row) for row in ids) - 1 + 3  # every row's tokens at the columns of their positions
    assert (rows, columns) == (len(ids), -(-longest // 16) * 16) and layout.prefix > 0
    assert cache.nbytes() == 4 * layers * 2 * kv_heads * dim * rows * columns


def test_worker_threads_give_the_same_results(engine):
    """Two workers (one torch thread each) produce what one worker does, batch for batch."""
    reqs = _requests(engine, n=8)
    one = TransformersEngine(engine.model, engine.tokenizer, batch_size=4, threads=1)
    two = TransformersEngine(engine.model, engine.tokenizer, batch_size=4, threads=2)
    assert (one.workers, two.workers) == (1, 2) and two.describe()["workers"] == 2
    assert [r.text for r in two.generate(reqs)] == [r.text for r in one.generate(reqs)]


def test_describe_names_dtype_and_threads(engine):
    info = engine.describe()
    assert info["engine"] == "transformers" and info["dtype"] == "float32" and info["threads"] == 1


def test_seed_derivation_is_stable_and_distinct():
    assert derive_seed(1, "KC-1", "description", 1) == derive_seed(1, "KC-1", "description", 1)
    seeds = {derive_seed(1, "KC-1", t, a) for t in ("description", "bullets") for a in (1, 2)}
    assert len(seeds) == 4
    assert derive_seed(2, "KC-1", "description", 1) != derive_seed(1, "KC-1", "description", 1)
    assert prompt_hash("a") != prompt_hash("b")


def test_scripted_engine_records_requests():
    eng = ScriptedEngine(lambda r: f"text for {r.key}")
    res = eng.generate([GenRequest(prompt="p", key="A/description")])
    assert res[0].text == "text for A/description" and eng.requests[0].key == "A/description"


def test_low_temperature_path_is_batch_independent_too(engine):
    reqs = _requests(engine, temperature=0.1)  # peaked: the nucleus fits in the top-k candidates
    together = engine.generate(reqs)
    assert [r.text for r in together] == [engine.generate([r])[0].text for r in reqs]


@pytest.mark.parametrize("vocab", [4, 600])  # full sort, and top-k candidates
def test_row_sampler_keeps_to_the_nucleus(vocab):
    import math
    from collections import Counter

    import torch

    from stylegen.generation.engine import _RowSampler

    probs = [0.5, 0.3, 0.15, 0.05] + [0.0] * (vocab - 4)
    logits = torch.tensor([[math.log(p) if p else -1e9 for p in probs]])
    counts = Counter()
    for seed in range(400):
        sampler = _RowSampler([GenRequest(prompt="", seed=seed, top_p=0.7, temperature=1.0)],
                               torch.zeros(1, 1, dtype=torch.bool), eos_id=3)
        counts[int(sampler._choose(logits.clone())[0])] += 1
    assert set(counts) == {0, 1}  # 0.5 + 0.3 reach top_p 0.7: tokens 2 and 3 are cut
    assert 0.5 < counts[0] / 400 < 0.75  # renormalized: 0.625


@pytest.mark.slow
def test_default_model_engine_generates_reproducibly():
    from stylegen.generation.engine import load_engine
    from stylegen.models import cpu_supports_bf16

    eng = load_engine("smollm2-135m-instruct", batch_size=2)
    prompt = eng.render([{"role": "system", "content": "You write product copy."},
                         {"role": "user", "content": "Write the meta description for Ember Kettle.\nWeight: 9.8 oz"}])
    reqs = [GenRequest(prompt=prompt, seed=s, max_new_tokens=12, temperature=0.7, top_p=0.9, key=str(s)) for s in (1, 2)]
    first, second = eng.generate(reqs), eng.generate(reqs)
    assert [r.text for r in first] == [r.text for r in second]
    assert all(r.text and 1 <= r.new_tokens <= 12 for r in first)
    assert eng.describe()["dtype"] == ("bfloat16" if cpu_supports_bf16() else "float32")


def test_mean_logprob_is_the_models_own_score_of_its_tokens(engine):
    """Greedy, no penalty: the reported mean log-probability equals a plain greedy loop's
    mean log-softmax of the tokens it picks (end-of-turn included when the row stops)."""
    import torch

    req = _requests(engine, n=1, do_sample=False, repetition_penalty=1.0, max_new_tokens=10)[0]
    res = engine.generate([req])[0]
    ids = torch.tensor([engine.tokenizer(req.prompt, add_special_tokens=False)["input_ids"]])
    total, n = 0.0, 0
    with torch.no_grad():
        for _ in range(req.max_new_tokens):
            logprobs = torch.log_softmax(engine.model(input_ids=ids).logits[0, -1].float(), -1)
            token = int(logprobs.argmax())
            total, n = total + logprobs[token].item(), n + 1
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
            if token in engine.stop_ids:
                break
    assert res.new_tokens == n
    assert res.mean_logprob == pytest.approx(total / n, abs=2e-3)
    assert res.mean_logprob < 0


def test_every_engine_implements_the_whole_engine_interface():
    from stylegen.generation.engine import Engine
    from stylegen.generation.vllm_engine import VLLMEngine

    assert Engine.__abstractmethods__ == {"render", "generate", "score", "describe"}
    for cls in (ScriptedEngine, TransformersEngine, VLLMEngine):
        assert not cls.__abstractmethods__, cls
        assert hasattr(cls, "tokenizer") and callable(cls.allowed_ids) and callable(cls.lexicon_stops)


def test_an_engine_without_a_tokenizer_refuses_a_lexicon_clearly():
    engine = ScriptedEngine(lambda req: "x")
    assert engine.allowed_ids(GenRequest("p")) is None and engine.lexicon_stops() == []
    with pytest.raises(ValueError, match="scripted engine has no tokenizer"):
        engine.allowed_ids(GenRequest("p", words=frozenset({"kettle"})))
    assert engine.score([GenRequest("p", text="Fixed.", key="k")])[0].text == "Fixed." and not engine.requests
