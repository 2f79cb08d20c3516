"""Ledger schema migrations: old ledgers recognised, each migration applied once, in order."""
from __future__ import annotations

import json
import re
import sqlite3

import pytest

import stylegen.generation.ledger as ledger_mod
from stylegen.errors import DataError
from stylegen.generation.ledger import FinishedRow, Ledger, LEDGER_SCHEMA_VERSION, migrate, MIGRATIONS

# The schema as stylegen wrote it before migrations (ledger.py's _SCHEMA, verbatim).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, ended REAL, settings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session INTEGER NOT NULL, row_key TEXT NOT NULL, task TEXT NOT NULL, attempt INTEGER NOT NULL,
    seed INTEGER NOT NULL, prompt_hash TEXT NOT NULL, adapter_hash TEXT, prompt TEXT NOT NULL,
    feedback TEXT, text TEXT NOT NULL, findings TEXT NOT NULL,
    errors INTEGER NOT NULL, warnings INTEGER NOT NULL, suggestions INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL, new_tokens INTEGER NOT NULL,
    gen_seconds REAL NOT NULL, validate_seconds REAL NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_row ON attempts (row_key, task, attempt);
CREATE TABLE IF NOT EXISTS rows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    row_key TEXT NOT NULL UNIQUE, id TEXT, line INTEGER, session INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    source TEXT NOT NULL CHECK (source IN ('catalog', 'validation')),
    attempts INTEGER NOT NULL, first_pass INTEGER NOT NULL,
    rules TEXT NOT NULL, payload TEXT NOT NULL, finished REAL NOT NULL);
"""


def old_ledger(path):
    """A ledger file as the pre-migration code left it: one session, two attempts, two rows."""
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('identity', ?)", (json.dumps({"seed": 7}),))
    db.execute("INSERT INTO sessions (started, ended, settings) VALUES (1.0, 2.0, '{}')")
    for attempt, errors in ((1, 1), (2, 0)):
        db.execute("INSERT INTO attempts (session, row_key, task, attempt, seed, prompt_hash, adapter_hash, prompt,"
                   " feedback, text, findings, errors, warnings, suggestions, prompt_tokens, new_tokens,"
                   " gen_seconds, validate_seconds, created) VALUES (1, 'A', 'description', ?, 5, 'h', NULL, 'p',"
                   " NULL, 't', '[]', ?, 0, 0, 10, 20, 0.5, 0.1, 3.0)", (attempt, errors))
    for key, status in (("A", "accepted"), ("B", "rejected")):
        db.execute("INSERT INTO rows (row_key, id, line, session, status, source, attempts, first_pass, rules,"
                   " payload, finished) VALUES (?, ?, 2, 1, ?, 'validation', 2, 0, '[]', ?, 4.0)",
                   (key, key, status, json.dumps({"id": key})))
    db.commit()
    db.close()
    return path


def contents(ledger: Ledger) -> tuple:
    return ledger.finished_rows(), ledger.attempt_rows(), ledger.sessions(), ledger.get_meta("identity")


def applied(path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [name for (name,) in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    finally:
        db.close()


def schema(path) -> dict[str, str]:
    """Table and index DDL by name, whitespace and IF NOT EXISTS normalised."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name != '_migrations'")
        return {name: " ".join(re.sub(r"IF NOT EXISTS ", "", sql).split()) for name, sql in rows}
    finally:
        db.close()


def counting(fn, calls: list):
    """``fn`` under its own name, noting each call in ``calls``."""

    def wrapper(db):
        calls.append(fn.__name__)
        fn(db)

    wrapper.__name__ = fn.__name__
    return wrapper


def m002_review(db):
    db.execute("ALTER TABLE rows ADD COLUMN review TEXT")


def test_migrations_are_numbered_in_order_and_give_the_version():
    names = [fn.__name__ for fn in MIGRATIONS]
    assert names[0] == "m001_initial"
    assert [int(re.match(r"m(\d{3})_\w+$", n).group(1)) for n in names] == list(range(1, len(names) + 1))
    assert LEDGER_SCHEMA_VERSION == len(MIGRATIONS)


def test_m001_is_the_schema_ledgers_had_before_migrations(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_mod, "MIGRATIONS", MIGRATIONS[:1])
    Ledger(tmp_path / "new.sqlite").close()
    assert schema(tmp_path / "new.sqlite") == schema(old_ledger(tmp_path / "old.sqlite"))


def test_m002_gives_an_old_ledgers_attempts_the_candidate_columns(tmp_path):
    ledger = Ledger(old_ledger(tmp_path / "ledger.sqlite"))
    attempts = ledger.attempt_rows()
    assert [(a["attempt"], a["round"], a["candidate"], a["fixes"]) for a in attempts] == [(1, 1, 0, None),
                                                                                          (2, 1, 0, None)]
    ledger.close()


def test_m003_gives_an_old_ledger_the_review_tables_rows_kept(tmp_path):
    path = old_ledger(tmp_path / "ledger.sqlite")
    ledger = Ledger(path)
    assert "m003_review" in applied(path)
    tables = {n for (n,) in ledger.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"review_edits", "review_decisions", "review_ratings"} <= tables
    assert [r.row_key for r in ledger.finished_rows()] == ["A", "B"]
    with ledger.transaction() as db:
        db.execute("INSERT INTO review_decisions (row_key, decision, version, fields, reviewer, created)"
                   " VALUES ('A', 'approved', 0, '{}', 'ana', 0)")
    with pytest.raises(sqlite3.IntegrityError):  # one decision per row
        with ledger.transaction() as db:
            db.execute("INSERT INTO review_decisions (row_key, decision, version, fields, reviewer, created)"
                       " VALUES ('A', 'approved', 0, '{}', 'bo', 0)")
    ledger.close()


def test_m004_gives_an_old_ledger_brand_columns_rows_kept_and_brands_recorded(tmp_path):
    path = old_ledger(tmp_path / "ledger.sqlite")
    ledger = Ledger(path)
    assert "m004_brand" in applied(path)
    assert [(r.row_key, r.brand) for r in ledger.finished_rows()] == [("A", None), ("B", None)]
    assert [a["brand"] for a in ledger.attempt_rows()] == [None, None]
    ledger.start_session({})
    ledger.finish_rows([FinishedRow("hem:A", "A", 2, "accepted", "validation", 1, True, [], "{}", brand="hem")])
    ledger.record_attempts([{"row_key": "hem:A", "task": "description", "attempt": 1, "seed": 1, "prompt_hash": "h",
                             "adapter_hash": "abc", "prompt": "p", "feedback": None, "text": "t", "findings": "[]",
                             "errors": 0, "warnings": 0, "suggestions": 0, "prompt_tokens": 1, "new_tokens": 1,
                             "gen_seconds": 0.1, "validate_seconds": 0.1, "brand": "hem"}])
    ledger.close()
    again = Ledger(path)
    assert [(r.row_key, r.id, r.brand) for r in again.finished_rows()][-1] == ("hem:A", "A", "hem")
    assert [(a["row_key"], a["brand"], a["adapter_hash"]) for a in again.attempt_rows()][-1] == ("hem:A", "hem", "abc")
    again.close()


def test_an_old_ledger_is_recognised_without_rerunning_m001_and_keeps_its_rows(tmp_path, monkeypatch):
    path = old_ledger(tmp_path / "ledger.sqlite")
    calls: list = []
    monkeypatch.setattr(ledger_mod, "MIGRATIONS", [counting(fn, calls) for fn in MIGRATIONS])
    ledger = Ledger(path)
    assert calls == [fn.__name__ for fn in MIGRATIONS[1:]]  # m001 marked, not run
    assert ledger.get_meta("schema_version") == LEDGER_SCHEMA_VERSION
    rows, attempts, sessions, identity = contents(ledger)
    assert [(r.row_key, r.status) for r in rows] == [("A", "accepted"), ("B", "rejected")]
    assert [(a["attempt"], a["errors"]) for a in attempts] == [(1, 1), (2, 0)]
    assert sessions == [{"id": 1, "started": 1.0, "ended": 2.0}] and identity == {"seed": 7}
    ledger.close()
    assert applied(path) == [fn.__name__ for fn in MIGRATIONS]


def test_a_later_migration_reaches_an_old_ledger_once_and_loses_no_row(tmp_path, monkeypatch):
    path = old_ledger(tmp_path / "ledger.sqlite")
    calls: list = []
    monkeypatch.setattr(ledger_mod, "MIGRATIONS", [*MIGRATIONS[:1], counting(m002_review, calls)])
    first = Ledger(path)
    rows, attempts, sessions, identity = contents(first)
    assert [r.row_key for r in rows] == ["A", "B"] and len(attempts) == 2 and identity == {"seed": 7}
    first.finish_rows([FinishedRow("C", "C", 3, "accepted", "validation", 1, True, [], "{}")])
    first.close()
    second = Ledger(path)  # opened again: nothing more to apply
    assert calls == ["m002_review"]
    assert applied(path) == ["m001_initial", "m002_review"]
    assert second.get_meta("schema_version") == 2
    assert [r.row_key for r in second.finished_rows()] == ["A", "B", "C"]
    assert second.attempt_rows() == attempts and second.sessions() == sessions
    assert "review" in [c[1] for c in second.db.execute("PRAGMA table_info(rows)")]
    second.close()


def test_a_fresh_ledger_gets_every_migration_in_order_and_a_second_run_applies_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_mod, "MIGRATIONS", [*MIGRATIONS[:1], m002_review])
    db = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)
    assert migrate(db) == ["m001_initial", "m002_review"]
    assert migrate(db) == []
    assert [n for (n,) in db.execute("SELECT name FROM _migrations ORDER BY rowid")] == ["m001_initial", "m002_review"]
    assert json.loads(db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]) == 2
    db.close()


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path, monkeypatch):
    path = old_ledger(tmp_path / "ledger.sqlite")

    def m002_broken(db):
        db.execute("ALTER TABLE rows ADD COLUMN review TEXT")
        raise sqlite3.OperationalError("disk full")

    monkeypatch.setattr(ledger_mod, "MIGRATIONS", [*MIGRATIONS[:1], m002_broken])
    with pytest.raises(sqlite3.OperationalError):
        Ledger(path)
    assert applied(path) == ["m001_initial"]
    db = sqlite3.connect(path)
    assert "review" not in [c[1] for c in db.execute("PRAGMA table_info(rows)")]
    db.close()


def test_a_ledger_from_a_newer_stylegen_is_refused(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO _migrations VALUES ('m999_future', 0)")
    db.commit()
    db.close()
    with pytest.raises(DataError, match=r"ledger\.sqlite: .*m999_future.*newer stylegen"):
        Ledger(path)
