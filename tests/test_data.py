"""Training-data preparation: loss mask, formats, validation filter, dedupe, split."""
from __future__ import annotations

import pytest

from stylegen.kit import prompts
from stylegen.training import data
from stylegen.errors import DataError
from stylegen.training.collate import CompletionCollator

from conftest import approved_rows, write_jsonl


def test_loss_mask_golden(brand, tokenizer):
    """Exactly the completion tokens carry loss, the end-of-turn token included, although
    the pad token is the same token."""
    assert tokenizer.pad_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    facts = {"name": "Tarn Kettle", "weight": "4.6 oz"}
    short = data.Example("a/bullets", "a", "bullets", source="t:1",
                         **prompts.render_example(tokenizer, brand, "bullets", facts, ["Light", "Folds flat"]))
    long = data.Example("b/description", "b", "description", source="t:2",
                        **prompts.render_example(tokenizer, brand, "description", facts, "A kettle. " * 12))
    rows = [data.tokenize(tokenizer, e) for e in (short, long)]
    batch = CompletionCollator(tokenizer.pad_token_id)([{k: r[k] for k in ("input_ids", "labels", "attention_mask")}
                                                       for r in rows])
    ids, labels, mask = batch["input_ids"][0].tolist(), batch["labels"][0].tolist(), batch["attention_mask"][0].tolist()
    n_pad = len(ids) - len(rows[0]["input_ids"])
    assert n_pad > 0 and mask == [0] * n_pad + [1] * len(rows[0]["input_ids"])   # left padding ...
    assert ids[:n_pad] == [tokenizer.pad_token_id] * n_pad                     # ... with <|im_end|> as pad
    assert batch["position_ids"][0].tolist() == [0] * n_pad + list(range(len(rows[0]["input_ids"])))
    keep = batch["logits_to_keep"]
    n_completion = len(tokenizer(short.completion, add_special_tokens=False)["input_ids"])
    assert keep == 1 + len(rows[1]["input_ids"]) - rows[1]["prompt_len"]     # longest completion + 1
    window = ids[-keep:]                                                      # where logits are computed
    assert labels == [-100] * (keep - n_completion) + window[-n_completion:]  # prompt/pad: no loss
    carried = [i for i, lab in zip(window, labels) if lab != -100]
    assert carried[-1] == tokenizer.pad_token_id                     # the stop token carries loss
    assert tokenizer.decode(carried) == "- Light\n- Folds flat<|im_end|>"
    assert batch["labels"][1].tolist()[0] == -100 and (batch["labels"][1] != -100).sum() == keep - 1


def test_rounded_widths_keep_the_same_loss_tokens(brand, tokenizer):
    """pad_to_multiple_of rounds the batch width and logits window, and nothing else changes."""
    facts = {"name": "Tarn Kettle", "weight": "4.6 oz"}
    examples = [data.Example(f"{i}/description", str(i), "description", source=f"t:{i}",
                             **prompts.render_example(tokenizer, brand, "description", facts, "A kettle. " * (3 + i)))
                for i in range(3)]
    rows = [{k: r[k] for k in ("input_ids", "labels", "attention_mask")} for r in
            (data.tokenize(tokenizer, e) for e in examples)]
    plain, rounded = CompletionCollator(tokenizer.pad_token_id)(rows), CompletionCollator(tokenizer.pad_token_id, 16)(rows)
    assert rounded["input_ids"].shape[1] % 16 == 0 and rounded["input_ids"].shape[1] > plain["input_ids"].shape[1]
    assert rounded["logits_to_keep"] % 16 == 0 and rounded["labels"].shape[1] == rounded["logits_to_keep"]
    def carried(batch, i):
        window = batch["input_ids"][i][-batch["logits_to_keep"]:].tolist()
        return [t for t, lab in zip(window, batch["labels"][i].tolist()) if lab != -100]

    for i in range(len(rows)):
        assert carried(plain, i) == carried(rounded, i) and carried(plain, i)
        n = int(plain["attention_mask"][i].sum())
        assert rounded["position_ids"][i][-n:].tolist() == list(range(n))


def test_prompt_and_completion_tokenize_as_generation_sees_them(brand, tokenizer):
    example = prompts.render_example(tokenizer, brand, "meta_description", {"name": "Cairn Mug"}, "A mug.")
    row = data.tokenize(tokenizer, data.Example("x", "x", "meta_description", source="t:1", **example))
    generation_ids = tokenizer(prompts.render_prompt(tokenizer, prompts.render_messages(
        brand, "meta_description", {"name": "Cairn Mug"})), add_special_tokens=False)["input_ids"]
    assert row["input_ids"][:row["prompt_len"]] == generation_ids


def test_dedupe_exact_and_near(brand):
    def ex(i, task, text):
        return data.Example(f"{i}/{task}", str(i), task, f"Write the {task}.", text, "t:1")

    base = "The kettle holds 1.2 L and pours clean from a snug lid, and the handle folds flat for packing."
    examples = [ex(1, "description", base), ex(2, "description", base.upper()),
                ex(3, "description", base.replace("packing.", "travel.")),
                ex(4, "meta_description", base), ex(5, "description", "A different pot with a long handle.")]
    kept, dropped = data.dedupe(examples, threshold=0.85)
    assert [e.id for e in kept] == ["1/description", "4/meta_description", "5/description"]
    assert [(d["id"], d["kind"], d["duplicate_of"]) for d in dropped] == [
        ("2/description", "exact", "1/description"), ("3/description", "near", "1/description")]


def test_split_is_by_record_and_stable_when_records_are_added():
    def examples(n):
        return [data.Example(f"R{i}/{t}", f"R{i}", t, "p", "c", "t:1") for i in range(n) for t in ("a", "b")]

    train1, eval1 = data.split(examples(200), 0.1)
    train2, eval2 = data.split(examples(400), 0.1)
    held1, held2 = {e.record_id for e in eval1}, {e.record_id for e in eval2}
    assert held1 == {r for r in held2 if int(r[1:]) < 200}
    assert not held1 & {e.record_id for e in train1}
    assert 5 <= len(held1) <= 40  # about 10% of 200
    assert all(sum(e.record_id == r for e in eval1) == 2 for r in held1)  # both tasks of a record together


def test_trl_formats_are_accepted_and_bad_rows_named(brand, tokenizer, tmp_path):
    rows = [
        {"prompt": "Describe the Ember kettle.", "completion": "It boils water."},
        {"prompt": [{"role": "user", "content": "Name it."}], "completion": [{"role": "assistant", "content": "Ember."}]},
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello."}]},
        {"messages": [{"role": "user", "content": "no answer"}]},
        {"prompt": "x", "completion": 3},
    ]
    path = write_jsonl(tmp_path / "chat.jsonl", rows)
    examples, excluded, count = data.load_examples(brand, [path], tokenizer)
    assert count == 5 and len(examples) == 3
    assert examples[0].prompt.startswith("<|im_start|>system\nYou write product copy for Kettle & Cairn.<|im_end|>")
    assert examples[0].completion == "It boils water.<|im_end|>"
    assert examples[2].prompt.startswith("<|im_start|>system\nS<|im_end|>")
    assert [(e["source"], e["reasons"][0]) for e in excluded] == [
        (f"{path}:4", "messages: the last message must have role 'assistant'"),
        (f"{path}:5", "completion: must be a string or a list of messages")]


def test_prepare_excludes_invalid_copy_and_lists_it(brand, tokenizer, tmp_path, repo_root):
    rows = approved_rows(repo_root)
    rows[0]["description"] = rows[0]["description"] + " Buy it now!!!"
    write_jsonl(tmp_path / "approved.jsonl", rows)
    prepared = data.prepare_dataset(brand, tokenizer, tmp_path)
    assert len(prepared.train) + len(prepared.eval) == 3 * len(rows) - 1
    [bad] = prepared.excluded
    assert (bad["id"], bad["task"], bad["source"]) == (rows[0]["id"], "description", f"{tmp_path / 'approved.jsonl'}:1")
    assert any("Exclamation" in r for r in bad["reasons"])
    assert any("fewer than 300" in w for w in prepared.warnings)
    assert "1 file(s), 8 record(s)" in prepared.summary()
    # never dropped silently: the summary lists the record and the rule
    assert "excluded by rule: KettleCairn.Exclamation 1" in prepared.summary()
    assert f"{tmp_path / 'approved.jsonl'}:1: {rows[0]['id']} [description] KettleCairn.Exclamation" in prepared.summary()


def test_prepare_stops_when_the_rules_would_exclude_too_much(brand, tokenizer, tmp_path, repo_root):
    import dataclasses

    rows = approved_rows(repo_root)
    for row in rows[:3]:  # 3 of 8 descriptions and 3 of 8 meta descriptions: 6 of 24 examples (25%)
        row["description"] += " Buy it now!!!"
        row["meta_description"] += " Wow!!!"
    write_jsonl(tmp_path / "approved.jsonl", rows)
    with pytest.raises(DataError) as err:
        data.prepare_dataset(brand, tokenizer, tmp_path)
    message = str(err.value)
    assert "would exclude 6 of 24 approved examples (25%, over training.max_excluded_share 0.2)" in message
    assert "KettleCairn.Exclamation 6" in message
    looser = dataclasses.replace(brand.training, max_excluded_share=0.3)
    prepared = data.prepare_dataset(brand, tokenizer, tmp_path, looser)
    assert len(prepared.excluded) == 6


def test_prepare_refuses_with_on_invalid_refuse(brand, tokenizer, tmp_path, repo_root):
    import dataclasses

    rows = approved_rows(repo_root, 1)
    rows[1]["bullets"][0] = "Premium!!! world-class"
    write_jsonl(tmp_path / "a.jsonl", rows)
    settings = dataclasses.replace(brand.training, on_invalid="refuse")
    with pytest.raises(DataError, match=r"failed validation \(on_invalid: refuse\)") as err:
        data.prepare_dataset(brand, tokenizer, tmp_path, settings)
    assert f"{tmp_path / 'a.jsonl'}:2: {rows[1]['id']} [bullets]" in str(err.value)


def test_prepare_refuses_unusable_data(brand, tokenizer, tmp_path):
    write_jsonl(tmp_path / "wrong.jsonl", [{"id": "A1", "text": "Some copy"}, {"id": "A2", "facts": {"name": "X"}}])
    with pytest.raises(DataError) as err:
        data.prepare_dataset(brand, tokenizer, tmp_path / "wrong.jsonl")
    message = str(err.value)
    assert message.startswith("no usable training examples")
    assert "wrong.jsonl:1: A1 missing 'facts'" in message
    assert "wrong.jsonl:2: A2 no task field (expected one of: description, meta_description, bullets" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no \\*.jsonl or \\*.csv files"):
        data.prepare_dataset(brand, tokenizer, tmp_path / "empty")
