"""Base model resolution, hashing, dtype choice and the `models` command (no downloads)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from stylegen import models
from stylegen.cli import cli
from stylegen.errors import ConfigError


def test_local_dir_resolves_and_loads(tiny_model_dir):
    assert models.resolve_model(str(tiny_model_dir)) == tiny_model_dir.resolve()
    model, tokenizer = models.load_model(str(tiny_model_dir), dtype="float32")
    assert not model.training
    assert tokenizer.pad_token == "<|im_end|>" and tokenizer.chat_template
    info = models.model_info(str(tiny_model_dir))
    assert info["weights_sha256"] == models.weights_sha256(tiny_model_dir)


def test_weights_hash_follows_the_bytes(tiny_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert models.weights_sha256(copy) == models.weights_sha256(tiny_model_dir)
    with open(copy / "model.safetensors", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\x01\x02\x03\x04")
    assert models.weights_sha256(copy) != models.weights_sha256(tiny_model_dir)


def test_unknown_models_are_config_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="folder has no config.json"):
        models.resolve_model(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="not an embedded alias \\(smollm2-135m-instruct\\)"):
        models.resolve_model("no-such-org/no-such-model-xyz")


def test_dtype_choice():
    import torch

    assert models.pick_dtype("float32") == torch.float32
    assert models.pick_dtype("bfloat16") == torch.bfloat16
    expected = torch.bfloat16 if models.cpu_supports_bf16() else torch.float32
    assert torch.cuda.is_available() or models.pick_dtype("auto") == expected
    with pytest.raises(ConfigError, match="dtype must be auto, bfloat16 or float32"):
        models.pick_dtype("fp8")


def test_missing_chat_template_gets_chatml(tiny_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "no-template"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    assert models.load_tokenizer(str(copy)).chat_template == models.CHATML_TEMPLATE


def test_models_list_cli_uses_stylegen_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGEN_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert f"models home: {tmp_path / 'home' / 'models'}" in result.output
    assert "smollm2-135m-instruct" in result.output and "not prepared" in result.output


def test_models_prepare_local_dir(tiny_model_dir):
    result = CliRunner().invoke(cli, ["models", "prepare", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert f"ready at {tiny_model_dir.resolve()}" in result.output
    bad = CliRunner().invoke(cli, ["models", "prepare", "no-such-org/none-xyz"])
    assert bad.exit_code == 2 and "error: base model 'no-such-org/none-xyz'" in bad.output
