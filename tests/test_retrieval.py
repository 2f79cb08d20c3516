"""Few-shot examples from the brand's own copy of similar products (generation.examples):
the choice (same category, most fact words in common, training split only), the prompt the
real tokenizer renders with them, and a real tiny-model run that takes them."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from gen_support import ROOT, make_brand, product, read_jsonl, write_csv
from stylegen.cli import cli
from stylegen.errors import ConfigError
from stylegen.generation.retrieval import ExampleIndex
from stylegen.kit.brand import load_brand
from stylegen.validation.corpus import fact_words, load_corpus

TENT = {"name": "Scarp Tent", "category": "Tents", "features": ["two doors", "two vestibules", "mesh inner"],
        "materials": ["ripstop nylon"], "weight": "3 lb 1 oz"}


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _kit(tmp_path, tiny_model_dir, examples: int):
    brand = make_brand(tmp_path, base_model=str(tiny_model_dir), max_new_tokens=24, examples=examples)
    data = yaml.safe_load((brand / "brand.yaml").read_text(encoding="utf-8"))
    data["training"]["data"] = str(ROOT / "training_data" / "approved")
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return brand


def test_the_nearest_are_of_the_same_category_with_most_facts_in_common_and_never_held_out():
    brand = load_brand(ROOT / "brand")
    index = ExampleIndex.of_brand(brand)
    shots = index.nearest(TENT, "description", 3)
    assert len(shots) == 3 and all(s["facts"]["category"] == "Tents" for s in shots)
    held = load_corpus(brand).held_out()
    assert not {s["id"] for s in shots} & held
    shared = [fact_words(s["facts"]) & fact_words(TENT) for s in shots]
    assert {"door", "vestibule", "mesh", "inner"} <= shared[0] | shared[1]  # doors, vestibules, a mesh inner
    assert index.nearest(TENT, "description", 3) == shots  # deterministic: a resumed row gets the same prompt
    assert index.nearest(TENT, "description", 0) == []


def test_examples_reach_the_rendered_prompt_as_turns_before_the_request(tmp_path, tiny_model_dir):
    catalog = write_csv(tmp_path / "cat.csv", [product("A", name="Scarp Tent", category="Tents",
                                                       features="two doors;two vestibules;mesh inner")])
    prompts = {}
    for k in (0, 2):
        brand = _kit(tmp_path / f"k{k}", tiny_model_dir, k)
        result = CliRunner().invoke(cli, ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out",
                                          str(tmp_path / f"run{k}"), "--no-adapter", "--dry-run"])
        assert result.exit_code == 0, result.output
        prompts[k] = {p["task"]: p["prompt"] for p in read_jsonl(tmp_path / f"run{k}" / "prompts.jsonl")}
    shots = ExampleIndex.of_brand(load_brand(tmp_path / "k2" / "brand")).nearest(
        {"name": "Scarp Tent", "category": "Tents", "features": ["two doors", "two vestibules", "mesh inner"],
         "materials": ["aluminum"], "weight": "9 oz"}, "description", 2)
    with_shots = prompts[2]["description"]
    assert all(s["description"] in with_shots for s in shots)
    assert with_shots.count("<|im_start|>assistant") == 3  # two example answers, then the open turn
    assert prompts[0]["description"].count("<|im_start|>assistant") == 1
    assert with_shots.endswith(prompts[0]["description"].split("<|im_start|>user", 1)[1])  # same request last


def test_a_real_tiny_model_run_with_examples_and_the_setting_is_part_of_the_identity(tmp_path, tiny_model_dir):
    brand = _kit(tmp_path, tiny_model_dir, 1)
    catalog = write_csv(tmp_path / "cat.csv", [product("A", category="Tents")])
    args = ["generate", "--brand", str(brand), "--catalog", str(catalog), "--out", str(tmp_path / "run"),
            "--no-adapter", "--max-attempts", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 1), result.output  # the random tiny model may fail the checks
    settings = (tmp_path / "run" / "settings.json").read_text(encoding="utf-8")
    assert '"examples": 1' in settings
    data = yaml.safe_load((brand / "brand.yaml").read_text(encoding="utf-8"))
    data["generation"]["examples"] = 2
    (brand / "brand.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    resumed = CliRunner().invoke(cli, args)  # the same run directory: a resume
    assert resumed.exit_code == 2 and "examples" in resumed.output


def test_a_negative_count_is_a_config_error_naming_the_key(tmp_path):
    brand = make_brand(tmp_path, examples=-1)
    with pytest.raises(ConfigError, match="generation.examples"):
        load_brand(brand)
