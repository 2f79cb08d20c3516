"""The int8 engine (stylegen/generation/precision.py): a seed reproduces and a row's text does
not depend on its batch neighbours, with one adapter or per-row adapters (the mechanism: per-row
int8 activations with calibrated outlier channels, exact integer products, rowcache.py's
fixed-shape attention, per-row seeds; the real model in the slow test); the float32 fallback with
a message; scoring with each prompt prefilled once."""
from __future__ import annotations

import pytest
from multi_support import make_adapter

from stylegen.generation.engine import (
    GenRequest,
    derive_seed,
    load_engine,
    load_multi_engine,
)
from stylegen.generation.precision import (
    Precision,
    choose_precision,
    int8_linear_class,
    quantise_int8,
)

TEXTS = ["Write the product description for Ember Kettle.", "Name: Tarn Pot\nWeight: 4.6 oz",
         "Write 3 to 5 feature bullets for a very long product name with many words in it.", "Hi",
         "Features: folds flat, packs small, aluminum body", "Care: hand wash and dry before packing"]


@pytest.fixture(scope="module")
def int8_engine(tiny_model_dir):
    return load_engine(str(tiny_model_dir), dtype="int8", batch_size=4, threads=1)


def _requests(engine, adapter=None, **kw):
    system = {"role": "system", "content": "You write product copy for Kettle & Cairn."}
    return [GenRequest(prompt=engine.render([system, {"role": "user", "content": text}]),
                       seed=derive_seed(7, f"SKU{i}", "description", 1), max_new_tokens=12 + i, temperature=0.8,
                       top_p=0.9, repetition_penalty=1.1, key=f"SKU{i}", adapter=adapter, **kw)
            for i, text in enumerate(TEXTS)]


def test_int8_engine_reproduces_per_seed_and_ignores_batch_neighbours(int8_engine):
    reqs = _requests(int8_engine)
    together = int8_engine.generate(reqs)
    again = int8_engine.generate(reqs)
    alone = [int8_engine.generate([r])[0] for r in reqs]
    reversed_ = int8_engine.generate(reqs[::-1])[::-1]
    assert [r.text for r in together] == [r.text for r in again] == [r.text for r in alone] == \
        [r.text for r in reversed_]
    assert len({r.text for r in together}) == len(reqs)  # something was sampled
    seeds = {int8_engine.generate([GenRequest(**{**reqs[0].__dict__, "seed": s})])[0].text for s in range(4)}
    assert len(seeds) > 1


def test_int8_engine_holds_int8_weights_and_says_so(int8_engine):
    int8 = int8_linear_class()
    layers = [m for m in int8_engine.model.modules() if isinstance(m, int8)]
    assert len(layers) == 2 * 7 + 1  # 2 blocks x (q, k, v, o, gate, up, down) + the output head
    assert all(len(m.outliers) == 8 for m in layers if m.in_features > 16)  # calibrated outlier channels
    described = int8_engine.describe()
    assert described["weights"] == "int8" and "int8" in described["kernel"] and "precision_note" not in described
    assert described["kv_cache"] == "int8" and "batch-independent" in described["attention"]


def test_int8_linear_rows_are_exactly_independent_and_close_to_float():
    import torch

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    x = torch.randn(5, 7, 64)
    x[2] *= 40  # one row with much larger activations: it must not change the others' scale
    q = int8_linear_class()(linear)
    out = q(x)
    for i in range(5):
        assert torch.equal(out[i], q(x[i:i + 1])[0])
    ref = linear(x)
    assert ((out - ref).norm() / ref.norm()).item() < 0.02


def test_int8_falls_back_to_float32_with_a_message(tiny_model_dir, monkeypatch):
    monkeypatch.setattr("stylegen.compat.torch.int8_matmul_problem", lambda: "torch 9.9 has no CPU int8 matmul")
    with pytest.warns(UserWarning, match="int8 weights unavailable, running in float32: torch 9.9"):
        engine = load_engine(str(tiny_model_dir), dtype="int8", batch_size=4, threads=1)
    described = engine.describe()
    assert described["weights"] == "float32" and described["dtype"] == "float32"
    assert "torch 9.9 has no CPU int8 matmul" in described["precision_note"]
    assert not any(isinstance(m, int8_linear_class()) for m in engine.model.modules())
    assert engine.generate(_requests(engine)[:2])[0].text is not None


def test_auto_is_int8_on_a_cpu_without_bf16_and_float_dtypes_stay_as_asked(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("stylegen.models.cpu_supports_bf16", lambda: False)
    assert choose_precision("auto").int8 and choose_precision("auto").load_dtype == "float32"
    assert not choose_precision("float32").int8 and choose_precision("bfloat16").load_dtype == "bfloat16"
    monkeypatch.setattr("stylegen.models.cpu_supports_bf16", lambda: True)
    assert choose_precision("auto") == Precision(load_dtype="auto")  # bf16 (pick_dtype): int8 measured slower
    assert choose_precision("int8").int8


def test_int8_with_per_row_adapters_keeps_lora_in_float_and_rows_independent(tiny_model_dir, tmp_path):
    import torch

    adapters = {"a": str(make_adapter(tmp_path / "a", tiny_model_dir, seed=1)),
                "b": str(make_adapter(tmp_path / "b", tiny_model_dir, seed=2))}
    engine = load_multi_engine(str(tiny_model_dir), adapters, dtype="int8", batch_size=6, threads=1)
    from stylegen.compat.peft import lora_side_layers

    side = lora_side_layers(engine.model)
    assert side and all(type(m) is torch.nn.Linear for m in side)  # the adapters' path stays float32
    reqs = [r for name in ("a", "b", None) for r in _requests(engine, adapter=name)[:3]]
    mixed = engine.generate(reqs)
    alone = [engine.generate([r])[0] for r in reqs]
    assert [r.text for r in mixed] == [r.text for r in alone]
    by_adapter = [{r.text for r, q in zip(mixed, reqs) if q.adapter == name} for name in ("a", "b", None)]
    assert by_adapter[0] != by_adapter[1]  # each adapter changed the text


def test_quantise_int8_quantises_every_linear_layer_unless_told_and_reads_the_embedding_from_the_head(
        tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    assert quantise_int8(model, keep=("down_proj",)) == 13
    assert [n for n, m in model.named_modules() if type(m) is torch.nn.Linear] == \
        ["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"]
    assert quantise_int8(model, keep=()) == 2
    assert not [m for m in model.modules() if type(m) is torch.nn.Linear]
    # the tied embedding reads the int8 head: exactly its dequantised rows, no float32 copy
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    assert isinstance(head, int8_linear_class()) and type(embed).__name__ == "Int8Embedding"
    ids = torch.tensor([[1, 5, 9, 42]])
    torch.testing.assert_close(embed(ids)[0, 2], head.qweight[:, 9].float() * head.scale[9], rtol=0, atol=0)
    assert not [p for p in model.parameters() if p.shape[0] == model.config.vocab_size]
    # with a tokenizer, outlier channels are calibrated; the embedding puts them back in place
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    weight = model.get_output_embeddings().weight.detach().clone()
    assert quantise_int8(model, AutoTokenizer.from_pretrained(tiny_model_dir)) == 15
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    assert len(head.outliers) == 8
    torch.testing.assert_close(embed(ids)[0], weight[ids[0]], rtol=0, atol=weight.abs().max().item() / 127)


def test_layers_reading_one_input_run_one_product_with_the_same_result(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    quantise_int8(model, AutoTokenizer.from_pretrained(tiny_model_dir))
    block = model.model.layers[0]
    attention, mlp = block.self_attn, block.mlp
    assert attention.q_proj.fused is attention.k_proj.fused is attention.v_proj.fused is not None
    assert mlp.gate_proj.fused is mlp.up_proj.fused is not None and mlp.gate_proj.fused is not attention.q_proj.fused
    assert attention.o_proj.fused is None and mlp.down_proj.fused is None
    joined = attention.q_proj.fused.layer
    assert joined.out_features == sum(m.out_features for m in (attention.q_proj, attention.k_proj, attention.v_proj))
    assert attention.k_proj.qweight.data_ptr() == joined.qweight[:, attention.q_proj.out_features].data_ptr()  # held once
    ids = torch.tensor([[1, 5, 9, 42, 7, 3], [4, 4, 8, 15, 16, 23]])
    with torch.inference_mode():
        fused = model(input_ids=ids).logits
        calls = []
        count = type(attention.q_proj).quantise
        type(attention.q_proj).quantise = lambda self, rows: calls.append(self) or count(self, rows)
        try:
            model(input_ids=ids)
            once = len(calls)
            for layer in model.modules():
                if getattr(layer, "fused", None) is not None:
                    layer.fused = None  # each layer its own product again, over its view of the weights
            alone = model(input_ids=ids).logits
        finally:
            type(attention.q_proj).quantise = count
    assert once == 2 * 4 + 1 and len(calls) == once + 2 * 7 + 1  # per block q/k/v once, o, gate/up once, down
    assert torch.equal(fused, alone)


def test_joined_layers_keep_their_scales_through_the_page_dropping_of_a_load(tiny_model_dir):
    """Wide layers (scales spanning whole memory pages): copying the model's float tensors and
    dropping their old pages at load must not drop pages a joined product still reads."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(tiny_model_dir, intermediate_size=4096)
    model = AutoModelForCausalLM.from_config(config).eval()
    ids = torch.tensor([[1, 5, 9, 42, 7, 3, 11, 2]])
    with torch.inference_mode():
        ref = model(input_ids=ids).logits
        quantise_int8(model, AutoTokenizer.from_pretrained(tiny_model_dir))
        got = model(input_ids=ids).logits
    assert model.model.layers[0].mlp.up_proj.fused is not None
    assert ((got - ref).norm() / ref.norm()).item() < 0.05


def test_outlier_channels_are_kept_out_of_the_rows_scale_and_rows_stay_independent():
    import torch

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    x = torch.randn(6, 64)
    x[:, [3, 40]] *= 500  # massive activations in two channels, as after the real model's norms
    ref = linear(x)
    plain, split = int8_linear_class()(linear), int8_linear_class()(linear, torch.tensor([3, 40]))
    error = [((layer(x) - ref).norm() / ref.norm()).item() for layer in (plain, split)]
    assert error[1] < error[0] / 3 and error[1] < 0.005
    out = split(x)
    for i in range(6):
        assert torch.equal(out[i], split(x[i:i + 1])[0])


def test_scores_with_a_shared_prefix_in_chunks_equal_scores_alone(int8_engine, tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stylegen.generation.engine import TransformersEngine

    engine = TransformersEngine(AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype="float32"),
                                AutoTokenizer.from_pretrained(tiny_model_dir), batch_size=8, threads=1)
    prompts = [r.prompt for r in _requests(engine)]
    reqs = [GenRequest(prompt=p, text=t, key=f"{i}/{j}") for i, p in enumerate(prompts)
            for j, t in enumerate(["Folds flat.", "A pot that nests in its own lid, 4.6 oz."])]
    together = engine.score(reqs)
    monkeypatch.setattr(TransformersEngine, "SCORE_POSITIONS", 20)  # several chunks per batch
    chunked = engine.score(reqs)
    for req, a, b in zip(reqs, together, chunked):
        alone = engine.score([req])[0]
        assert a.key == req.key and a.text == req.text
        assert a.mean_logprob == pytest.approx(alone.mean_logprob, abs=1e-4)
        assert b.mean_logprob == pytest.approx(alone.mean_logprob, abs=1e-4)
    assert len({round(r.mean_logprob, 4) for r in together}) > 2
    # int8 (precision.py): the same requests reproduce exactly; beside other rows a score may
    # move in its last float32 bits (a rounding boundary of the per-row quantiser), as in bf16
    int8_scores = int8_engine.score(reqs)
    assert [r.mean_logprob for r in int8_engine.score(reqs)] == [r.mean_logprob for r in int8_scores]
    for req, got in zip(reqs, int8_scores):
        assert got.mean_logprob == pytest.approx(int8_engine.score([req])[0].mean_logprob, abs=1e-4)


@pytest.mark.slow
def test_default_model_int8_engine_reproduces_and_ignores_batch_neighbours():
    """On the real model too (rowcache.py's fixed-shape attention, exact int8 products)."""
    engine = load_engine("smollm2-135m-instruct", dtype="int8", batch_size=6, threads=1)
    reqs = [GenRequest(**{**r.__dict__, "max_new_tokens": 48}) for r in _requests(engine)]
    first, second = engine.generate(reqs), engine.generate(reqs)
    alone = [engine.generate([r])[0] for r in reqs]
    assert [r.text for r in first] == [r.text for r in second] == [r.text for r in alone]
    assert all(r.text for r in first) and engine.describe()["weights"] == "int8"
    other = engine.generate([GenRequest(**{**reqs[0].__dict__, "seed": reqs[0].seed + 1})])[0]
    assert other.text != first[0].text
