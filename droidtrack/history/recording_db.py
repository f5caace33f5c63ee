"""Recordings in SQLite (`droidtrack.recording/2`): one sample per transaction, rows kept once while unchanged.

docs/recording-format.md documents the schema for people who query it with sqlite3 or pandas.
In short: `samples` has one row per sample (time, serial, status, the totals of model/account.py
and the rest of the snapshot document as JSON); `buffers`, `holdings`, `processes`, `usage`,
`owners` and `details` hold one row per *run* of an unchanged value: `first_sample` ..
`last_sample` (NULL while it is still present in the latest sample). The views `sample_<table>`
give the rows of every sample. `trace_events` holds the
dma_buf events `record --trace` received (one row each, written with the next sample).

Writing: WAL journal, synchronous=FULL, one transaction per sample: a killed recorder loses at most
the sample in flight and the file passes `pragma integrity_check`. One recorder at a time: the
writer holds an flock() on the file (readers are not affected). The snapshot document is the one
model/schema.py writes and reads, split into rows here and joined back by
history/recording_db_reader.py.
"""
from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from typing import Any

from droidtrack import __version__
from droidtrack.model import Snapshot, schema
from droidtrack.model.account import account

MAGIC = "droidtrack.recording/2"
APPLICATION_ID = 0x64747232        # "dtr2" in the SQLite header, so `file` and we can tell it
SQLITE_HEADER = b"SQLite format 3\x00"
# per-process numbers account() derives again on reading: kept in `usage`, not in the process doc
_DERIVED = ("buffers", "rss", "pss", "fd_only", "mapped", "in_rss", "by_tag", "pss_by_tag")
# derived again on reading and not kept at all (they change with every leaking sample: kept, each
# would start a new row run per sample; model/account.py and model/coverage.py recompute them)
_RECOMPUTED = ("charged", "coverage", "pss_upper_bound")

# the tables whose rows are kept once while unchanged, each row for the samples first_sample ..
# last_sample (NULL: still so at the last), its document in doc: their own columns
_RANGED_COLUMNS = {
    "buffers": "key TEXT NOT NULL, inode INTEGER, size INTEGER NOT NULL, exporter TEXT, name TEXT, tag TEXT,",
    "holdings": "buffer_key TEXT NOT NULL, pid INTEGER NOT NULL, fds INTEGER, maps INTEGER, how TEXT,",
    "processes": "pid INTEGER NOT NULL, name TEXT, cmdline TEXT, package TEXT, uid INTEGER,",
    "owners": "buffer_key TEXT NOT NULL, pid INTEGER, package TEXT, rule TEXT NOT NULL,",
    "details": "part TEXT NOT NULL,                -- 'device', 'problems', 'sources.<name>', 'reported.<name>' ...",
    "usage": "pid INTEGER NOT NULL, rss INTEGER, pss INTEGER, fd_only INTEGER, mapped INTEGER,",
}
DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,            -- 0, 1, 2 ... in recording order
    time REAL NOT NULL,                -- seconds since the epoch (host clock at collection)
    serial TEXT, origin TEXT,
    status TEXT NOT NULL,              -- 'ok', or 'failed' (the stream was cut: no rows below)
    reason TEXT,                       -- why it failed
    buffers INTEGER, bytes INTEGER, userspace INTEGER, kernel_only INTEGER, unattributed INTEGER,
    fd_only INTEGER, mapped INTEGER, sum_rss INTEGER, sum_pss INTEGER, processes INTEGER
);
""" + "".join(f"""CREATE TABLE IF NOT EXISTS {t} (
    id INTEGER PRIMARY KEY, first_sample INTEGER NOT NULL, last_sample INTEGER,
    {cols}
    doc TEXT NOT NULL
);
""" for t, cols in _RANGED_COLUMNS.items()) + """CREATE TABLE IF NOT EXISTS trace_events (
    id INTEGER PRIMARY KEY,
    sample INTEGER,                    -- the first sample written after it arrived (NULL: after the last)
    time REAL NOT NULL,                -- host clock when it arrived
    ts REAL NOT NULL,                  -- the device's trace clock (seconds)
    kind TEXT NOT NULL,                -- export fd get put mmap mmap_internal dynamic_attach detach exit
    pid INTEGER NOT NULL, tgid INTEGER, comm TEXT,
    ino INTEGER, size INTEGER, exporter TEXT, fd INTEGER, dev TEXT,
    doc TEXT                           -- the rest of the event (cpu, attachment, dynamic, group_dead)
);
CREATE INDEX IF NOT EXISTS trace_events_ino ON trace_events(ino);
"""
RANGED = ("buffers", "holdings", "processes", "usage", "owners", "details")
OWNER_COLS = ("buffer_key", "pid", "package", "rule")   # the rest of the owner (name, evidence) in doc
EVENT_COLS = ("ts", "kind", "pid", "tgid", "comm", "ino", "size", "exporter", "fd", "dev")
BUFFER_COLS = ("key", "inode", "size", "exporter", "name", "tag")   # columns, not repeated in doc
SPLIT = ("sources", "reported")      # document keys stored one entry per row (they change entry by entry)
# buffer keys whose most common value in a sample is stored once, in the details part
# 'buffer_defaults', and left out of each buffer doc that has it (most buffers of a device share
# their provenance, tag rule and sources): a new buffer costs its own facts only
DEFAULTED = ("attached", "holders_known", "provenance", "sources", "tag_rule")
VIEWS = "".join(f"""
CREATE INDEX IF NOT EXISTS {t}_first ON {t}(first_sample);
CREATE INDEX IF NOT EXISTS {t}_last ON {t}(last_sample);
CREATE VIEW IF NOT EXISTS sample_{t} AS SELECT s.id AS sample, s.time AS time, r.*
    FROM samples s JOIN {t} r ON r.first_sample <= s.id AND (r.last_sample IS NULL OR r.last_sample >= s.id)
    WHERE s.status = 'ok';
""" for t in RANGED)


class DbError(Exception):
    exit_code = 2


def is_db(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_HEADER
    except OSError:
        return False


def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=True, separators=(",", ":"), sort_keys=True)


def _connect(path: str, *, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            con = sqlite3.connect(f"file:{_uri(path)}?mode=ro", uri=True, isolation_level=None,
                                  check_same_thread=False)
        else:
            con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA query_only = 1" if readonly else "PRAGMA busy_timeout = 5000")
        appid = con.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise DbError(f"{path}: not a droidtrack recording (SQLite says: {e})") from None
    # appid 0 and no table: a recording being created this instant (or an empty database)
    if appid != APPLICATION_ID and not (appid == 0 and _empty(con)):
        con.close()
        raise DbError(f"{path}: an SQLite database, but not a droidtrack recording")
    return con


def _uri(path: str) -> str:
    from urllib.parse import quote
    return quote(os.path.abspath(path))


def _empty(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


# ---- writing -------------------------------------------------------------------------------

class _Runs:
    """The rows of one ranged table that are present in the latest sample: key -> (row id, value),
    value being the row's columns and doc together (a change in either starts a new row)."""

    def __init__(self, con: sqlite3.Connection, table: str, keycols: tuple[str, ...], cols: tuple[str, ...]):
        self.con, self.table = con, table
        self.cols = cols
        self.keyidx = tuple(cols.index(k) for k in keycols)
        self.insert = (f"INSERT INTO {table} (first_sample, {', '.join(cols)}, doc) "
                       f"VALUES (?, {', '.join('?' * len(cols))}, ?)")
        self.load()

    def load(self) -> None:
        """The rows still present, from the file (at opening, and after a rolled-back sample)."""
        self.live: dict[tuple, tuple[int, tuple]] = {}
        for row in self.con.execute(f"SELECT id, {', '.join(self.cols)}, doc FROM {self.table} "
                                    "WHERE last_sample IS NULL"):
            vals = (tuple(row[1:-1]), row[-1])
            self.live[tuple(vals[0][i] for i in self.keyidx)] = (row[0], vals)

    def step(self, sample: int, prev: int | None, rows: dict[tuple, tuple[tuple, str]]) -> None:
        """rows: key -> (column values, doc) of this sample. Unchanged rows are not touched."""
        live = self.live
        ended = [rid for k, (rid, v) in live.items() if rows.get(k) != v]
        if ended:
            self.con.executemany(f"UPDATE {self.table} SET last_sample = ? WHERE id = ?",
                                 [(prev, rid) for rid in ended])
        ins = self.insert
        cur = self.con.cursor()
        for k, v in rows.items():
            old = live.get(k)
            if old is not None and old[1] == v:
                continue
            cur.execute(ins, (sample, *v[0], v[1]))
            live[k] = (cur.lastrowid, v)
        for k in [k for k in live if k not in rows]:
            del live[k]


class DbWriter:
    """Appends samples to a droidtrack.recording/2 file; one committed transaction per sample."""

    def __init__(self, path: str, meta: dict[str, Any] | None = None, *, append: bool = False):
        self.path = path
        exists = os.path.exists(path)
        if exists and not append:
            raise DbError(f"{path} exists: choose another file, or pass --append to add to it")
        if exists and not is_db(path) and os.path.getsize(path) > 0:
            raise DbError(f"{path}: not a droidtrack.recording/2 (SQLite) file")
        try:
            self._lockfd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise DbError(f"cannot create {path}: {e.strerror}") from None
        try:
            fcntl.flock(self._lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lockfd)
            raise DbError(f"{path} is being written by another recorder; wait for it to stop or choose "
                          "another file") from None
        try:
            self.con = _connect(path, readonly=False)
            con = self.con
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = FULL")
            with con:
                con.execute("BEGIN IMMEDIATE")
                for stmt in (DDL + VIEWS).split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                con.execute("PRAGMA user_version = 2")
                have = dict(con.execute("SELECT key, value FROM meta"))
                if "format" not in have:
                    m = {"format": MAGIC, "droidtrack": __version__, **{k: v for k, v in (meta or {}).items()}}
                    con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                    [(k, _dumps(v)) for k, v in m.items()])
        except (sqlite3.DatabaseError, DbError) as e:
            self.close()
            if isinstance(e, DbError):
                raise
            raise DbError(f"{path}: not a droidtrack recording (SQLite says: {e})") from None
        self.count = con.execute("SELECT count(*) FROM samples").fetchone()[0]
        last_ok = con.execute("SELECT max(id) FROM samples WHERE status = 'ok'").fetchone()[0]
        self._prev = last_ok
        self._defaults: dict[str, Any] = {}     # the last sample's buffer_defaults (appending goes on with them)
        row = con.execute("SELECT doc FROM details WHERE part = 'buffer_defaults' AND last_sample IS NULL").fetchone()
        if row is not None:
            try:
                prev = json.loads(row[0])
                self._defaults = prev if isinstance(prev, dict) else {}
            except (ValueError, TypeError, RecursionError):
                pass
        top = con.execute("SELECT max(id) FROM samples").fetchone()[0]
        self._next = 0 if top is None else top + 1
        self._events: list[tuple] = []          # trace events waiting for the next transaction
        self._events_lock = threading.Lock()
        self._runs = {
            "buffers": _Runs(con, "buffers", ("key",), BUFFER_COLS),
            "holdings": _Runs(con, "holdings", ("buffer_key", "pid"), ("buffer_key", "pid", "fds", "maps", "how")),
            "processes": _Runs(con, "processes", ("pid",), ("pid", "name", "cmdline", "package", "uid")),
            "usage": _Runs(con, "usage", ("pid",), ("pid", "rss", "pss", "fd_only", "mapped")),
            "owners": _Runs(con, "owners", ("buffer_key",), OWNER_COLS),
            "details": _Runs(con, "details", ("part",), ("part",)),
        }

    @property
    def bytes(self) -> int:
        n = 0
        for suffix in ("", "-wal"):
            try:
                n += os.path.getsize(self.path + suffix)
            except OSError:
                pass
        return n

    def queue_events(self, events, at: float | None = None) -> None:
        """Trace events (parse/dmabuf_trace.TraceEvent) that arrived at `at` (host time); written with
        the next sample's transaction (or at close). Safe to call from another thread."""
        t = time.time() if at is None else at
        rows = []
        for ev in events:
            d = ev.to_json()
            rest = {k: d[k] for k in ("cpu", "attachment", "dynamic", "group_dead") if k in d}
            rows.append((t, *(getattr(ev, k) for k in EVENT_COLS), _dumps(rest)))
        with self._events_lock:
            self._events.extend(rows)

    def _flush_events(self, sample: int | None) -> None:
        with self._events_lock:
            rows, self._events = self._events, []
        if rows:
            self.con.executemany(f"INSERT INTO trace_events (sample, time, {', '.join(EVENT_COLS)}, doc) "
                                 f"VALUES (?, ?, {', '.join('?' * len(EVENT_COLS))}, ?)",
                                 [(sample, *r) for r in rows])

    def set_trace_status(self, status: dict) -> None:
        """What the trace said about itself (meta `trace`): state, reason, events, lost_events ..."""
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            self._flush_events(None)
            self.con.execute("INSERT OR REPLACE INTO meta VALUES ('trace', ?)", (_dumps(status),))

    def add_snapshot(self, snap: Snapshot) -> int:
        acc = account(snap)
        d = schema.to_dict(snap, acc, all_processes=True)
        bufs, procs = d.pop("buffers"), d.pop("processes")
        totals = d.pop("totals")
        d.pop("reconciliation", None)
        d.pop("coverage", None)                   # model/coverage.py's, recomputed on reading
        d.pop("time", None)                       # columns
        d.pop("origin", None)
        drows = {}
        for k, v in d.items():
            if k in SPLIT and isinstance(v, dict):
                for k2, v2 in v.items():
                    drows[(f"{k}.{k2}",)] = ((f"{k}.{k2}",), _dumps(v2))
            else:
                drows[(k,)] = ((k,), _dumps(v))
        brows, hrows, prows, urows, orows = {}, {}, {}, {}, {}
        defaults = self._defaults = _most_common(bufs, DEFAULTED, self._defaults)
        if defaults:
            drows[("buffer_defaults",)] = (("buffer_defaults",), _dumps(defaults))
        for b in bufs:
            for k, v in defaults.items():
                if b.get(k) == v:
                    del b[k]
            holders = b.pop("holders")
            cols = tuple(b.pop(k) for k in BUFFER_COLS)
            owner = b.pop("owner", None)       # its own rows: a buffer's count or maps change, its owner stays
            if owner is not None:
                ocols = (cols[0], owner.pop("pid"), owner.pop("package"), owner.pop("rule"))
                orows[(cols[0],)] = (ocols, _dumps(owner))
            brows[(cols[0],)] = (cols, _dumps(b))
            for pid, h in holders.items():
                how = h.get("by") or "+".join(x for x, on in (("fd", h["fds"]), ("map", h["maps"])) if on)
                hrows[(cols[0], int(pid))] = ((cols[0], int(pid), len(h["fds"]), len(h["maps"]), how), _dumps(h))
        for p in procs:
            use = {k: p.pop(k) for k in _DERIVED}
            for k in _RECOMPUTED:
                p.pop(k, None)
            pid = p.pop("pid")
            prows[(pid,)] = ((pid, p.pop("name"), _dumps(p.pop("cmdline")), p.pop("package"), p.pop("uid")), _dumps(p))
            if use["buffers"]:
                cols = (pid, use.pop("rss"), use.pop("pss"), use.pop("fd_only"), use.pop("mapped"))
                urows[(pid,)] = (cols, _dumps(use))          # the columns are not repeated in doc
        i = self._next
        t = acc.totals
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("INSERT INTO samples VALUES (?, ?, ?, ?, 'ok', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (i, snap.time, snap.device.serial, snap.origin, t.buffers, t.bytes, t.userspace,
                         t.kernel_only, t.unattributed, t.fd_only, t.mapped, t.sum_rss, t.sum_pss,
                         totals["device_processes"]))
            for name, rows in (("buffers", brows), ("holdings", hrows), ("processes", prows), ("usage", urows), ("owners", orows),
                               ("details", drows)):
                self._runs[name].step(i, self._prev, rows)
            self._flush_events(i)
            con.execute("COMMIT")
        except BaseException:
            # an interrupt (record's SIGTERM, Ctrl-C) can land anywhere, also once COMMIT is done
            if con.in_transaction:
                con.execute("ROLLBACK")
            elif con.execute("SELECT 1 FROM samples WHERE id = ?", (i,)).fetchone() is not None:
                self._prev, self._next = i, i + 1
                self.count += 1
            self._reload()
            raise
        self._prev = i
        self._next = i + 1
        self.count += 1
        return i

    def add_failed(self, snap: Snapshot, reason: str) -> int:
        """A sample whose stream was cut: a row saying so (not a device that held nothing)."""
        i = self._next
        with self.con:
            self.con.execute("BEGIN IMMEDIATE")
            self.con.execute("INSERT INTO samples (id, time, serial, origin, status, reason) VALUES (?, ?, ?, ?, 'failed', ?)",
                             (i, snap.time, snap.device.serial, snap.origin, reason))
            self._flush_events(i)
        self._next = i + 1
        self.count += 1
        return i

    def _reload(self) -> None:
        for r in self._runs.values():
            r.load()

    def add_collected(self, collected) -> int:
        """A `sources.Collected`: stored, or stored as failed when it does not stand for the device."""
        if not getattr(collected, "complete", True):
            return self.add_failed(collected.snapshot, collected.incomplete or "the collection was cut")
        return self.add_snapshot(collected.snapshot)

    def close(self) -> None:
        con = getattr(self, "con", None)
        if con is not None:
            try:
                if self._events:
                    with con:
                        con.execute("BEGIN IMMEDIATE")
                        self._flush_events(None)
            except (sqlite3.Error, AttributeError):
                pass
            try:
                con.close()
            except sqlite3.Error:
                pass
            self.con = None
        if getattr(self, "_lockfd", -1) >= 0:
            os.close(self._lockfd)
            self._lockfd = -1


def _most_common(docs: list[dict[str, Any]], keys: tuple[str, ...], previous: dict[str, Any]) -> dict[str, Any]:
    """Each key's most common value over docs (where at least two docs share it); the previous
    sample's value stays while any doc still has it, so that a tie does not flip the default (and
    with it every buffer row) from one sample to the next."""
    out = {}
    for k in keys:
        if k in previous:
            pv = previous[k]
            if any(b.get(k) == pv for b in docs):
                out[k] = pv
                continue
        seen: dict[str, list] = {}
        for b in docs:
            if k in b:
                v = b[k]
                e = seen.get(h := _dumps(v))
                if e is None:
                    seen[h] = [1, v]
                else:
                    e[0] += 1
        if seen:
            n, v = max(seen.values(), key=lambda e: e[0])
            if n > 1:
                out[k] = v
    return out
