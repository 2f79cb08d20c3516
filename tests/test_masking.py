"""``training.on_invalid: mask``: the characters error-level rules mark carry no loss; the rest still trains."""
from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from conftest import ROOT, approved_rows, write_jsonl
from stylegen.cli import cli
from stylegen.errors import ConfigError
from stylegen.kit.brand import load_brand
from stylegen.training import data
from stylegen.training.adapter import read_manifest
from stylegen.training.collate import CompletionCollator

# Two unsupported claims in the sample brand's first approved description (KC-C0001, a tent
# whose facts hold neither a waterproof claim nor 9 stakes); the word count stays in range.
CLAIMS = (("lets air move", "stays waterproof"), ("with 8 stakes", "with 9 stakes"))


def _rows(n_per_file: int = 1) -> list[dict]:
    rows = approved_rows(ROOT, n_per_file)
    for old, new in CLAIMS:
        assert old in rows[0]["description"]
        rows[0]["description"] = rows[0]["description"].replace(old, new)
    return rows


def _mask(brand):
    # the tiny test tokenizer needs ~550 tokens for the tent's description: lift max_length
    return dataclasses.replace(brand.training, on_invalid="mask", min_examples=1, max_length=2048)


def _masked_text(tokenizer, row: dict) -> list[str]:
    """The completion tokens that carry no loss, decoded one run at a time."""
    runs, current = [], []
    for token, label in zip(row["input_ids"][row["prompt_len"]:], row["labels"][row["prompt_len"]:]):
        if label == -100:
            current.append(token)
        elif current:
            runs, current = runs + [tokenizer.decode(current)], []
    return runs + ([tokenizer.decode(current)] if current else [])


def test_unsupported_claims_are_masked_and_nothing_else(brand, tokenizer, tmp_path):
    """Golden: exactly the tokens over "waterproof" and "9" lose their labels; every other
    completion token, the end-of-turn token included, still carries loss."""
    path = write_jsonl(tmp_path / "a.jsonl", _rows())
    examples, excluded, _ = data.load_examples(brand, [path], tokenizer, mask=True)
    assert excluded == []
    [example] = [e for e in examples if e.masked]
    assert example.id == "KC-C0001/description"
    assert [(s.rule, s.text) for s in example.masked] == [("KettleCairn.Grounded", "waterproof"),
                                                          ("KettleCairn.Grounded", "9")]
    assert all(example.completion[s.start:s.end] == s.text for s in example.masked)
    row = data.tokenize(tokenizer, example)
    assert _masked_text(tokenizer, row) == [" waterproof", "9"]  # the tiny tokenizer splits " 9" in two
    plain = data.tokenize(tokenizer, dataclasses.replace(example, masked=()))
    assert row["input_ids"] == plain["input_ids"]
    changed = [i for i, (a, b) in enumerate(zip(row["labels"], plain["labels"])) if a != b]
    assert len(changed) == sum(row["masked_tokens"].values()) == row["masked_tokens"]["KettleCairn.Grounded"]
    assert row["labels"][-1] == plain["labels"][-1] != -100          # the stop token still teaches stopping


def test_the_logits_window_keeps_the_tokens_before_a_masked_span(brand, tokenizer, tmp_path):
    """A masked span inside the completion must not cut the collator's window at the span."""
    path = write_jsonl(tmp_path / "a.jsonl", _rows())
    examples, _, _ = data.load_examples(brand, [path], tokenizer, mask=True)
    row = data.tokenize(tokenizer, next(e for e in examples if e.masked))
    batch = CompletionCollator(tokenizer.pad_token_id)([{k: row[k] for k in ("input_ids", "labels", "attention_mask")}])
    completion = len(row["input_ids"]) - row["prompt_len"]
    assert batch["logits_to_keep"] == completion + 1
    assert int((batch["labels"] != -100).sum()) == completion - sum(row["masked_tokens"].values())


def test_exclude_still_drops_the_example_and_mask_keeps_it(brand, tokenizer, tmp_path):
    write_jsonl(tmp_path / "a.jsonl", _rows())
    excluded = data.prepare_dataset(brand, tokenizer, tmp_path, dataclasses.replace(_mask(brand), on_invalid="exclude"))
    masked = data.prepare_dataset(brand, tokenizer, tmp_path, _mask(brand))
    assert [(x["id"], x["task"]) for x in excluded.excluded] == [("KC-C0001", "description")]
    assert masked.excluded == []
    assert len(masked.train) + len(masked.eval) == len(excluded.train) + len(excluded.eval) + 1
    stats = masked.stats["masked_tokens"]
    assert stats["by_rule"] == {"KettleCairn.Grounded": stats["total"]} and stats["total"] >= 2
    [listed] = stats["examples"]
    assert listed["id"] == "KC-C0001/description" and [s["text"] for s in listed["spans"]] == ["waterproof", "9"]
    assert f"masked (no loss): {stats['total']} of" in masked.summary()


def test_a_finding_without_a_span_still_excludes_under_mask(brand, tokenizer, tmp_path):
    """A word count has no characters to mask: that example is left out, and only it counts
    against max_excluded_share."""
    rows = _rows()
    rows[1]["description"] = " ".join([rows[1]["description"]] * 3)   # over the description's word limit
    write_jsonl(tmp_path / "a.jsonl", rows)
    prepared = data.prepare_dataset(brand, tokenizer, tmp_path, _mask(brand))
    [bad] = prepared.excluded
    assert (bad["id"], bad["task"]) == (rows[1]["id"], "description")
    assert any(r.startswith("KettleCairn.DescriptionWords") for r in bad["reasons"])
    assert [e["id"] for e in prepared.stats["masked_tokens"]["examples"]] == ["KC-C0001/description"]
    with pytest.raises(Exception, match=r"exclude 1 of .* over training.max_excluded_share 0.01"):
        data.prepare_dataset(brand, tokenizer, tmp_path, dataclasses.replace(_mask(brand), max_excluded_share=0.01))


def _kit_with(tmp_path, line: str):
    """A copy of the sample kit with its ``on_invalid:`` line replaced (paths to ../ linked)."""
    import re
    import shutil

    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    for name in ("validators", "training_data"):
        (tmp_path / name).symlink_to(ROOT / name)
    yaml = tmp_path / "brand" / "brand.yaml"
    text, n = re.subn(r"(?m)^  on_invalid: \w+", f"  {line}", yaml.read_text(encoding="utf-8"))
    assert n == 1
    yaml.write_text(text, encoding="utf-8")
    return tmp_path / "brand"


def test_on_invalid_accepts_mask_and_names_the_choices(tmp_path):
    assert load_brand(_kit_with(tmp_path / "good", "on_invalid: mask")).training.on_invalid == "mask"
    kit = _kit_with(tmp_path / "bad", "on_invalid: hide")
    with pytest.raises(ConfigError) as err:
        load_brand(kit)
    message = str(err.value)
    assert "brand.yaml:" in message and "training.on_invalid" in message
    assert all(word in message for word in ("exclude", "mask", "refuse", "hide"))
    result = CliRunner().invoke(cli, ["train", "--brand", str(ROOT / "brand"), "--out", str(tmp_path / "o"),
                                      "--set", "on_invalid=hide"])
    assert result.exit_code == 2 and "training.on_invalid" in result.output


def test_train_cli_with_mask_records_masked_tokens(tiny_model_dir, tmp_path):
    """The CLI path: --set on_invalid=mask, two steps on the tiny model; the manifest counts
    masked tokens per rule and lists the masked example; the card says so."""
    path = write_jsonl(tmp_path / "approved.jsonl", _rows(3))
    out = tmp_path / "adapter"
    result = CliRunner().invoke(cli, ["train", "--brand", str(ROOT / "brand"), "--no-progress", "--out", str(out),
                                      "--data", str(path), "--base-model", str(tiny_model_dir), "--max-steps", "2",
                                      "--batch-size", "4", "--set", "layers_to_transform=null",
                                      "--set", "min_examples=1", "--set", "on_invalid=mask",
                                      "--set", "max_length=2048"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    masked = manifest["data"]["masked_tokens"]
    assert manifest["hyperparameters"]["on_invalid"] == "mask"
    assert masked["by_rule"] == {"KettleCairn.Grounded": masked["total"]} and masked["total"] >= 2
    assert masked["train"] + masked["eval"] == masked["total"]
    assert [e["id"] for e in masked["examples"]] == ["KC-C0001/description"]
    assert manifest["data"]["excluded"] == []
    assert "on_invalid: mask" in manifest["hyperparameters"]["loss"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"on_invalid: mask: {masked['total']} completion tokens in 1 example(s)" in card
    assert "KettleCairn.Grounded" in card
    assert json.loads((out / "manifest.json").read_text())["data"]["masked_tokens"] == masked


def test_spans_in_list_items_land_on_their_line_and_a_stray_span_excludes():
    """A list task's item ``bullets[1]`` is the completion's second "- " line; a span that
    does not hold the finding's match cannot be masked, so the example must be excluded."""
    from stylegen.validation.findings import Finding

    value = [" Light ", "Folds flat 9 times"]
    completion = "- Light\n- Folds flat 9 times<|im_end|>"
    hit = Finding(rule="X.Grounded", level="error", message="9 is not in the facts", field="bullets[1]",
                  span=(11, 12), match="9")
    stray = Finding(rule="X.Banned", level="error", message="no", field="bullets[0]", span=(0, 3), match="Dark")
    spans, unplaced = data.masked_spans(value, completion, [hit, stray])
    assert [(s.rule, s.start, s.end, s.text) for s in spans] == [("X.Grounded", 21, 22, "9")]
    assert unplaced == ["X.Banned: no (its span is not in the rendered completion, nothing to mask)"]
