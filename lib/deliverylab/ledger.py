"""The durable record of one run: what was sent, acked, processed, committed, crashed, faulted.

One SQLite file per run, written by several OS processes (workers, supervisor, fault injector).
Every row is committed as it is written, in WAL mode, so a SIGKILL loses nothing recorded before
it. The checker reads it back as DataFrames; it never talks to Kafka.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # workers import this module; pandas would add 0.25 s to every restart
    import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta     (key TEXT PRIMARY KEY, value TEXT);
-- the application called produce() for this message (input producer or producer experiment)
CREATE TABLE IF NOT EXISTS sends    (msg_id TEXT, key TEXT, seq INTEGER, topic TEXT, t REAL);
-- a delivery report: offset on success, error name otherwise (offset -1)
CREATE TABLE IF NOT EXISTS acks     (msg_id TEXT, topic TEXT, partition INTEGER, "offset" INTEGER,
                                     error TEXT, t REAL);
-- a consumer's offset commit as the worker saw it (ok=0 with error, or never written if it died)
CREATE TABLE IF NOT EXISTS commits  (worker INTEGER, topic TEXT, partition INTEGER, "offset" INTEGER,
                                     ok INTEGER, error TEXT, t REAL);
-- lifecycle and nemesis: start, crash, exit, restart, fault, heal, timeout
CREATE TABLE IF NOT EXISTS events   (kind TEXT, worker INTEGER, pid INTEGER, detail TEXT, t REAL);
-- a share-group member's deliveries (KIP-932): every record handed out, with the broker's count
CREATE TABLE IF NOT EXISTS deliveries (worker INTEGER, msg_id TEXT, partition INTEGER,
                                       "offset" INTEGER, delivery_count INTEGER, t REAL);
-- … and its acknowledgements (ACCEPT / RELEASE / REJECT) once committed: ok=1 if the broker
-- confirmed that partition's acknowledgements, 0 with the error name otherwise
CREATE TABLE IF NOT EXISTS share_acks (worker INTEGER, msg_id TEXT, partition INTEGER,
                                       "offset" INTEGER, delivery_count INTEGER, ack TEXT,
                                       ok INTEGER, error TEXT, t REAL);
-- the topic as a fresh consumer reads it back after the run
CREATE TABLE IF NOT EXISTS readback (reader TEXT, topic TEXT, partition INTEGER, "offset" INTEGER,
                                     msg_id TEXT, key TEXT, seq INTEGER);
"""

STORE_SCHEMA = """
-- the learner's database: one row per processing of a message (duplicates show as rows)
CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT, key TEXT,
                                    seq INTEGER, topic TEXT, partition INTEGER, "offset" INTEGER,
                                    worker INTEGER, t REAL);
-- the idempotent consumer's dedupe looks a message id up here (workers/idempotent_consumer.py)
CREATE INDEX IF NOT EXISTS effects_msg_id ON effects (msg_id);
-- the idempotent consumer's own offsets, written in the same transaction as its effects
CREATE TABLE IF NOT EXISTS offsets (topic TEXT, partition INTEGER, next_offset INTEGER,
                                    PRIMARY KEY (topic, partition));
"""


def _open(path: Path, schema: str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None,  # autocommit
                           check_same_thread=False)  # the nemesis thread reads progress
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL+NORMAL survives a process kill (not a power cut)
    conn.executescript(schema)
    return conn


class _SQLiteFile:
    """One SQLite file of a run, opened with its schema (see _open)."""

    schema = ""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = _open(self.path, self.schema)

    def close(self) -> None:
        self.conn.close()


class Ledger(_SQLiteFile):
    """Append-only writer and reader of one run's ledger file."""

    schema = SCHEMA

    # --- writing ---------------------------------------------------------------------------
    def _many(self, sql: str, rows: list[tuple]) -> None:
        """One transaction per batch: row-by-row autocommit costs ~40 µs a row."""
        if not rows:
            return
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany(sql, rows)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def set_meta(self, **values: Any) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                              [(k, str(v)) for k, v in values.items()])

    def sends(self, rows: Iterable[tuple[str, str, int, str]]) -> None:
        now = time.time()
        self._many("INSERT INTO sends VALUES (?, ?, ?, ?, ?)", [(*r, now) for r in rows])

    def acks(self, rows: Iterable[tuple[str, str, int, int, str | None, float]]) -> None:
        self._many("INSERT INTO acks VALUES (?, ?, ?, ?, ?, ?)", list(rows))

    def commit(self, worker: int, topic: str, partition: int, offset: int, ok: bool,
               error: str | None = None) -> None:
        self.conn.execute("INSERT INTO commits VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (worker, topic, partition, offset, int(ok), error, time.time()))

    def event(self, kind: str, worker: int = -1, pid: int = 0, detail: str = "",
              t: float | None = None) -> None:
        self.conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                          (kind, worker, pid, detail, t if t is not None else time.time()))

    def deliveries(self, rows: Iterable[tuple[int, str, int, int, int]]) -> None:
        now = time.time()
        self._many("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?)", [(*r, now) for r in rows])

    def share_acks(self, rows: Iterable[tuple[int, str, int, int, int, str, bool, str | None]]) -> None:
        now = time.time()
        self._many("INSERT INTO share_acks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [(*r[:6], int(r[6]), r[7], now) for r in rows])

    def readback(self, reader: str, rows: Iterable[tuple[str, int, int, str, str, int]]) -> None:
        self._many("INSERT INTO readback VALUES (?, ?, ?, ?, ?, ?, ?)", [(reader, *r) for r in rows])

    # --- reading ---------------------------------------------------------------------------
    def table(self, name: str) -> "pd.DataFrame":
        import pandas as pd
        return pd.read_sql_query(f"SELECT * FROM {name}", self.conn)

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())


class Store(_SQLiteFile):
    """The external system the consumer's processing writes to (the learner's database)."""

    schema = STORE_SCHEMA

    def effects(self) -> "pd.DataFrame":
        import pandas as pd
        return pd.read_sql_query("SELECT * FROM effects ORDER BY id", self.conn)


def read_tables(ledger_path: Path, store_path: Path | None = None) -> dict[str, "pd.DataFrame"]:
    """Every table of a run, as DataFrames: the checker's whole input."""
    with closing(Ledger(ledger_path)) as led:
        tables = {name: led.table(name) for name in ("sends", "acks", "commits", "events", "readback",
                                                   "deliveries", "share_acks")}
    if store_path is not None and store_path.exists():
        with closing(Store(store_path)) as store:
            tables["effects"] = store.effects()
    return tables
