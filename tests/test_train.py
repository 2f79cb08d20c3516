"""`stylegen train` on a tiny model, driven through the CLI: manifest, overfit, resume, refusals."""
from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from conftest import ROOT, approved_rows, build_tiny_model, write_jsonl
from stylegen.kit.brand import TrainingSettings, load_brand
from stylegen.cli import cli
from stylegen.errors import ConfigError
from stylegen.models import weights_sha256
from stylegen.training.adapter import check_adapter, read_manifest


def _train(*args):
    # The brand kit puts LoRA on layers 18-29 of SmolLM2; the tiny model has 2 layers.
    return CliRunner().invoke(cli, ["train", "--brand", str(ROOT / "brand"), "--no-progress",
                                    "--set", "layers_to_transform=null", *map(str, args)])


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory, repo_root):
    """One short run on a small approved set (through the brand validators)."""
    work = tmp_path_factory.mktemp("train")
    data = write_jsonl(work / "approved.jsonl", approved_rows(repo_root, 3))
    out = work / "adapter"
    result = _train("--out", out, "--data", data, "--base-model", tiny_model_dir, "--epochs", 1,
                    "--r", 8, "--lora-alpha", 16, "--batch-size", 4, "--learning-rate", 0.01, "--set", "min_examples=5")
    assert result.exit_code == 0, result.output
    return out, result, data


def test_help_texts():
    for command in (["train", "--help"], ["models", "--help"], ["models", "list", "--help"],
                    ["models", "prepare", "--help"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0
        assert "Usage:" in result.output
    assert "--resume" in CliRunner().invoke(cli, ["train", "--help"]).output


def test_short_run_on_a_tiny_overfit_set_lowers_the_loss(tiny_model_dir, tmp_path):
    rows = [{"id": f"R{i}", "prompt": f"Kettle {i}.", "completion": f"Kettle {i} boils water and pours clean."}
            for i in range(12)]
    data = write_jsonl(tmp_path / "overfit.jsonl", rows)
    result = _train("--out", tmp_path / "out", "--data", data, "--base-model", tiny_model_dir, "--epochs", 10,
                    "--learning-rate", 0.02, "--batch-size", 4, "--set", "min_examples=1",
                    "--set", "early_stopping_patience=100")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "out")
    losses = [h["loss"] for h in manifest["training"]["loss_log"]]
    assert losses[-1] < losses[0] - 0.2
    ppl = manifest["eval"]["perplexity"]
    assert ppl["adapter"]["perplexity"] < ppl["base"]["perplexity"]
    assert f"base {ppl['base']['perplexity']} -> adapter {ppl['adapter']['perplexity']}" in result.output


def test_manifest_is_complete(trained, tiny_model_dir, repo_root):
    out, _, data = trained
    manifest = read_manifest(out)
    brand = load_brand(repo_root / "brand")
    assert manifest["base_model"]["weights_sha256"] == weights_sha256(tiny_model_dir)
    assert manifest["brand"]["fingerprint"] == brand.fingerprint()
    assert manifest["data"]["files"] == [str(data)]
    assert len(manifest["data"]["sha256"]) == 64
    hp = manifest["hyperparameters"]
    assert {f.name for f in dataclasses.fields(TrainingSettings)} <= set(hp)
    assert (hp["r"], hp["lora_alpha"], hp["learning_rate"], hp["per_device_train_batch_size"]) == (8, 16, 0.01, 4)
    assert all(manifest["versions"][lib] for lib in ("torch", "transformers", "peft", "python"))
    split = manifest["split"]
    ids = {r["id"] for r in approved_rows(repo_root, 3)}
    assert set(split["train"]) | set(split["eval"]) <= ids and not set(split["train"]) & set(split["eval"])
    assert split["eval"]
    assert manifest["training"]["global_step"] > 0 and manifest["eval"]["eval_loss"]
    assert manifest["training"]["padding_share"] < 0.5
    for name in ("adapter_config.json", "adapter_model.safetensors", "chat_template.jinja", "README.md"):
        assert (out / name).is_file(), name
    assert (out / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "checkpoints").exists()
    assert str(manifest["eval"]["perplexity"]["adapter"]["perplexity"]) in (out / "README.md").read_text()


def test_adapter_loads_with_peft_and_checks_its_base(trained, tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out, _, _ = trained
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(out))
    assert model.peft_config["default"].r == 8
    check_adapter(out, str(tiny_model_dir))
    check_adapter(out, weights_sha256(tiny_model_dir))
    other = build_tiny_model(tmp_path / "other", layers=3)
    with pytest.raises(ConfigError, match="was trained on base model .* but the base model is"):
        check_adapter(out, str(other))


def test_existing_adapter_is_not_overwritten_silently(trained, tiny_model_dir):
    out, _, data = trained
    result = _train("--out", out, "--data", data, "--base-model", tiny_model_dir)
    assert result.exit_code == 2
    assert "already holds an adapter; pass --resume to continue or --overwrite" in result.output


def test_resume_continues_from_the_last_checkpoint(tiny_model_dir, tmp_path, repo_root):
    data = write_jsonl(tmp_path / "approved.jsonl", approved_rows(repo_root, 2))
    out = tmp_path / "adapter"
    common = ["--out", out, "--data", data, "--base-model", tiny_model_dir, "--batch-size", 2,
              "--set", "min_examples=1", "--set", "save_steps=1"]
    first = _train(*common, "--max-steps", 2, "--keep-checkpoints")
    assert first.exit_code == 0, first.output
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    second = _train(*common, "--max-steps", 4, "--resume")
    assert second.exit_code == 0, second.output
    assert "resuming from" in second.output and "checkpoint-2" in second.output
    training = read_manifest(out)["training"]
    assert (training["resumed_from"], training["global_step"]) == ("checkpoint-2", 4)
    assert [h["step"] for h in training["loss_log"]][0] == 1  # the history of steps 1-2 came along
    assert not (out / "checkpoints").exists()
    third = _train(*common, "--max-steps", 4, "--resume")
    assert third.exit_code == 2 and "--resume: no checkpoint in" in third.output


@pytest.mark.parametrize("rows, message", [
    ([], "no usable training examples"),
    ([{"id": "A1", "title": "x", "body": "y"}], "no task field (expected one of: description, meta_description"),
    ("invalid", "no usable training examples"),
])
def test_bad_datasets_are_refused(rows, message, tiny_model_dir, tmp_path, repo_root):
    if rows == "invalid":  # every row fails the brand validators
        rows = approved_rows(repo_root, 1)
        for row in rows:
            for task in ("description", "meta_description"):
                row[task] += " Order now!!!"
            row["bullets"] = [b + "!!!" for b in row["bullets"]]
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    result = _train("--out", tmp_path / "out", "--data", data, "--base-model", tiny_model_dir)
    assert result.exit_code == 2
    assert message in result.output
    if "!!!" in json.dumps(rows):
        assert "KettleCairn.Exclamation" in result.output
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_bad_lora_override_is_a_config_error(tiny_model_dir, tmp_path, repo_root):
    data = write_jsonl(tmp_path / "a.jsonl", approved_rows(repo_root, 1))
    result = _train("--out", tmp_path / "out", "--data", data, "--base-model", tiny_model_dir,
                    "--set", "lora_rank=4", "--set", "lora_dropout=high")
    assert result.exit_code == 2
    assert "training.lora_rank: unknown key" in result.output
    assert "training.lora_dropout: must be float" in result.output


def test_layers_missing_from_the_model_are_named(tiny_model_dir, tmp_path, repo_root):
    data = write_jsonl(tmp_path / "a.jsonl", approved_rows(repo_root, 1))
    result = _train("--out", tmp_path / "out", "--data", data, "--base-model", tiny_model_dir,
                    "--set", "layers_to_transform=[1,5]", "--set", "min_examples=1")
    assert result.exit_code == 2
    assert "training.layers_to_transform: layer(s) [5] do not exist in" in result.output
    assert "(it has 2 layers, 0..1)" in result.output


def test_trained_adapter_is_loadable_by_vllm(trained):
    """vLLM serves LoRA weights only, up to max_lora_rank (16 by default; we check 16, not 512)."""
    from stylegen.training.adapter import VLLM_MAX_LORA_RANK, vllm_problems

    out, result, _ = trained
    config = json.loads((out / "adapter_config.json").read_text())
    assert config.get("modules_to_save") is None
    assert 0 < config["r"] <= VLLM_MAX_LORA_RANK == 16
    assert vllm_problems(config) == []
    assert "vLLM" not in result.output


def test_vllm_problems_names_what_vllm_refuses():
    from stylegen.training.adapter import vllm_problems

    problems = vllm_problems({"r": 32, "modules_to_save": ["lm_head"]})
    assert len(problems) == 2 and "modules_to_save" in problems[0] and "rank 32" in problems[1]
    assert vllm_problems({"r": 8, "rank_pattern": {"q_proj": 64}}) == [
        "LoRA rank 64 is above vLLM's max_lora_rank 16"]
    assert vllm_problems({"r": 64}, max_rank=512) == []
