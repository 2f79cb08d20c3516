"""The run ledger: a SQLite file (WAL) that records every attempt and every finished row.

The ledger is the source of truth of a run directory. A row is finished when its outcome
(accepted or rejected, with the exact JSON line for ``outputs.jsonl`` or
``rejects.jsonl``) is committed here; only then is the line appended to its file. After a
crash (even ``kill -9`` mid-append) :meth:`Ledger.reconcile` rewrites both files from the
ledger, so each finished row appears exactly once, byte for byte as first written.

Schema versions
---------------
The schema is built by :data:`MIGRATIONS`, an ordered list of functions, each applied
once per ledger file, in order, when a :class:`Ledger` opens it (the pattern of
simonw/llm's ``migrations.py``). The table ``_migrations`` records the name and time of
every applied migration, and ``meta.schema_version`` holds :data:`LEDGER_SCHEMA_VERSION`
(the number of migrations). A ledger written before migrations existed has the tables of
``m001_initial`` and no ``_migrations`` table: it is recognised by its ``attempts`` table
and ``m001_initial`` is marked applied without running it. A ledger whose
``_migrations`` names a migration this version does not have was written by a newer
stylegen, and opening it raises :class:`~stylegen.errors.DataError`.

To change the schema (a review-decisions table, per-candidate columns), append a
function at the end of the migration list::

    @migration
    def m002_review_decisions(db):
        db.execute("CREATE TABLE review (row_key TEXT NOT NULL, decision TEXT NOT NULL, ...)")

* name it ``m<NNN>_<what>``, numbered after the last one; the name is what ``_migrations``
  records, so never rename, reorder, edit or remove a migration once released;
* it runs inside one transaction with the ``_migrations`` insert, so it is applied
  completely or not at all: use ``db.execute`` per statement (``executescript`` would
  commit midway);
* new columns must be nullable or have a default (old rows get it); code that writes
  them goes with the migration, and ``LEDGER_SCHEMA_VERSION`` follows by itself;
* add a case to tests/test_ledger.py: an old ledger gets the new migration, rows kept.
"""
from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from stylegen.errors import BusyError, DataError

LEDGER_FILE = "ledger.sqlite"
LOCK_FILE = ".lock"
OUTPUTS = {"accepted": "outputs.jsonl", "rejected": "rejects.jsonl"}

# Columns an attempt may leave out (added by later migrations): their stored default.
_ATTEMPT_DEFAULTS = {"round": 1, "candidate": 0, "quality": None, "fixes": None, "brand": None, "source": "model"}

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []  # in order; see the module docstring


def migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    """Decorator: append ``fn`` to :data:`MIGRATIONS` (its ``__name__`` is its recorded name)."""
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    """The first schema: meta, sessions, attempts (with an index) and finished rows."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("""CREATE TABLE IF NOT EXISTS sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, ended REAL, settings TEXT NOT NULL)""")
    db.execute("""CREATE TABLE IF NOT EXISTS attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session INTEGER NOT NULL, row_key TEXT NOT NULL, task TEXT NOT NULL, attempt INTEGER NOT NULL,
        seed INTEGER NOT NULL, prompt_hash TEXT NOT NULL, adapter_hash TEXT, prompt TEXT NOT NULL,
        feedback TEXT, text TEXT NOT NULL, findings TEXT NOT NULL,
        errors INTEGER NOT NULL, warnings INTEGER NOT NULL, suggestions INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL, new_tokens INTEGER NOT NULL,
        gen_seconds REAL NOT NULL, validate_seconds REAL NOT NULL, created REAL NOT NULL)""")
    db.execute("CREATE INDEX IF NOT EXISTS attempts_row ON attempts (row_key, task, attempt)")
    db.execute("""CREATE TABLE IF NOT EXISTS rows (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        row_key TEXT NOT NULL UNIQUE, id TEXT, line INTEGER, session INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
        source TEXT NOT NULL CHECK (source IN ('catalog', 'validation')),
        attempts INTEGER NOT NULL, first_pass INTEGER NOT NULL,
        rules TEXT NOT NULL, payload TEXT NOT NULL, finished REAL NOT NULL)""")



@migration
def m002_candidates(db: sqlite3.Connection) -> None:
    """Per-candidate columns: the round and candidate index, the quality score, the fixes."""
    db.execute("ALTER TABLE attempts ADD COLUMN round INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE attempts ADD COLUMN candidate INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE attempts ADD COLUMN quality REAL")
    db.execute("ALTER TABLE attempts ADD COLUMN fixes TEXT")  # JSON list of applied fixes, or NULL


@migration
def m003_review(db: sqlite3.Connection) -> None:
    """The review app's tables: saved edits (versioned), decisions (one per row), ratings."""
    db.execute("""CREATE TABLE review_edits (
        row_key TEXT NOT NULL, version INTEGER NOT NULL, task TEXT NOT NULL, text TEXT NOT NULL,
        findings TEXT NOT NULL, reviewer TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (row_key, version))""")
    # UNIQUE row_key: a second decision on the same row (two reviewers approving) is refused
    db.execute("""CREATE TABLE review_decisions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, row_key TEXT NOT NULL UNIQUE,
        decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')), reason TEXT,
        version INTEGER NOT NULL, fields TEXT NOT NULL, record TEXT, reviewer TEXT NOT NULL, created REAL NOT NULL)""")
    db.execute("""CREATE TABLE review_ratings (
        row_key TEXT PRIMARY KEY, verdict TEXT NOT NULL CHECK (verdict IN ('ship', 'fix', 'reject')),
        note TEXT, reviewer TEXT NOT NULL, created REAL NOT NULL)""")


@migration
def m004_brand(db: sqlite3.Connection) -> None:
    """The brand of every attempt and finished row (a multi-brand run, ``generate --runs``).

    NULL in a single-brand run and in rows written before it; the adapter of each attempt
    was already recorded (``attempts.adapter_hash``).
    """
    db.execute("ALTER TABLE attempts ADD COLUMN brand TEXT")
    db.execute("ALTER TABLE rows ADD COLUMN brand TEXT")


@migration
def m005_source(db: sqlite3.Connection) -> None:
    """Where each attempt's text came from: ``model`` (sampled) or ``assembled`` (from the
    facts, :mod:`stylegen.generation.assemble`). NULL in rows written before it (model)."""
    db.execute("ALTER TABLE attempts ADD COLUMN source TEXT")


LEDGER_SCHEMA_VERSION = len(MIGRATIONS)  # after the last migration above


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply every migration ``db`` has not had yet, in order, each in its own transaction.

    Returns:
        The names of the migrations applied now (empty when the ledger was current).

    Raises:
        DataError: the ledger has migrations this stylegen does not know (a newer one wrote it).
    """
    with _immediate(db):  # one opener at a time decides what is missing
        applied = _applied_migrations(db)
    unknown = sorted(applied - {fn.__name__ for fn in MIGRATIONS})
    if unknown:
        raise DataError(f"ledger schema has migrations this stylegen does not know ({', '.join(unknown)}):"
                        " it was written by a newer stylegen; use that version or a new --out")
    done = []
    for fn in MIGRATIONS:
        if fn.__name__ not in applied:
            with _immediate(db):
                if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (fn.__name__,)).fetchone() is None:
                    fn(db)
                    _record(db, fn.__name__)
                    done.append(fn.__name__)
    return done


def _applied_migrations(db: sqlite3.Connection) -> set[str]:
    """Names in ``_migrations``, creating it; a pre-migrations ledger is marked m001 first."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)")
    if "_migrations" not in tables and "attempts" in tables:
        _record(db, m001_initial.__name__)  # written before migrations: its tables are m001's
    return {name for (name,) in db.execute("SELECT name FROM _migrations")}


def _record(db: sqlite3.Connection, name: str) -> None:
    """Mark migration ``name`` applied and store the schema version in ``meta``."""
    db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
    (version,) = db.execute("SELECT COUNT(*) FROM _migrations").fetchone()
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (json.dumps(version),))


@contextmanager
def _immediate(db: sqlite3.Connection):
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error) on an autocommit connection."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def brand_row_key(brand: str | None, key: str) -> str:
    """A row's ledger key: its id (or ``line:N``), prefixed ``<brand>:`` in a multi-brand run,
    where two brands may share a SKU."""
    return f"{brand}:{key}" if brand else key


@dataclass
class FinishedRow:
    """A row's outcome: ``payload`` is the exact JSON line for its output file."""

    row_key: str
    id: str | None
    line: int | None
    status: str  # accepted | rejected
    source: str  # catalog (unusable input) | validation
    attempts: int  # generation attempts over all tasks
    first_pass: bool  # every task passed on its first attempt
    rules: list[str]  # error-level rules of the final record (rejected rows)
    payload: str
    brand: str | None = None  # the run file's brand name (multi-brand runs); None in a single-brand run


class Ledger:
    """One run directory's ledger, its schema brought up to date when opened.

    The run loop holds the directory's :class:`RunLock` while it writes the ledger.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not just kill -9
        try:
            migrate(self.db)
        except DataError as exc:
            self.db.close()
            raise DataError(f"{self.path}: {exc}") from None
        self.session: int | None = None
        # m004's brand columns (absent only where a test runs an older migration list)
        self._brand = {table: "brand" in {c[1] for c in self.db.execute(f"PRAGMA table_info({table})")}
                       for table in ("attempts", "rows")}
        self._source = "source" in {c[1] for c in self.db.execute("PRAGMA table_info(attempts)")}  # m005

    @contextmanager
    def transaction(self):
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""
        with _immediate(self.db) as db:
            yield db

    def get_meta(self, key: str):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    def start_session(self, settings: dict) -> int:
        """Record the start of a (resumed) run with its effective settings."""
        with self.transaction() as db:
            cur = db.execute("INSERT INTO sessions (started, settings) VALUES (?, ?)",
                             (time.time(), json.dumps(settings, sort_keys=True)))
        self.session = cur.lastrowid
        return self.session

    def end_session(self) -> None:
        if self.session is not None:
            with self.transaction() as db:
                db.execute("UPDATE sessions SET ended = ? WHERE id = ?", (time.time(), self.session))

    def record_attempts(self, attempts: list[dict]) -> None:
        """Store a round of attempts (dicts with the ``attempts`` table's columns) in one commit."""
        columns = ("row_key", "task", "attempt", "seed", "prompt_hash", "adapter_hash", "prompt", "feedback",
                   "text", "findings", "errors", "warnings", "suggestions", "prompt_tokens", "new_tokens",
                   "gen_seconds", "validate_seconds", "round", "candidate", "quality", "fixes")
        columns += ("brand",) if self._brand["attempts"] else ()
        columns += ("source",) if self._source else ()
        now = time.time()
        values = [(self.session, *(a.get(c, _ATTEMPT_DEFAULTS.get(c)) if c in _ATTEMPT_DEFAULTS else a[c]
                                   for c in columns), now) for a in attempts]
        with self.transaction() as db:
            db.executemany(f"INSERT INTO attempts (session, {', '.join(columns)}, created) "
                           f"VALUES ({', '.join('?' * (len(columns) + 2))})", values)

    def finish_rows(self, rows: list[FinishedRow]) -> None:
        """Commit rows' outcomes; a row already finished is left as it was."""
        now = time.time()
        brand = self._brand["rows"]
        values = [(r.row_key, r.id, r.line, self.session or 0, r.status, r.source, r.attempts, int(r.first_pass),
                   json.dumps(r.rules), r.payload, now, *((r.brand,) if brand else ())) for r in rows]
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO rows (row_key, id, line, session, status, source, attempts,"
                           f" first_pass, rules, payload, finished{', brand' if brand else ''})"
                           f" VALUES (?,?,?,?,?,?,?,?,?,?,?{',?' if brand else ''})", values)

    def finished_keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT row_key FROM rows")}

    def finished_rows(self) -> list[FinishedRow]:
        """Every finished row, in the order it finished."""
        brand = "brand" if self._brand["rows"] else "NULL"
        cur = self.db.execute("SELECT row_key, id, line, status, source, attempts, first_pass, rules, payload,"
                              f" {brand} FROM rows ORDER BY seq")
        return [FinishedRow(k, i, ln, st, src, a, bool(fp), json.loads(rules), p, b)
                for k, i, ln, st, src, a, fp, rules, p, b in cur]

    def attempt_rows(self) -> list[dict]:
        """Every attempt as a dict (for reports)."""
        cur = self.db.execute("SELECT * FROM attempts ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur]

    def sessions(self) -> list[dict]:
        cur = self.db.execute("SELECT id, started, ended FROM sessions ORDER BY id")
        return [{"id": i, "started": s, "ended": e} for i, s, e in cur]

    def reconcile(self, run_dir: Path) -> dict[str, int]:
        """Make outputs.jsonl and rejects.jsonl exactly the ledger's finished rows.

        Repairs what a crash can leave: a truncated last line, or a row committed to the
        ledger but not yet appended. Returns the number of lines per file.
        """
        lines = {status: [] for status in OUTPUTS}
        for row in self.finished_rows():
            lines[row.status].append(row.payload)
        for status, name in OUTPUTS.items():
            expected = "".join(p + "\n" for p in lines[status]).encode("utf-8")
            target = run_dir / name
            if not target.is_file() or target.read_bytes() != expected:
                _atomic_write(target, expected)
        return {OUTPUTS[s]: len(v) for s, v in lines.items()}

    def close(self) -> None:
        self.db.close()


def append_line(path: Path, line: str) -> None:
    """Append one JSON line with a single ``write`` on an O_APPEND descriptor, then fsync."""
    data = (line + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunLock:
    """An exclusive ``fcntl.flock`` on the run directory's lock file, held while open."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(self.fd)
            raise BusyError(f"{run_dir}: another stylegen run is using this run directory ({holder});"
                            " wait for it to finish or use a different --out") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
