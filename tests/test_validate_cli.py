"""``stylegen validate`` driven through the real CLI: inputs, formats, exit codes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kit_support import GOOD
from stylegen.cli import cli

ROOT = Path(__file__).resolve().parent.parent
BRAND = str(ROOT / "brand")


def run(*args, input=None):
    return CliRunner().invoke(cli, ["validate", *args, "--brand", BRAND], input=input)


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_clean_copy_exits_0_with_a_summary(tmp_path):
    result = run(str(write_jsonl(tmp_path / "ok.jsonl", [GOOD])))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "0 findings in 1 record: 0 errors, 0 warnings, 0 suggestions"


def test_text_format_lines_and_summary(tmp_path):
    bad = dict(GOOD, id="T-2", description=GOOD["description"] + " It is amazing!")
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD, bad])
    result = run(str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    col = len(GOOD["description"]) + 8
    assert f"{path}:2:{col}: KettleCairn.Hype [error] Cut the hype word 'amazing': name the concrete detail " \
           "that earns the praise. (T-2 description)" in lines
    assert f"{path}:2:{col + 7}: KettleCairn.Exclamation [error] Drop the exclamation mark: state it plainly " \
           "and let the fact carry it. (T-2 description)" in lines
    assert lines[-2] == "2 findings in 2 records: 2 errors, 0 warnings, 0 suggestions"
    assert lines[-1] == "most frequent: KettleCairn.Exclamation (1), KettleCairn.Hype (1)"


def test_fail_level(tmp_path):
    passive = dict(GOOD, description=GOOD["description"] + " Every seam is stitched twice.")
    path = str(write_jsonl(tmp_path / "p.jsonl", [passive]))
    assert run(path).exit_code == 0  # Default.Passive is a suggestion
    assert run(path, "--fail-level", "warning").exit_code == 0
    result = run(path, "--fail-level", "suggestion")
    assert result.exit_code == 1
    assert "Default.Passive [suggestion] Passive voice 'is stitched'" in result.output


def test_a_note_naming_a_rule_waives_it_for_that_record(tmp_path):
    amazing = GOOD["description"] + " It is amazing."
    records = [dict(GOOD, id="N-1", description=amazing, note="KettleCairn.Hype: 'Amazing' is the model name"),
               dict(GOOD, id="N-2", description=amazing, note="Approved by the editor"),
               dict(GOOD, id="N-3", description=amazing + "!", note="KettleCairn.Hype: model name")]
    result = run(str(write_jsonl(tmp_path / "n.jsonl", records)), "--format", "json")
    got = [(f["id"], f["rule"], f["level"], f["message"].endswith("(waived by the record's note)"))
           for f in json.loads(result.output)["findings"]]
    assert got == [("N-1", "KettleCairn.Hype", "suggestion", True), ("N-2", "KettleCairn.Hype", "error", False),
                   ("N-3", "KettleCairn.Hype", "suggestion", True),
                   ("N-3", "KettleCairn.Exclamation", "error", False)]
    assert result.exit_code == 1


def test_malformed_records_are_findings_and_reading_goes_on(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", ['{"id": "T-1", broken', {"description": "x"},
                                               dict(GOOD, id="T-3", description=5), dict(GOOD, id="T-4")])
    result = run(str(path), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    inputs = [(f["line"], f["message"]) for f in doc["findings"] if f["rule"] == "Stylegen.Input"]
    assert inputs == [(1, "not valid JSON: Expecting property name enclosed in double quotes (column 15)"),
                      (2, "record id is missing"), (3, "description: must be a string, got int")]
    assert doc["summary"]["records"] == 3  # lines 2-4 were read; T-4 is clean
    assert not [f for f in doc["findings"] if f.get("id") == "T-4"]


def test_json_findings_say_where(tmp_path):
    bad = dict(GOOD, bullets=GOOD["bullets"] + ["Never name a Summitline stove"])
    path = write_jsonl(tmp_path / "b.jsonl", [bad])
    doc = json.loads(run(str(path), "--format", "json").output)
    (finding,) = [f for f in doc["findings"] if f["rule"] == "KettleCairn.Competitors"]
    assert finding == {"rule": "KettleCairn.Competitors", "level": "error",
                       "message": "Don't name the competitor 'Summitline'.", "path": str(path), "line": 1,
                       "col": 14, "id": "T-1", "field": "bullets[3]", "span": [13, 23], "match": "Summitline"}
    assert doc["summary"]["levels"] == {"error": 1, "warning": 0, "suggestion": 0}


def test_sarif(tmp_path):
    bad = dict(GOOD, meta_description=GOOD["meta_description"] + " Visit www.example.com now.")
    path = write_jsonl(tmp_path / "s.jsonl", [bad])
    out = tmp_path / "report.sarif"
    result = run(str(path), "--format", "sarif", "--output", str(out))
    assert result.exit_code == 1 and result.output == ""
    log = json.loads(out.read_text())
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run0 = log["runs"][0]
    rule_ids = [r["id"] for r in run0["tool"]["driver"]["rules"]]
    assert "Default.URL" in rule_ids and "KettleCairn.Hype" in rule_ids  # every active rule is described
    results = [r for r in run0["results"] if r["ruleId"] == "Default.URL"]
    assert len(results) == 1
    r = results[0]
    assert r["level"] == "error" and rule_ids[r["ruleIndex"]] == "Default.URL"
    assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == str(path)
    assert r["locations"][0]["physicalLocation"]["region"] == {"startLine": 1,
                                                               "startColumn": len(GOOD["meta_description"]) + 8}
    assert r["properties"] == {"id": "T-1", "field": "meta_description", "match": "www.example.com"}


def test_csv_records_with_list_cells_and_multiline_rows(tmp_path):
    path = tmp_path / "copy.csv"
    bullets = json.dumps(GOOD["bullets"])
    path.write_text("id,description,meta_description,bullets\n"
                    f"C-1,\"{GOOD['description']}\",\"{GOOD['meta_description']}\",\"{bullets.replace(chr(34), chr(34) * 2)}\"\n"
                    f"C-2,\"{GOOD['description']}\",\"{GOOD['meta_description']}\",\"Folds flat\nFits the pot\nwide burner head for heat\"\n"
                    f"C-3,\"{GOOD['description']} We utilize it.\",\"{GOOD['meta_description']}\",Folds flat and stays put;Fits in the pot;Wide burner for heat\n",
                    encoding="utf-8")
    doc = json.loads(run(str(path), "--format", "json").output)
    got = [(f["rule"], f["line"], f["id"], f.get("field")) for f in doc["findings"]]
    # C-2's cell holds three lines (rows 3-5), so C-3 starts on line 6
    assert got == [("KettleCairn.BulletWords", 3, "C-2", "bullets[0]"),
                   ("KettleCairn.BulletCapital", 3, "C-2", "bullets[2]"),
                   ("KettleCairn.Swaps", 6, "C-3", "description")]


def test_text_files_get_real_line_and_column(tmp_path):
    path = tmp_path / "blurb.md"
    path.write_text("# Ridgeback\n\nIt boils fast.\nBuy it, you might like it!\n", encoding="utf-8")
    result = run(str(path))
    assert result.exit_code == 1
    assert f"{path}:4:13: KettleCairn.Hedging [error] Drop the hedge 'might': say it plainly, or leave it out. " \
        "(blurb description)" in result.output.splitlines()
    assert f"{path}:4:26: KettleCairn.Exclamation" in result.output
    assert "Default.Schema" not in result.output  # a text file is one field, not a record


def test_text_file_as_a_list_field(tmp_path):
    path = tmp_path / "bullets.txt"
    path.write_text("- Folds flat and stays put\n- fits the pot and the lid\n", encoding="utf-8")
    result = run(str(path), "--field", "bullets")
    assert f"{path}:2:3: KettleCairn.BulletCapital" in result.output


def test_stdin_jsonl_and_text():
    result = run("-", "--format", "json", input=json.dumps(dict(GOOD, description=GOOD["description"] + "!")))
    (finding,) = json.loads(result.output)["findings"]
    assert (finding["path"], finding["line"], finding["rule"]) == ("-", 1, "KettleCairn.Exclamation")
    result = run("-", input="Line one.\nSecond line, with a game-changer.\n")
    assert "-:2:21: KettleCairn.Reject" in result.output


def test_directories_are_read_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_jsonl(tmp_path / "a" / "b" / "x.jsonl", [dict(GOOD, description=GOOD["description"] + "!")])
    (tmp_path / "a" / "y.txt").write_text("Utterly premium.", encoding="utf-8")
    (tmp_path / "a" / "ignored.log").write_text("premium!", encoding="utf-8")
    result = run(str(tmp_path / "a"), "--format", "json")
    paths = {Path(f["path"]).name for f in json.loads(result.output)["findings"]}
    assert paths == {"x.jsonl", "y.txt"}


def test_suite_option_and_unknown_suite(tmp_path):
    path = str(write_jsonl(tmp_path / "h.jsonl", [dict(GOOD, description=GOOD["description"] + " Amazing!")]))
    assert run(path, "--suite", "Default").exit_code == 0
    result = run(path, "--suite", "Nope")
    assert result.exit_code == 2
    assert "suite 'Nope' not found" in result.output and "available: Default, KettleCairn" in result.output


@pytest.mark.parametrize("args, needle", [
    (["does-not-exist.jsonl"], "no such file or directory"),
    (["x.jsonl", "--format", "xml"], "'xml' is not one of 'text', 'json', 'sarif'"),
    (["x.jsonl", "--fail-level", "fatal"], "'fatal' is not one of"),
    (["-", "--field", "title"], "unknown field 'title' (valid: description, meta_description, bullets)"),
])
def test_usage_errors_exit_2(args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "x.jsonl", [GOOD])
    result = run(*args, input="text")
    assert result.exit_code == 2
    assert needle in result.output


def test_approved_copy_passes_the_brands_rules():
    """Done-when of issue 2: the brand's approved copy passes its own rules (exit 0)."""
    result = CliRunner().invoke(cli, ["validate", str(ROOT / "training_data" / "approved"), "--brand", BRAND])
    assert result.exit_code == 0, result.output[-3000:]
