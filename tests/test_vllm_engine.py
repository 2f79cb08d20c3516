"""Contract test of the vLLM engine: runs wherever vllm is importable (a GPU machine, see
scripts/gpu_check.sh), skipped otherwise. Same interface as the transformers engine:
results in request order, per-request seeds (a row's text does not depend on its batch),
a LoRA adapter per request."""
from __future__ import annotations

import os

import pytest

vllm = pytest.importorskip("vllm")

from stylegen.generation.engine import GenRequest  # noqa: E402
from stylegen.generation.vllm_engine import VLLMEngine  # noqa: E402

MODEL = os.environ.get("STYLEGEN_VLLM_MODEL", "HuggingFaceTB/SmolLM2-360M-Instruct")
ADAPTER = os.environ.get("STYLEGEN_VLLM_ADAPTER", "brand/adapter")


@pytest.fixture(scope="module")
def engine():
    adapters = {"brand": ADAPTER} if os.path.isdir(ADAPTER) else {}
    return VLLMEngine(MODEL, adapters=adapters, dtype="float32", gpu_memory_utilization=0.3, max_model_len=2048)


def _req(engine, text, seed, key):
    prompt = engine.render([{"role": "user", "content": text}])
    return GenRequest(prompt=prompt, seed=seed, max_new_tokens=24, temperature=0.8, top_p=0.95, key=key)


def test_results_in_order_and_independent_of_batch(engine):
    reqs = [_req(engine, f"Describe a camp mug number {i}.", 100 + i, f"R{i}/description") for i in range(4)]
    together = engine.generate(reqs)
    assert [r.key for r in together] == [r.key for r in reqs]
    alone = [engine.generate([r])[0] for r in reqs]
    assert [r.text for r in together] == [r.text for r in alone]
    assert all(r.new_tokens > 0 and r.prompt_tokens > 0 for r in together)


def test_seed_changes_the_text(engine):
    a = engine.generate([_req(engine, "Describe a tent.", 1, "A/description")])[0]
    b = engine.generate([_req(engine, "Describe a tent.", 2, "A/description")])[0]
    assert a.text != b.text
    assert engine.describe()["prefix_caching"] is True


def test_lexicon_reaches_vllm_as_allowed_token_ids(engine):
    from dataclasses import replace

    req = replace(_req(engine, "Describe a kettle.", 3, "K/description"), words=frozenset({"kettle", "lid"}))
    ids = engine.sampling_params(req).allowed_token_ids
    assert ids and set(engine.tokenizer(" kettle", add_special_tokens=False)["input_ids"]) <= set(ids)
    text = engine.generate([req])[0].text.lower()
    assert set(c for c in text if c.isalpha()) <= set("kettlelid"), text
    assert engine.sampling_params(replace(req, words=None)).allowed_token_ids is None


def test_score_gives_each_fixed_text_its_mean_logprob_in_order(engine):
    from dataclasses import replace

    base = _req(engine, "Write the meta description for a camp mug.", 5, "M/meta")
    reqs = [replace(base, text=t, key=f"M/{i}") for i, t in enumerate(["A camp mug, 12 oz.", "Mug mug mug mug."])]
    together = engine.score(reqs)
    assert [r.key for r in together] == ["M/0", "M/1"] and [r.text for r in together] == [r.text for r in reqs]
    alone = [engine.score([r])[0] for r in reqs]
    for a, b in zip(together, alone):
        assert a.mean_logprob is not None and a.mean_logprob < 0
        assert a.mean_logprob == pytest.approx(b.mean_logprob, abs=1e-3)
