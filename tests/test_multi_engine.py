"""The multi-adapter engine (a multi-brand run): adapters loaded once as named PEFT adapters,
batches that mix rows of different adapters give the same float32 text as single-adapter
batches, and the per-thread routing of stylegen/compat/peft.py still matches PEFT's own
mixed-batch argument."""
from __future__ import annotations

import dataclasses
import threading

import pytest

from multi_support import make_adapter
from stylegen.generation.engine import GenRequest, load_engine, load_multi_engine, TransformersEngine

SYSTEM = "<|im_start|>system\nYou write product copy for Kettle & Cairn.<|im_end|>\n"


def _prompt(i: int) -> str:
    return (f"{SYSTEM}<|im_start|>user\nWrite the meta description for Trail Thing {i}.\n"
            f"features: {'folds flat; ' * (i % 3)}packs small<|im_end|>\n<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    """Two adapters on different modules (a: attention q/v; b: attention and MLP)."""
    root = tmp_path_factory.mktemp("adapters")
    return {"a": make_adapter(root / "a", tiny_model_dir, seed=1),
            "b": make_adapter(root / "b", tiny_model_dir, seed=2,
                              targets=("q_proj", "k_proj", "v_proj", "o_proj", "up_proj"))}


def _requests(names, n=4):
    """``n`` prompts for each adapter name; the same seed for a prompt under every adapter."""
    return [GenRequest(_prompt(i), seed=1000 + i, max_new_tokens=16, temperature=0.7, top_p=0.9,
                       repetition_penalty=1.1, key=f"{i}/{name}", adapter=name)
            for i in range(n) for name in names]


def test_mixed_batches_give_the_text_of_single_adapter_batches_float32(tiny_model_dir, adapters, monkeypatch):
    base = str(tiny_model_dir)
    mixed = load_multi_engine(base, {k: str(v) for k, v in adapters.items()}, dtype="float32", batch_size=6,
                              threads=2, workers=2)
    batches = []
    original = TransformersEngine._generate_batch

    def spy(self, reqs, ids, allowed):
        batches.append({r.adapter for r in reqs})
        return original(self, reqs, ids, allowed)

    monkeypatch.setattr(TransformersEngine, "_generate_batch", spy)
    requests = _requests(["a", "b", None])
    got = {r.key: r.text for r in mixed.generate(requests)}
    assert any(len(adapters_in) > 1 for adapters_in in batches), batches  # batches really mixed
    assert len(batches) > 1  # two worker threads ran batches of different mixes at the same time
    monkeypatch.setattr(TransformersEngine, "_generate_batch", original)
    single = {name: load_engine(base, str(adapters[name]) if name else None, dtype="float32", batch_size=6,
                                threads=1, workers=1) for name in ("a", "b", None)}
    for name, engine in single.items():  # the merged single-brand engine, one adapter per batch
        mine = [r for r in requests if r.adapter == name]
        for req, res in zip(mine, engine.generate([dataclasses.replace(r, adapter=None) for r in mine])):
            assert got[req.key] == res.text, (name, req.key)
    for i in range(4):  # the adapters matter: the same prompt and seed give other text under each
        assert len({got[f"{i}/a"], got[f"{i}/b"], got[f"{i}/None"]}) == 3


def test_adapters_load_once_and_unknown_names_are_refused(tiny_model_dir, adapters, monkeypatch):
    from peft import PeftModel

    loads = []
    original = PeftModel.load_adapter
    monkeypatch.setattr(PeftModel, "load_adapter",
                        lambda self, path, adapter_name, **kw: loads.append(adapter_name)
                        or original(self, path, adapter_name, **kw))
    engine = load_multi_engine(str(tiny_model_dir), {"kettle-cairn": str(adapters["a"]),
                                                     "halyard-hem": str(adapters["b"])}, dtype="float32")
    assert sorted(engine.adapters) == ["halyard-hem", "kettle-cairn"]
    assert engine.describe()["adapters"] == {"kettle-cairn": str(adapters["a"]), "halyard-hem": str(adapters["b"])}
    engine.generate(_requests(["kettle-cairn", "halyard-hem"], n=2))
    engine.generate(_requests(["halyard-hem", None], n=2))
    assert loads == ["kettle-cairn", "halyard-hem"]  # each loaded once (from_pretrained loads the first)
    with pytest.raises(ValueError, match="does not hold: \\['other'\\]"):
        engine.generate(_requests(["other"], n=1))
    plain = load_engine(str(tiny_model_dir), None, dtype="float32")
    with pytest.raises(ValueError, match="loaded: none"):
        plain.generate(_requests(["a"], n=1))


# --- stylegen/compat/peft.py against the installed PEFT ----------------------------------


def _peft_version() -> str:
    import peft

    return peft.__version__


def test_compat_peft_row_adapters_match_peft_mixed_batch_forward(tiny_model_dir, adapters):
    """Fails when PEFT changes what compat/peft.py relies on (named in the message)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stylegen.compat.peft import adapter_layers, install_row_adapters, row_adapters

    version = _peft_version()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapters["a"]), adapter_name="a")
    model.load_adapter(str(adapters["b"]), adapter_name="b")
    model.eval()
    assert adapter_layers(model), f"peft {version}: no LoraLayer / AuxiliaryTrainingWrapper modules found"
    install_row_adapters(model)
    install_row_adapters(model)  # idempotent: one hook per layer
    ids = torch.tensor([[5, 17, 33, 40, 41, 9]] * 3)
    names = ["a", "b", "__base__"]
    with torch.inference_mode():
        public = model(input_ids=ids, adapter_names=names).logits  # PEFT's documented mixed batch
        with row_adapters(names):
            ours = model(input_ids=ids).logits
        active = model(input_ids=ids).logits  # outside the block: the active adapter ("a") for every row
        with model.disable_adapter():
            plain = model(input_ids=ids[:1]).logits
    assert torch.allclose(ours, public, atol=1e-6), f"peft {version}: per-thread adapter_names differ from PEFT's"
    assert torch.allclose(ours[0], active[0], atol=1e-6), f"peft {version}: row 0 did not run adapter 'a'"
    assert not torch.allclose(ours[1], active[1], atol=1e-4), f"peft {version}: row 1 ignored adapter 'b'"
    assert torch.allclose(ours[2], plain[0], atol=1e-6), f"peft {version}: '__base__' row got an adapter"


def test_compat_peft_row_adapters_are_per_thread(tiny_model_dir, adapters):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stylegen.compat.peft import install_row_adapters, row_adapters

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapters["a"]), adapter_name="a")
    model.load_adapter(str(adapters["b"]), adapter_name="b")
    model.eval()
    install_row_adapters(model)
    ids = torch.tensor([[5, 17, 33, 40]] * 2)
    with torch.inference_mode():
        expected = {names: model(input_ids=ids, adapter_names=list(names)).logits
                    for names in (("a", "b"), ("b", "__base__"))}
    got, barrier = {}, threading.Barrier(2)

    def work(names):
        barrier.wait()
        with torch.inference_mode(), row_adapters(list(names)):
            for _ in range(5):
                got.setdefault(names, []).append(model(input_ids=ids).logits)

    threads = [threading.Thread(target=work, args=(names,)) for names in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for names, logits in expected.items():
        assert all(torch.allclose(x, logits, atol=1e-6) for x in got[names]), names
