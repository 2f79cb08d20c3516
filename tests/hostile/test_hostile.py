"""Hostile but fair input (issue 11): every case must end with a clear message, the right
exit code and no traceback, and the other records' findings must still be reported.

Large inputs are generated here, never committed. pytest-timeout turns a hang into a failure.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kit_support import GOOD
from stylegen.cli import cli

ROOT = Path(__file__).resolve().parents[2]
BRAND = str(ROOT / "brand")
pytestmark = pytest.mark.timeout(60)

# A record with one known finding: it must still be reported next to the hostile one.
HYPE = dict(GOOD, id="T-HYPE", description=GOOD["description"] + " It is amazing.")


def invoke(args, input=None, brand=BRAND):
    result = CliRunner().invoke(cli, [*args[:1], *args[1:], *(["--brand", brand] if args[0] == "validate" else [])],
                                input=input)
    return result, result.output


def validate(path, input=None, brand=BRAND):
    return invoke(["validate", str(path)], input=input, brand=brand)


def clean(out: str):
    assert "Traceback" not in out, out[-3000:]


def hype_still_reported(out: str, line: int):
    assert f":{line}:" in out and "KettleCairn.Hype" in out and "T-HYPE" in out, out[-3000:]


def jl(rec) -> bytes:
    return (rec if isinstance(rec, str) else json.dumps(rec)).encode("utf-8")


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def nested(depth: int):
    return "[" * depth + "]" * depth


# --- records (JSONL) -------------------------------------------------------------------

JSONL_CASES = {
    "deep_nesting_field": (jl('{"id": "X", "description": %s}' % nested(5000)), "nested deeper", None),
    "deep_nesting_facts": (jl('{"id": "X", "facts": {"a": %s}}' % nested(200)), "nested deeper", None),
    "deep_nesting_top": (jl(nested(5000)), "nested deeper", None),
    "deep_objects": (jl('{"a":' * 3000 + "1" + "}" * 3000), "nested deeper", None),
    "field_over_limit": (jl(dict(GOOD, id="X", description="word " * 220_000)), "too long", "description"),
    "spacy_e088_size": (jl(dict(GOOD, id="X", description="a" * 1_000_001)), "too long", "description"),
    "bullets_over_limit": (jl(dict(GOOD, id="X", bullets=["x" * 60_000, "y" * 60_000])), "too long", "bullets"),
    "nul_in_description": (jl(dict(GOOD, id="X", description="Boils water\u0000 fast.")), "NUL", "description"),
    "nul_in_bullet": (jl(dict(GOOD, id="X", bullets=["a\u0000b"])), "NUL", "bullets"),
    "not_utf8": (b'{"id": "X", "description": "caf\xe9"}', "not UTF-8", None),
    "lone_continuation_byte": (b'{"id": "X", "descr\x80iption": "x"}', "not UTF-8", None),
    "binary_garbage": (bytes(range(256)), "not UTF-8", None),
    "bad_json": (b'{"id": "X", "description": ', "not valid JSON", None),
    "not_an_object": (b'[1, 2, 3]', "must be a JSON object", None),
    "id_not_string": (jl({"id": {"a": ["b"] * 100_000}, "description": "x"}), "record id", "id"),
}


@pytest.mark.parametrize("name", sorted(JSONL_CASES))
def test_jsonl_bad_record_is_a_finding_and_the_rest_is_checked(tmp_path, name):
    bad, words, field = JSONL_CASES[name]
    path = write_lines(tmp_path / "in.jsonl", [jl(HYPE), bad, jl(GOOD)])
    result, out = validate(path)
    assert result.exit_code == 1, out[-3000:]
    clean(out)
    assert f"{path}:2" in out and "Stylegen.Input" in out and words in out, out[-3000:]
    if field:
        assert field in out
    hype_still_reported(out, 1)
    assert len(out) < 20_000  # no huge value quoted back


def test_50_mb_single_line(tmp_path):
    big = jl(dict(GOOD, id="BIG", description="x" * 50_000_000))
    path = write_lines(tmp_path / "big.jsonl", [jl(HYPE), big])
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    assert f"{path}:2" in out and "line too long" in out
    hype_still_reported(out, 1)


def test_non_utf8_lines_reported_each_with_their_line(tmp_path):
    path = write_lines(tmp_path / "in.jsonl", [b'{"id": "A\xff"}', jl(HYPE), b'{"id": "\xfe"}'])
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    assert f"{path}:1" in out and f"{path}:3" in out and out.count("not UTF-8") == 2
    hype_still_reported(out, 2)


def test_duplicate_ids_name_the_first_line(tmp_path):
    path = write_lines(tmp_path / "in.jsonl", [jl(HYPE), jl(GOOD), jl(GOOD)])
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    assert f"{path}:3" in out and "duplicate record id 'T-1' (first at line 2)" in out and "(T-1 id)" in out
    hype_still_reported(out, 1)


@pytest.mark.parametrize("suffix,body", [(".jsonl", b""), (".csv", b""), (".txt", b"  \n\n"), (".jsonl", b"\n\n")])
def test_empty_input_is_not_a_silent_success(tmp_path, suffix, body):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(body)
    result, out = validate(path)
    assert result.exit_code == 1, out
    clean(out)
    assert f"{path}:1" in out and ("empty input" in out or "no records" in out)


def test_txt_with_nul_and_over_long_txt(tmp_path):
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"Some copy\n\x00\x01binary")
    long = tmp_path / "long.txt"
    long.write_text("word " * 300_000, encoding="utf-8")
    for path, words in ((nul, "NUL byte"), (long, "too long")):
        result, out = validate(path)
        assert result.exit_code == 1
        clean(out)
        assert str(path) in out and words in out


# --- CSV ---------------------------------------------------------------------------------

def _csv(tmp_path, rows: list[str]) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


HEADER = "id,description,meta_description"
HYPE_ROW = f'T-HYPE,"{HYPE["description"]}","{HYPE["meta_description"]}"'


def test_csv_cell_over_the_csv_limit(tmp_path):
    path = _csv(tmp_path, [HEADER, HYPE_ROW, f'X,"{"x" * 200_000}",meta', HYPE_ROW.replace("T-HYPE", "T-2")])
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    assert f"{path}:3" in out and "too long" in out
    hype_still_reported(out, 2)


def test_csv_without_header_names_the_first_row(tmp_path):
    path = _csv(tmp_path, ["SKU-1,A stove that boils water,meta", "SKU-2,Another,meta"])
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    assert f"{path}:1" in out and "looks like data, not a header" in out and "SKU-1" in out


def test_csv_unterminated_quote_reported_with_its_line(tmp_path):
    path = _csv(tmp_path, [HEADER, HYPE_ROW, 'X,"never closed,meta', "Y,more,rows"])
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    assert f"{path}:3" in out and "unterminated quote" in out
    hype_still_reported(out, 2)


def test_csv_not_utf8_row(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes((HEADER + "\n" + HYPE_ROW + "\n").encode() + b"X,caf\xe9,meta\n")
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    assert f"{path}:3" in out and "not UTF-8" in out
    hype_still_reported(out, 2)


# --- stdin -------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"\xff\xfe\x00binary\x80", b'{"id": "X"}\n{"id": "\xff"}\n', b"text\x00with nul"])
def test_binary_stdin(data):
    result, out = validate("-", input=data)
    assert result.exit_code == 1, out
    clean(out)
    assert "-:" in out and ("not UTF-8" in out or "NUL" in out)


# --- invisible characters ---------------------------------------------------------------

@pytest.mark.parametrize("word,code", [("amaz\u200bing", "U+200B"), ("amaz\u200cing", "U+200C"),
                                       ("amaz\u00ading", "U+00AD"), ("amaz\u202eing", "U+202E"),
                                       ("amaz\u200ding", "U+200D"), ("amaz\u2060ing", "U+2060"),
                                       ("\uff41\uff4d\uff41\uff5a\uff49\uff4e\uff47", None)])
def test_invisible_characters_do_not_hide_a_banned_word(tmp_path, word, code):
    rec = dict(GOOD, id="INV", description=GOOD["description"] + f" It is {word}.")
    path = write_lines(tmp_path / "in.jsonl", [jl(HYPE), jl(rec)])
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    col = len(GOOD["description"]) + 8
    assert f"{path}:2:{col}: KettleCairn.Hype" in out, out  # the span points into the text as written
    if code:
        assert f"Stylegen.Invisible [warning] Remove the invisible character {code}" in out
    hype_still_reported(out, 1)


def test_zwj_is_not_reported_as_an_empty_emoji(tmp_path):
    rec = dict(GOOD, id="ZWJ", description=GOOD["description"] + " Good\u200d.")
    path = write_lines(tmp_path / "in.jsonl", [jl(rec)])
    result, out = validate(path)
    clean(out)
    assert "emoji ''" not in out and "U+200D" in out


# --- rule patterns ----------------------------------------------------------------------

def _kit(tmp_path) -> Path:
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    shutil.copytree(ROOT / "validators", tmp_path / "validators")
    return tmp_path / "brand"


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)*", "(.*)*", r"(\w+\s?)+", "(?:a*b*)*x",
                                     # issue 23: overlapping alternatives, repeats that swallow what follows
                                     "(a|aa)+$", "(a|a?)+$", r"(a\w*)+$", "(.*a)+$", r"(\s*\w+)+$", r"(\w|\d)+$"])
def test_catastrophic_patterns_refused_at_load(tmp_path, pattern):
    kit = _kit(tmp_path)
    rule = tmp_path / "validators" / "KettleCairn" / "Bad.yml"
    rule.write_text(f"extends: pattern\nmessage: bad\nlevel: error\npattern: '{pattern}'\n", encoding="utf-8")
    result, out = invoke(["brand", "check", str(kit)])
    assert result.exit_code == 2, out
    clean(out)
    assert f"{rule}:4: pattern: refused" in out and "backtrack catastrophically" in out


def test_a_slow_pattern_becomes_a_finding(tmp_path, monkeypatch):
    import stylegen.validation.patterns as patterns

    monkeypatch.setattr(patterns, "TIMEOUT_S", 1e-9)
    rec = dict(GOOD, id="SLOW", description=GOOD["description"] * 200)
    path = write_lines(tmp_path / "in.jsonl", [jl(HYPE), jl(rec)])
    result, out = validate(path)
    assert result.exit_code == 1
    clean(out)
    assert "Stylegen.Timeout" in out and "time limit" in out and "(SLOW description)" in out
    hype_still_reported(out, 1)


# --- brand.yaml --------------------------------------------------------------------------

def _brand_with(tmp_path, old: str, new: str) -> Path:
    kit = _kit(tmp_path)
    yml = kit / "brand.yaml"
    text = yml.read_text(encoding="utf-8")
    assert old in text
    yml.write_text(text.replace(old, new, 1), encoding="utf-8")
    return kit


@pytest.mark.parametrize("old,new,key", [
    ("  max_attempts: 2", "  max_attempts: 0", "generation.max_attempts: must be at least 1"),
    ("  temperature: 0.3", "  temperature: -3", "generation.temperature: must be at least 0"),
    ("  top_p: 0.9", "  top_p: 7", "generation.top_p: must be greater than 0 and at most 1"),
    ("  candidates: 4", "  candidates: 0", "generation.candidates: must be at least 1"),
    ("  eval_fraction: 0.1", "  eval_fraction: 1.5", "training.eval_fraction: must be greater than 0 and less than 1"),
    ("  eval_fraction: 0.1", "  eval_fraction: .nan", "training.eval_fraction"),
])
def test_brand_numbers_range_checked(tmp_path, old, new, key):
    kit = _brand_with(tmp_path, old, new)
    result, out = invoke(["brand", "check", str(kit)])
    assert result.exit_code == 2, out
    clean(out)
    assert f"{kit / 'brand.yaml'}:" in out and key in out


def test_duplicate_key_names_both_lines(tmp_path):
    kit = _brand_with(tmp_path, "  top_p: 0.9", "  top_p: 0.9\n  top_p: 0.5")
    result, out = invoke(["brand", "check", str(kit)])
    assert result.exit_code == 2
    clean(out)
    assert "'top_p': duplicate key (first at line" in out and f"{kit / 'brand.yaml'}:" in out


def test_alias_bomb_refused_quickly_and_briefly(tmp_path):
    kit = _kit(tmp_path)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(15))
    (kit / "brand.yaml").write_text(bomb, encoding="utf-8")
    result, out = invoke(["brand", "check", str(kit)])
    assert result.exit_code == 2
    clean(out)
    assert "alias references" in out and f"{kit / 'brand.yaml'}:" in out and len(out) < 2000


def test_small_alias_bomb_error_quotes_a_short_prefix(tmp_path):
    kit = _kit(tmp_path)
    text = (kit / "brand.yaml").read_text(encoding="utf-8")
    bomb = "x0: &x0 [aaaaaaaaaa, aaaaaaaaaa]\n" + "".join(f"x{i}: &x{i} [*x{i-1}, *x{i-1}, *x{i-1}]\n"
                                                           for i in range(1, 9))
    text = text.replace("  temperature: 0.3", "  temperature: *x8", 1)
    (kit / "brand.yaml").write_text(bomb.replace("x", "q") + text.replace("*x8", "*q8"), encoding="utf-8")
    result, out = invoke(["brand", "check", str(kit)])
    assert result.exit_code == 2
    clean(out)
    assert len(out) < 3000 and "generation.temperature" in out


def test_huge_yaml_refused(tmp_path):
    kit = _kit(tmp_path)
    (kit / "brand.yaml").write_text("# pad\n" * 300_000, encoding="utf-8")
    result, out = invoke(["brand", "check", str(kit)])
    assert result.exit_code == 2
    clean(out)
    assert "file too large" in out and f"{kit / 'brand.yaml'}:1" in out


# --- exit codes --------------------------------------------------------------------------

def test_output_into_missing_folder_fails_before_work(tmp_path, monkeypatch):
    import stylegen.validation.validator as validator

    monkeypatch.setattr(validator, "validate_paths", lambda *a, **k: pytest.fail("work started"))
    path = write_lines(tmp_path / "in.jsonl", [jl(GOOD)])
    result = CliRunner().invoke(cli, ["validate", str(path), "--brand", BRAND, "-o", str(tmp_path / "no" / "r.txt")])
    assert result.exit_code == 2
    clean(result.output)
    assert "does not exist" in result.output


@pytest.mark.parametrize("debug", [False, True])
def test_internal_error_exits_3_with_one_line(tmp_path, monkeypatch, debug):
    import stylegen.validation.validator as validator

    def boom(*a, **k):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(validator, "validate_paths", boom)
    path = write_lines(tmp_path / "in.jsonl", [jl(GOOD)])
    result = CliRunner().invoke(cli, [*(["--debug"] if debug else []), "validate", str(path), "--brand", BRAND])
    assert result.exit_code == 3
    assert "internal error: RuntimeError: kaboom" in result.output
    assert ("Traceback" in result.output) is debug
