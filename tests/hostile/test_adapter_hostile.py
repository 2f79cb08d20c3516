"""Broken adapters are refused before the base model loads (exit 2 naming the file), and a
start that fails leaves no identity in a new run directory, so the rerun after the repair works."""
from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from gen_support import make_brand, product, write_csv
from stylegen.cli import cli
from stylegen.errors import ConfigError


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _tiny_adapter(tiny_model_dir, out, seed=1):
    """A real PEFT LoRA adapter on the tiny model, with a stylegen manifest naming its base weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from stylegen.models import weights_sha256

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(str(out))
    manifest = {"base_model": {"id": str(tiny_model_dir), "weights_sha256": weights_sha256(tiny_model_dir)}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def _generate(tmp_path, tiny_model_dir, adapter, out):
    brand = make_brand(tmp_path, base_model=str(tiny_model_dir), max_new_tokens=8)
    catalog = write_csv(tmp_path / "cat.csv", [product("A")])
    return CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out", str(out),
                                    "--adapter", str(adapter), "--max-attempts", "1"])


def _rewrite_tensor(adapter, name_part, shape):
    import torch
    from safetensors.torch import load_file, save_file

    path = adapter / "adapter_model.safetensors"
    tensors = load_file(str(path))
    name = next(n for n in tensors if name_part in n)
    tensors[name] = torch.zeros(shape)
    save_file(tensors, str(path))
    return name


def _assert_refused(result, out, *parts):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for part in parts:
        assert part in result.output, result.output
    assert not out.exists()  # refused before the run directory was made


def test_truncated_safetensors_is_refused_then_repaired_run_works(tmp_path, tiny_model_dir):
    adapter = _tiny_adapter(tiny_model_dir, tmp_path / "adapter")
    weights = adapter / "adapter_model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    out = tmp_path / "run"
    _assert_refused(_generate(tmp_path, tiny_model_dir, adapter, out), out, str(weights), "truncated")
    weights.write_bytes(good)  # repaired: the same run directory is not refused
    result = _generate(tmp_path, tiny_model_dir, adapter, out)
    assert result.exit_code in (0, 1), result.output
    assert "1 rows:" in result.output


@pytest.mark.parametrize("damage, message", [
    (lambda a: (a / "adapter_model.safetensors").write_bytes(b"\x00" * 3), "not a safetensors file"),
    (lambda a: (a / "adapter_model.safetensors").write_bytes((40).to_bytes(8, "little") + b"{not json" + b" " * 40),
     "safetensors header is not valid JSON"),
    (lambda a: (a / "adapter_config.json").write_text("{broken"), "adapter_config.json: not readable JSON"),
    (lambda a: (a / "manifest.json").unlink(), "missing manifest.json"),
    (lambda a: (a / "adapter_config.json").unlink(), "missing adapter_config.json"),
])
def test_damaged_files_are_config_errors_naming_the_file(tmp_path, tiny_model_dir, damage, message):
    adapter = _tiny_adapter(tiny_model_dir, tmp_path / "adapter")
    damage(adapter)
    out = tmp_path / "run"
    _assert_refused(_generate(tmp_path, tiny_model_dir, adapter, out), out, str(adapter), message)


def test_tensor_shape_that_does_not_fit_the_base_is_refused(tmp_path, tiny_model_dir):
    adapter = _tiny_adapter(tiny_model_dir, tmp_path / "adapter")
    name = _rewrite_tensor(adapter, "q_proj.lora_A", (4, 576))  # SmolLM2's hidden size, not the tiny 64
    out = tmp_path / "run"
    _assert_refused(_generate(tmp_path, tiny_model_dir, adapter, out), out, "adapter_model.safetensors", name,
                    "[4, 576]", "[4, 64]")


def test_rank_that_differs_from_adapter_config_is_refused(tmp_path, tiny_model_dir):
    adapter = _tiny_adapter(tiny_model_dir, tmp_path / "adapter")
    name = _rewrite_tensor(adapter, "v_proj.lora_B", (32, 8))  # r=8 in the file, r=4 in the config
    out = tmp_path / "run"
    _assert_refused(_generate(tmp_path, tiny_model_dir, adapter, out), out, name, "r do not match")


def test_layer_beyond_the_base_model_is_refused(tmp_path, tiny_model_dir):
    from stylegen.training.adapter import verify_adapter_files

    adapter = _tiny_adapter(tiny_model_dir, tmp_path / "adapter")
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["num_hidden_layers"] = 1  # the adapter has layers 0 and 1
    with pytest.raises(ConfigError, match=r"adapter_model\.safetensors: tensor .*layers\.1\..* base model has 1 layers"):
        verify_adapter_files(adapter, config)


def test_failed_load_leaves_no_identity_in_a_new_run_directory(tmp_path, tiny_model_dir, monkeypatch):
    import stylegen.generation.lanes as lanes

    first = _tiny_adapter(tiny_model_dir, tmp_path / "first")
    out = tmp_path / "run"

    def broken_load(brand, settings):
        raise ConfigError(f"adapter {settings.adapter}: cannot be loaded")

    monkeypatch.setattr(lanes, "brand_engine", broken_load)
    failed = _generate(tmp_path, tiny_model_dir, first, out)
    assert failed.exit_code == 2 and "cannot be loaded" in failed.output and "Traceback" not in failed.output
    db = sqlite3.connect(out / "ledger.sqlite")
    assert db.execute("SELECT count(*) FROM meta WHERE key = 'identity'").fetchone()[0] == 0
    db.close()
    monkeypatch.undo()
    second = _tiny_adapter(tiny_model_dir, tmp_path / "second", seed=2)  # another adapter hash
    result = _generate(tmp_path, tiny_model_dir, second, out)
    assert result.exit_code in (0, 1), result.output
    assert "changed" not in result.output and "1 rows:" in result.output
