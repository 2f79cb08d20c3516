"""`stylegen review` server side, with Flask's test client: queue, filters, edit -> re-validate,
approve (the approved-edits file that train and validate accept), reject, persistence, stale
edits, double approval, token, CSRF, escaping, ratings in the report, export."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

pytest.importorskip("flask")
pytest.importorskip("flask_wtf")

from gen_support import good, read_jsonl  # noqa: E402
from review_support import SCRIPT_NAME, copy_run, make_run  # noqa: E402
from stylegen.cli import cli  # noqa: E402
from stylegen.review.app import create_app  # noqa: E402
from stylegen.review.queue import ReviewStore  # noqa: E402

TOKEN = "t0ken-for-tests"


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("review"))


@pytest.fixture
def run(base_run, tmp_path):
    return copy_run(base_run, tmp_path / "run")


def _client(run, reviewer="ana"):
    store = ReviewStore(run)
    app = create_app(store, token=TOKEN, reviewer=reviewer)
    client = app.test_client()
    assert client.get(f"/?token={TOKEN}").status_code == 200  # sets the cookie
    return client, store


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _version(html: str) -> int:
    return int(re.search(r'name="version" value="(\d+)"', html).group(1))


def _form(client, row_key):
    html = client.get(f"/item/{row_key}").get_data(as_text=True)
    return html, {"csrf_token": _csrf(html), "version": str(_version(html))}


def _edit(client, row_key, task, text, **over):
    html, form = _form(client, row_key)
    form.update(task=task, text=text, **over)
    return client.post(f"/item/{row_key}/edit", data=form, follow_redirects=True)


def _approve(client, row_key, **over):
    _, form = _form(client, row_key)
    form.update(over)
    return client.post(f"/item/{row_key}/approve", data=form, follow_redirects=True)


def test_help():
    result = CliRunner().invoke(cli, ["review", "--help"])
    assert result.exit_code == 0
    for flag in ("--host", "--port", "--reviewer", "--export", "--approved"):
        assert flag in result.output


def test_queue_lists_rejects_and_warnings_with_counts(run):
    client, _ = _client(run)
    html = client.get("/").get_data(as_text=True)
    rows = re.findall(r'<tr class="item" data-id="([^"]+)"', html)
    assert sorted(rows) == ["A", "B", "X"]  # C is clean: not in the queue
    assert "2 rejected" in html and "1 accepted with warnings" in html
    assert "T.Hype (2)" in html and "T.Long (1)" in html and "error (2)" in html and "warning (1)" in html


@pytest.mark.parametrize("query, expected", [("rule=T.Hype", ["A", "X"]), ("level=warning", ["B"]),
                                             ("field=description&level=error", ["A", "X"]),
                                             ("field=bullets", [])])
def test_queue_filters(run, query, expected):
    client, _ = _client(run)
    html = client.get(f"/?{query}").get_data(as_text=True)
    assert sorted(re.findall(r'<tr class="item" data-id="([^"]+)"', html)) == expected


def test_product_page_highlights_findings_and_shows_attempts(run):
    client, _ = _client(run)
    html = client.get("/item/A").get_data(as_text=True)
    assert '<mark class="error" title="T.Hype: remove &#39;best&#39;">best</mark>' in html
    assert "folds flat;packs small" not in html and "folds flat; packs small" in html  # facts listed
    assert html.count("attempt 1:") >= 3 and "attempt 3:" in html  # every attempt one click away
    assert "disabled" in html  # approve is off while an error remains


def test_edit_revalidates_and_approve_writes_one_record(run):
    client, store = _client(run)
    page = _edit(client, "A", "description", "The best pot yet.").get_data(as_text=True)
    assert "1 error(s) remain" in page  # still failing: re-validated with the same rules
    refused = _approve(client, "A").get_data(as_text=True)
    assert "error-level finding(s) remain: T.Hype" in refused
    assert not store.approved_path.exists()
    page = _edit(client, "A", "description", good("description")).get_data(as_text=True)
    assert "no errors left" in page and "<mark" not in page.split("Catalog facts")[1].split("meta_description")[0]
    after = _approve(client, "A").get_data(as_text=True)
    assert "approved A" in after and 'data-id="A"' not in after  # left the queue
    records = read_jsonl(store.approved_path)
    assert len(records) == 1
    rec = records[0]
    assert rec["id"] == "A" and rec["description"] == good("description") and rec["facts"]["name"]
    prov = rec["provenance"]
    assert prov["reviewer"] == "ana" and prov["row"] == "A" and prov["attempt"]["description"] == 1
    assert prov["original"]["description"].startswith("The best pot")
    assert [f["rule"] for f in prov["resolved"]] == ["T.Hype"] and prov["run"].endswith("run")


def test_approved_file_is_accepted_by_validate_and_train(run, tiny_model_dir, tmp_path):
    client, store = _client(run)
    _edit(client, "A", "description", good("description"))
    _approve(client, "A")
    brand = store.settings["brand"]
    result = CliRunner().invoke(cli, ["validate", "--brand", brand, str(store.approved_path)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "adapter"
    result = CliRunner().invoke(cli, ["train", "--brand", brand, "--no-progress", "--data", str(store.approved_path),
                                      "--out", str(out), "--base-model", str(tiny_model_dir), "--max-steps", "2",
                                      "--set", "layers_to_transform=null", "--set", "min_examples=1"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    data = manifest["data"]
    assert data["excluded"] == [] and data["train_examples"] + data["eval_examples"] == 3  # all 3 fields learned


def test_reject_needs_a_reason_and_persists_across_restart(run):
    client, _ = _client(run)
    _, form = _form(client, "X")
    assert "a reason is required" in client.post("/item/X/reject", data=form,
                                                 follow_redirects=True).get_data(as_text=True)
    form["reason"] = "not our product"
    html = client.post("/item/X/reject", data=form, follow_redirects=True).get_data(as_text=True)
    assert "rejected X" in html and 'data-id="X"' not in html
    _edit(client, "B", "description", good("description"))
    client2, store2 = _client(run, reviewer="bo")  # a restart: a new app over the same run dir
    html = client2.get("/").get_data(as_text=True)
    assert 'data-id="X"' not in html and "1 decided" in html
    assert store2.decision("X")["reason"] == "not our product"
    assert store2.item("B").fields["description"] == good("description") and store2.item("B").version == 1


def test_stale_edit_is_refused(run):
    client_a, store = _client(run, "ana")
    client_b, _ = _client(run, "bo")
    _, stale = _form(client_b, "A")  # bo loads the form at version 0
    _edit(client_a, "A", "description", good("description"))  # ana saves: version 1
    stale.update(task="description", text="The best pot ever.")
    html = client_b.post("/item/A/edit", data=stale, follow_redirects=True).get_data(as_text=True)
    assert "changed since you loaded it" in html
    assert store.item("A").fields["description"] == good("description")
    stale.pop("task"), stale.pop("text")
    html = client_b.post("/item/A/approve", data=stale, follow_redirects=True).get_data(as_text=True)
    assert "changed since you loaded it" in html and store.decision("A") is None


def test_two_reviewers_cannot_approve_the_same_item_twice(run):
    client_a, store = _client(run, "ana")
    client_b, _ = _client(run, "bo")
    _edit(client_a, "A", "description", good("description"))
    _, form_b = _form(client_b, "A")
    _approve(client_a, "A")
    html = client_b.post("/item/A/approve", data=form_b, follow_redirects=True).get_data(as_text=True)
    assert "already approved by ana" in html
    assert len(read_jsonl(store.approved_path)) == 1


def test_token_is_required_on_every_request(run):
    store = ReviewStore(run)
    client = create_app(store, token=TOKEN).test_client()
    assert client.get("/").status_code == 403
    assert client.get("/item/A").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    assert client.post("/item/A/approve", data={"version": "0"}).status_code == 403
    assert client.get(f"/item/A?token={TOKEN}").status_code == 200
    assert client.get("/item/A").status_code == 200  # the cookie carries it from now on


def test_csrf_is_required_on_every_post(run):
    client, store = _client(run)
    for path, data in (("/item/A/edit", {"version": "0", "task": "description", "text": good("description")}),
                       ("/item/A/approve", {"version": "0"}), ("/item/A/reject", {"version": "0", "reason": "x"}),
                       ("/ratings/C", {"verdict": "ship"})):
        assert client.post(path, data=data).status_code == 400
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400
    assert store.item("A").version == 0 and store.decision("A") is None


def test_script_product_name_is_escaped(run):
    client, store = _client(run)
    # The catalog reader strips tags from catalog text; a <script> that gets past it (a
    # reader change, a JSON catalog) must still render as text.
    store.facts["X"]["name"] = SCRIPT_NAME
    for path in ("/", "/item/X"):
        html = client.get(path).get_data(as_text=True)
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Pot" in html
        assert "<script" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html  # the generated text's markup is escaped too


def test_ratings_are_saved_and_summarised_in_the_report(run):
    client, _ = _client(run)
    html = client.get("/ratings").get_data(as_text=True)
    ids = re.findall(r'<tr data-id="([^"]+)"', html)
    assert sorted(ids) == ["B", "C"]  # the accepted products of the rating sheet
    for rid, verdict in zip(ids, ("ship", "fix")):
        client.post(f"/ratings/{rid}", data={"csrf_token": _csrf(html), "verdict": verdict, "note": ""})
    assert 'value="ship" checked' in client.get("/ratings").get_data(as_text=True)
    report = json.loads((run / "report.json").read_text())
    assert report["ratings"] == {"rated": 2, "verdicts": {"ship": 1, "fix": 1}, "ship_rate": 0.5}
    assert "## Rating sheet" in (run / "report.md").read_text()


def test_export_writes_the_decisions_as_jsonl(run, tmp_path):
    client, _ = _client(run)
    _edit(client, "A", "description", good("description"))
    _approve(client, "A")
    _, form = _form(client, "X")
    client.post("/item/X/reject", data={**form, "reason": "discontinued"})
    out = tmp_path / "decisions.jsonl"
    result = CliRunner().invoke(cli, ["review", str(run), "--export", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 decision(s)" in result.output
    rows = read_jsonl(out)
    assert [(r["row_key"], r["decision"], r["reviewer"]) for r in rows] == [("A", "approved", "ana"),
                                                                          ("X", "rejected", "ana")]
    assert rows[0]["record"]["provenance"]["row"] == "A" and rows[1]["reason"] == "discontinued"


def test_writes_stay_in_the_run_dir_and_the_approved_file(run, tmp_path):
    before = {p for p in tmp_path.rglob("*")}
    client, store = _client(run)
    _edit(client, "A", "description", good("description"))
    _approve(client, "A")
    html = client.get("/ratings").get_data(as_text=True)
    client.post("/ratings/C", data={"csrf_token": _csrf(html), "verdict": "ship"})
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(run in p.parents for p in new), new


def test_an_approved_edit_joins_the_kits_phrasebook_for_the_next_night(tmp_path):
    from stylegen.generation.phrasebook import HEADER, load_phrasebook

    run = make_run(tmp_path)
    book = tmp_path / "brand" / "phrasebook.tsv"
    book.write_text(HEADER + "C-1\t*\tcloser\t1.00\tCarry it and forget it is there.\n", encoding="utf-8")
    before = load_phrasebook(book)
    client, store = _client(run)
    text = ("The Trail Thing A weighs 9 oz. It folds flat, packs small, and goes where the trail goes. The whole"
            " thing is aluminum, so it shrugs off a wet night. It weighs 9 oz. Carry it and forget it is there.")
    assert "no errors left" in _edit(client, "A", "description", text).get_data(as_text=True)
    page = _approve(client, "A").get_data(as_text=True)
    assert "approved A; 2 new frame(s) in the phrasebook" in page
    after = load_phrasebook(book)  # re-read: the file changed, nothing retrained
    assert [f.text for f in after.frames] == [f.text for f in before.frames] + [
        "The {name} weighs {weight}.", "The whole thing is {materials}, so it shrugs off a wet night."]
    assert {(f.record, f.scope) for f in after.frames[1:]} == {("A", "Camp")}
    # kept out, with why, for a person to read: a sentence with no fact in the middle, a fragment
    assert [(e.record, e.sentence) for e in after.excluded] == [
        ("A", "It folds flat, packs small, and goes where the trail goes."), ("A", "It weighs 9 oz.")]


def test_an_approval_without_an_edit_leaves_the_phrasebook_alone(tmp_path):
    from stylegen.generation.phrasebook import HEADER

    run = make_run(tmp_path)
    book = tmp_path / "brand" / "phrasebook.tsv"
    book.write_text(HEADER, encoding="utf-8")
    client, _ = _client(run)
    assert "approved B" in _approve(client, "B").get_data(as_text=True)
    assert book.read_text(encoding="utf-8") == HEADER
