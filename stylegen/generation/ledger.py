"""The run ledger: a SQLite file (WAL) that records every attempt and every finished row.

The ledger is the source of truth of a run directory. A row is finished when its outcome
(accepted or rejected, with the exact JSON line for ``outputs.jsonl`` or
``rejects.jsonl``) is committed here; only then is the line appended to its file. After a
crash (even ``kill -9`` mid-append) :meth:`Ledger.reconcile` rewrites both files from the
ledger, so each finished row appears exactly once, byte for byte as first written.
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

from stylegen.errors import BusyError

LEDGER_FILE = "ledger.sqlite"
LOCK_FILE = ".lock"
OUTPUTS = {"accepted": "outputs.jsonl", "rejected": "rejects.jsonl"}

_SCHEMA = """
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


class Ledger:
    """One run directory's ledger. Open with :func:`open_run_dir` to hold its lock."""

    def __init__(self, path: Path):
        self.path = Path(path)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not just kill -9
        self.db.executescript(_SCHEMA)
        self.session: int | None = None

    @contextmanager
    def transaction(self):
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

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
                   "gen_seconds", "validate_seconds")
        now = time.time()
        values = [(self.session, *(a[c] for c in columns), now) for a in attempts]
        with self.transaction() as db:
            db.executemany(f"INSERT INTO attempts (session, {', '.join(columns)}, created) "
                           f"VALUES ({', '.join('?' * (len(columns) + 2))})", values)

    def finish_rows(self, rows: list[FinishedRow]) -> None:
        """Commit rows' outcomes; a row already finished is left as it was."""
        now = time.time()
        values = [(r.row_key, r.id, r.line, self.session or 0, r.status, r.source, r.attempts, int(r.first_pass),
                   json.dumps(r.rules), r.payload, now) for r in rows]
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO rows (row_key, id, line, session, status, source, attempts,"
                           " first_pass, rules, payload, finished) VALUES (?,?,?,?,?,?,?,?,?,?,?)", values)

    def finished_keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT row_key FROM rows")}

    def finished_rows(self) -> list[FinishedRow]:
        """Every finished row, in the order it finished."""
        cur = self.db.execute("SELECT row_key, id, line, status, source, attempts, first_pass, rules, payload"
                              " FROM rows ORDER BY seq")
        return [FinishedRow(k, i, ln, st, src, a, bool(fp), json.loads(rules), p)
                for k, i, ln, st, src, a, fp, rules, p in cur]

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
