"""The adapter the repository ships must speak for the approved copy it ships with."""
from __future__ import annotations

import json
import shutil

from stylegen.kit.brand import load_brand
from stylegen.training.adapter import adapter_data_drift, read_manifest

from conftest import ROOT
from kit_support import copy_validators

ADAPTER = ROOT / "adapters" / "kettle-cairn"


def test_shipped_adapter_was_trained_on_the_shipped_approved_copy():
    brand = load_brand(ROOT / "brand")
    assert brand.resolve(brand.model.adapter) == ADAPTER.resolve()
    assert adapter_data_drift(ADAPTER, brand) is None


def test_shipped_adapter_manifest_shows_style_was_learned():
    manifest = read_manifest(ADAPTER)
    assert manifest["base_model"]["id"] == "smollm2-135m-instruct"
    ppl = manifest["eval"]["perplexity"]
    assert ppl["adapter"]["perplexity"] < 0.8 * ppl["base"]["perplexity"]


def test_changed_training_data_is_reported_with_how_to_retrain(tmp_path):
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    copy_validators(tmp_path / "validators")
    data = tmp_path / "training_data" / "approved"
    shutil.copytree(ROOT / "training_data" / "approved", data)
    first = data / "camp.jsonl"
    record = json.loads(first.read_text(encoding="utf-8").splitlines()[0])
    record["description"] += " One more sentence."
    with first.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    drift = adapter_data_drift(ADAPTER, load_brand(tmp_path / "brand"))
    assert drift is not None and "stylegen train" in drift and "--overwrite" in drift
