"""`stylegen eval`: each metric on hand-checkable inputs, the prompt-only arm's prompt,
the few-shot split, reproducibility and the CLI, on the tiny model."""
from __future__ import annotations

import json
import math
import sqlite3

import pytest
import yaml
from click.testing import CliRunner

from stylegen.training.scoring import PerplexityScorer
from stylegen.kit.brand import load_brand
from stylegen.cli import cli
from stylegen.errors import DataError
from stylegen.evaluation.evaluate import (EvalOptions, arm_messages, choose_shots, eval_split, generation_metrics,
                               prompt_only_system, reference_perplexity, reference_rows, run_eval, text_metrics,
                               verdict)
from stylegen.kit.prompts import render_messages

from gen_support import make_brand, product, write_csv
from voice_support import ROOT, approved, make_kit

N_EVAL = 3
VOICE_MODEL = ROOT / "brand" / "voice-model.json"


@pytest.fixture(scope="module")
def kit(tmp_path_factory, tiny_model_dir):
    """The sample brand kit (24 approved records) on the tiny model, with short outputs."""
    brand = make_kit(tmp_path_factory.mktemp("evalkit"), per_file=6)
    data = yaml.safe_load((brand / "brand.yaml").read_text())
    data["model"].update(base_model=str(tiny_model_dir), dtype="float32", adapter=None)
    data["generation"].update(batch_size=8, max_attempts=2, candidates=1, feedback=True)  # the loop eval measured
    for task in data["tasks"].values():
        task["max_new_tokens"] = 6
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return brand


@pytest.fixture(scope="module")
def adapter(kit, tiny_model_dir, tmp_path_factory):
    """A random-init LoRA adapter for the tiny model with a stylegen manifest (3 eval records)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stylegen.models import model_info

    out = tmp_path_factory.mktemp("adapter")
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(out)
    ids = sorted(r["id"] for r in approved(kit))
    info = {k: v for k, v in model_info(str(tiny_model_dir)).items() if k != "path"}
    manifest = {"format": "stylegen-adapter/1", "base_model": info,
                "split": {"eval": ids[:N_EVAL], "train": ids[N_EVAL:]}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


# --- the prompt-only arm's prompt and the few-shot split ----------------------------------


def test_prompt_only_system_has_voice_audience_and_rules_in_words(kit):
    brand = load_brand(kit)
    system = prompt_only_system(brand)
    assert system.startswith("You write product copy for Kettle & Cairn.")
    assert " ".join(brand.voice.split()) in system and " ".join(brand.audience.split()) in system
    for word in ("eco-friendly", "game-changer", "Summitline", "write 'use', not 'utilize'",
                 "A description has 45 to 110 words.", "No exclamation marks.", "at least 50 on flesch reading ease"):
        assert word in system
    assert "brand.yaml" not in system  # the model cannot read config files
    assert "No hedging words: might, perhaps" in system
    assert "Hype words that praise without saying anything: amazing" in system


def test_few_shot_examples_come_from_the_training_split_only(kit, adapter):
    brand = load_brand(kit)
    manifest = json.loads((adapter / "manifest.json").read_text())
    split = eval_split(brand, None, manifest, None)
    assert [r.id for r in split.eval] == manifest["split"]["eval"]
    shots = choose_shots(brand, split.eval, split.train, 3, seed=1)
    train_ids = set(manifest["split"]["train"])
    for rec in split.eval:
        for task in brand.tasks:
            examples = shots[rec.id][task]
            assert len(examples) == 3
            assert all(e["id"] in train_ids for e in examples)
            # Same category first: the sample kit has 6 records per category file.
            same = [e for e in examples if e["facts"]["category"] == rec.facts["category"]]
            assert same == examples[:len(same)] and same
    assert choose_shots(brand, split.eval, split.train, 3, seed=1) == shots


def test_an_eval_record_copied_into_training_data_is_refused(kit, tmp_path):
    brand = load_brand(kit)
    rec = dict(approved(kit)[5], id="NEW-1")  # same copy as a training record, new id
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps(rec) + "\n")
    with pytest.raises(DataError, match="leak"):
        eval_split(brand, str(data), None, None)


def test_arm_messages_render_the_arm_prompt_with_feedback(kit, adapter):
    from stylegen.evaluation.evaluate import eval_rows
    from stylegen.generation.engine import ScriptedEngine

    brand = load_brand(kit)
    manifest = json.loads((adapter / "manifest.json").read_text())
    split = eval_split(brand, None, manifest, None)
    shots = choose_shots(brand, split.eval, split.train, 3, seed=1)
    rows = eval_rows(split.eval)
    engine = ScriptedEngine(lambda r: "")
    row = rows[0]
    prompt = engine.render(arm_messages(brand, shots, "SYSTEM TEXT")("meta_description", row, "Fix: shorter"))
    assert prompt.startswith("<|system|>\nSYSTEM TEXT\n")
    for example in shots[row.id]["meta_description"]:
        assert example["meta_description"] in prompt
    assert prompt.rstrip().endswith("Fix: shorter\n<|assistant|>".rstrip())
    # without an arm's system turn and shots, the builder renders what generate sends by default
    plain = arm_messages(brand, None, None)("meta_description", row, None)
    assert plain == render_messages(brand, "meta_description", row.facts)


# --- each metric on hand-checkable inputs ----------------------------------------------------


def test_generation_metrics_from_a_scripted_run(tmp_path):
    from stylegen.generation.engine import ScriptedEngine
    from stylegen.generation.run import GenerateOptions, run_generate

    brand = make_brand(tmp_path, max_attempts=3)
    catalog = write_csv(tmp_path / "c.csv", [product("A"), product("B"), product("C")])

    def script(req):
        rid = req.key.split("/")[0]
        fixed = "Fix:" in req.prompt and rid == "B"
        text = "The best kettle." if rid == "C" or (rid == "B" and not fixed) else "A plain kettle."
        return "- " + text if req.key.endswith("bullets") else text

    engine = ScriptedEngine(script)
    run_generate(GenerateOptions(brand=str(brand), catalog=str(catalog), out=str(tmp_path / "run"), no_adapter=True,
                                 progress=False), engine=engine)
    metrics, outputs = generation_metrics(tmp_path / "run", load_brand(brand), price_per_1k=0.5)
    # A: 3 outputs pass at once; B: 3 pass on attempt 2; C: 3 never pass (3 attempts each).
    assert metrics["outputs"] == 9 and metrics["products"] == 3
    assert metrics["first_pass_rate"] == round(3 / 9, 4)
    assert metrics["final_pass_rate"] == round(6 / 9, 4)
    assert metrics["mean_attempts"] == 2.0
    assert metrics["mean_attempts_to_pass"] == 1.5
    assert metrics["product_first_pass_rate"] == round(1 / 3, 4)
    prompt_tokens = [len(r.prompt.split()) for r in engine.requests]
    total = sum(prompt_tokens) + sum(len(script(r).split()) for r in engine.requests)
    assert len(engine.requests) == 3 + 3 * 2 + 3 * 3
    assert metrics["prompt_tokens_per_request"] == round(sum(prompt_tokens) / len(prompt_tokens), 4)
    assert metrics["tokens_per_product"] == round(total / 3, 1)
    assert metrics["cost_per_1k_products"] == round(total / 3 * 0.5, 4)
    assert metrics["failures_by_rule"] == {"T.Hype": 3 + 9}
    assert outputs["A"]["description"] == "A plain kettle."


def test_text_metrics_readability_gap_and_voice_by_hand(kit):
    from stylegen.validation.readability import score

    brand = load_brand(kit)
    refs = {"r1": {"description": "The pot holds a liter. It weighs nine ounces. Wash it by hand.",
                   "meta_description": "A light pot for one."}}
    outs = {"r1": {"description": "This extraordinarily multifunctional cookware apparatus accommodates"
                                  " considerable volumetric requirements.", "meta_description": "A pot."}}

    class Voice:  # 0.9 for the reference texts, 0.2 for anything else
        def score(self, texts):
            known = {t for f in refs.values() for t in f.values()}
            return [0.9 if t in known else 0.2 for t in texts]

    m = text_metrics(brand, outs, refs, Voice())
    fre = lambda t: score("flesch_reading_ease", t)  # noqa: E731
    desc = m["readability"]["description"]
    assert desc["outputs"] == round(fre(outs["r1"]["description"]), 2)
    assert desc["references"] == round(fre(refs["r1"]["description"]), 2)
    gaps = [abs(fre(outs["r1"][k]) - fre(refs["r1"][k])) for k in ("description", "meta_description")]
    assert desc["gap"] == round(gaps[0], 2)
    assert m["readability_gap"] == pytest.approx(sum(gaps) / 2, abs=0.01)
    assert m["voice_score"] == 0.2 and m["voice_auc_vs_references"] == 1.0
    assert m["voice_by_task"]["bullets"] is None


def test_reference_perplexity_counts_completion_tokens_only(kit, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    brand = load_brand(kit)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    rec = next(r for r in eval_split(brand, None, None, 1).eval)
    rows = reference_rows(brand, tokenizer, [rec], None, None)
    assert len(rows) == 3
    row = rows[0]
    answer = rec.fields["description"] + "<|im_end|>"
    n_completion = len(tokenizer(answer, add_special_tokens=False)["input_ids"])
    assert sum(1 for x in row["labels"] if x != -100) == n_completion
    ids = torch.tensor([row["input_ids"]])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    start = len(row["input_ids"]) - n_completion
    nll = -sum(logprobs[i - 1, row["input_ids"][i]].item() for i in range(start, len(row["input_ids"])))

    result = reference_perplexity(PerplexityScorer(model, tokenizer), [row], batch_size=1)
    assert result["tokens"] == n_completion
    assert result["perplexity"] == pytest.approx(math.exp(nll / n_completion), rel=1e-3)


def test_verdict_counts_wins_and_prompt_token_share():
    def arm(**m):
        return {"metrics": m}

    base = dict(perplexity=10, first_pass_rate=0.5, mean_attempts=2, voice_score=0.3, readability_gap=5,
                tokens_per_product=1000, prompt_tokens_per_request=800)
    tuned = dict(perplexity=6, first_pass_rate=0.5, mean_attempts=1.5, voice_score=0.6, readability_gap=7,
                 tokens_per_product=400, prompt_tokens_per_request=200)
    report = {"arms": {"prompt-only": arm(**base), "adapter": arm(**tuned)}}
    assert verdict(report) == "adapter beats prompt-only on 4 of 6 metrics at 25% of the prompt tokens"
    assert verdict({"arms": {"adapter": arm(**tuned)}}).startswith("no verdict")


# --- the whole command on the tiny model ---------------------------------------------------------


def _metrics(report: dict) -> dict:
    return {name: arm["metrics"] for name, arm in report["arms"].items()}


def test_eval_cli_end_to_end_and_same_seed_same_numbers(kit, adapter, tmp_path):
    out = tmp_path / "eval"
    args = ["eval", "--brand", str(kit), "--adapter", str(adapter), "--out", str(out), "--no-progress",
            "--arms", "prompt-only,adapter,adapter+few-shot", "--price-per-1k-tokens", "0.5", "--seed", "7",
            "--voice-model", str(VOICE_MODEL)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for name in ("eval.json", "eval.md", "eval.png"):
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "eval.json").read_text())
    assert list(report["arms"]) == ["prompt-only", "adapter", "adapter+few-shot"]
    assert report["verdict"] in result.output and "| prompt-only |" in result.output
    assert report["verdict"] in (out / "eval.md").read_text()
    manifest = json.loads((adapter / "manifest.json").read_text())
    assert report["data"]["eval_records"] == manifest["split"]["eval"]
    assert set(report["data"]["few_shot_ids"]) <= set(manifest["split"]["train"])
    for arm in report["arms"].values():
        m = arm["metrics"]
        assert m["outputs"] == 3 * N_EVAL and m["perplexity"] > 1
        assert 0 <= m["first_pass_rate"] <= 1 and 1 <= m["mean_attempts"] <= 2
        assert m["cost_per_1k_products"] == pytest.approx(m["tokens_per_product"] * 0.5, rel=1e-3)
        assert 0 <= m["voice_score"] <= 1
    assert report["voice_model"]["held_out_roc_auc"] >= 0.9
    _check_prompts(kit, out, report)
    again = run_eval(EvalOptions(brand=str(kit), adapter=str(adapter), out=str(tmp_path / "again"), progress=False,
                                 arms=("prompt-only", "adapter", "adapter+few-shot"), price_per_1k_tokens=0.5,
                                 seed=7, voice_model=str(VOICE_MODEL)))
    assert _metrics(again.report) == _metrics(report)


def _check_prompts(kit, out, report):
    """Prompt-only prompts carry voice, rules and 3 training examples; no eval copy leaks in."""
    brand = load_brand(kit)
    # Descriptions and meta descriptions (bullets can repeat a feature, which is a fact in the prompt).
    refs = [t for r in approved(kit) if r["id"] in report["data"]["eval_records"]
            for t in (r["description"], r["meta_description"])]
    train = {r["id"]: r for r in approved(kit) if r["id"] not in report["data"]["eval_records"]}
    for arm in ("prompt-only", "adapter", "adapter+few-shot"):
        with sqlite3.connect(out / arm / "generate" / "ledger.sqlite") as db:
            prompts = [p for (p,) in db.execute("SELECT prompt FROM attempts")]
        assert prompts
        for prompt in prompts:
            assert not any(ref in prompt for ref in refs)
            assert (" ".join(brand.voice.split()) in prompt) == (arm == "prompt-only")
            shots = sum(1 for r in train.values() if r["description"] in prompt or r["meta_description"] in prompt
                        or r["bullets"][0] in prompt)
            assert shots == (0 if arm == "adapter" else 3)


def test_eval_help():
    result = CliRunner().invoke(cli, ["eval", "--help"])
    assert result.exit_code == 0
    for flag in ("--adapter", "--data", "--arms", "--limit", "--shots", "--seed", "--price-per-1k-tokens",
                 "--max-attempts", "--voice-model", "--out"):
        assert flag in result.output


def test_eval_usage_errors_exit_2(kit, tmp_path):
    result = CliRunner().invoke(cli, ["eval", "--brand", str(kit), "--arms", "prompt-only,magic"])
    assert result.exit_code == 2 and "unknown arm(s) magic" in result.output
    result = CliRunner().invoke(cli, ["eval", "--brand", str(kit), "--adapter", str(tmp_path / "none")])
    assert result.exit_code == 2 and "adapter folder not found" in result.output
    result = CliRunner().invoke(cli, ["eval", "--brand", str(kit), "--arms", "prompt-only", "--shots", "2"])
    assert result.exit_code == 2 and "at least 3 few-shot examples" in result.output
