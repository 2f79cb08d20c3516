"""The run report is computed from the ledger: pass rates, attempts, failures, throughput."""
from __future__ import annotations

import json

from stylegen.generation.ledger import FinishedRow, Ledger, RunLock
from stylegen.generation.report import build_report, write_report


def _attempt(row, task, attempt, errors=(), tokens=10, seconds=0.5):
    findings = [{"rule": rule, "level": "error", "message": "m"} for rule in errors]
    return {"row_key": row, "task": task, "attempt": attempt, "seed": attempt, "prompt_hash": "h",
            "adapter_hash": None, "prompt": "p", "feedback": None, "text": "t", "findings": json.dumps(findings),
            "errors": len(errors), "warnings": 0, "suggestions": 0, "prompt_tokens": 5, "new_tokens": tokens,
            "gen_seconds": seconds, "validate_seconds": 0.1}


def _ledger(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_session({"brand": "b"})
    ledger.record_attempts([
        _attempt("A", "description", 1), _attempt("A", "bullets", 1),
        _attempt("B", "description", 1, ["T.Hype"]), _attempt("B", "description", 2), _attempt("B", "bullets", 1),
        _attempt("C", "description", 1, ["T.Hype", "T.Len"]), _attempt("C", "description", 2, ["T.Hype"]),
        _attempt("C", "description", 3, ["T.Hype"]), _attempt("C", "bullets", 1),
    ])
    ledger.finish_rows([
        FinishedRow("A", "A", 2, "accepted", "validation", 2, True, [], '{"id": "A"}'),
        FinishedRow("B", "B", 3, "accepted", "validation", 3, False, [], '{"id": "B"}'),
        FinishedRow("C", "C", 4, "rejected", "validation", 4, False, ["T.Hype"], '{"id": "C"}'),
        FinishedRow("line:5", None, 5, "rejected", "catalog", 0, False, ["Stylegen.Input"], '{"id": null}'),
    ])
    ledger.end_session()
    return ledger


def test_report_figures(tmp_path):
    report = build_report(_ledger(tmp_path), {"brand": "b"})
    assert report["rows"] == {"finished": 4, "accepted": 2, "rejected": 2, "rejected_input": 1,
                              "rejected_validation": 1, "generated": 3}
    assert report["pass_rate"] == {"first_attempt": round(1 / 3, 4), "after_retries": round(2 / 3, 4)}
    assert report["attempts_histogram"] == {"1": 4, "2": 1, "3": 1}
    assert report["failures_by_rule"] == {"T.Hype": 4, "T.Len": 1}
    assert report["rejects_by_rule"] == {"T.Hype": 1, "Stylegen.Input": 1}
    tp = report["throughput"]
    assert tp["new_tokens"] == 90 and tp["attempts"] == 9 and tp["tokens_per_second"] == 20.0


def test_report_files(tmp_path):
    report = write_report(tmp_path, _ledger(tmp_path), {"brand": "b", "catalog": "c.csv"})
    md = (tmp_path / "report.md").read_text()
    assert "**33.3%** on the first attempt, **66.7%** after retries" in md
    assert "| T.Hype | 4 | 1 |" in md
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(report))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_empty_run_report(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    report = write_report(tmp_path, ledger, {})
    assert report["pass_rate"] == {"first_attempt": None, "after_retries": None}
    assert "n/a" in (tmp_path / "report.md").read_text()


def test_finished_row_is_recorded_once(tmp_path):
    ledger = _ledger(tmp_path)
    ledger.finish_rows([FinishedRow("A", "A", 2, "rejected", "validation", 9, False, [], '{"id": "changed"}')])
    assert [r.payload for r in ledger.finished_rows() if r.row_key == "A"] == ['{"id": "A"}']
    counts = ledger.reconcile(tmp_path)
    assert counts == {"outputs.jsonl": 2, "rejects.jsonl": 2}
    assert (tmp_path / "outputs.jsonl").read_text() == '{"id": "A"}\n{"id": "B"}\n'


def test_lock_is_released(tmp_path):
    first = RunLock(tmp_path)
    first.release()
    second = RunLock(tmp_path)  # no error: the first one let go
    second.release()


def test_attempts_histogram_shows_empty_bins(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_session({})
    ledger.record_attempts([_attempt("A", "description", a, ["T.Hype"]) for a in (1, 2, 3)]
                           + [_attempt("B", "description", 1)])
    assert build_report(ledger, {})["attempts_histogram"] == {"1": 1, "2": 0, "3": 1}
