"""Reading a droidtrack.recording/2 file (history/recording_db.py writes it; docs/recording-format.md):
the sample list at opening, then one sample's rows at a time, joined back into the snapshot
document model/schema.py reads."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from droidtrack.history.recording_db import (BUFFER_COLS, EVENT_COLS, OWNER_COLS, SPLIT, DbError,
                                             _connect, _empty)
from droidtrack.model import Snapshot, schema
from droidtrack.model.problems import Problem


@dataclass(frozen=True, slots=True)
class DbSample:
    id: int
    time: float
    serial: str | None
    origin: str


class DbReader:
    """A /2 recording read one sample at a time (nothing but the sample list is held)."""

    def __init__(self, path: str):
        self.path = path
        self.con = _connect(path, readonly=True)
        self.meta, self.samples, self.failed = {}, [], (0, None)
        self.has_owners = False           # files written before the owners table keep owners in the buffer doc
        if _empty(self.con):
            return                        # created this instant: no sample yet
        try:
            self.meta = {k: _loads(v) for k, v in self.con.execute("SELECT key, value FROM meta")}
            self.samples = [DbSample(*r) for r in self.con.execute(
                "SELECT id, time, serial, coalesce(origin, '') FROM samples WHERE status = 'ok' ORDER BY id")]
            self.failed = self.con.execute("SELECT count(*), group_concat(reason, '; ') FROM samples "
                                           "WHERE status = 'failed'").fetchone()
            self.has_owners = self.con.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'owners'").fetchone() is not None
        except sqlite3.DatabaseError as e:
            raise DbError(f"{path}: cannot read the recording (SQLite says: {e})") from None

    def problems(self) -> list[Problem]:
        n, why = self.failed
        if not n:
            return []
        return [Problem("recording", f"{n} sample(s) failed while recording and are left out"
                        + (f" ({why[:300]})" if why else ""))]

    def document(self, sid: int) -> dict[str, Any]:
        """Sample `sid`'s snapshot document (model/schema.py's), joined back from its rows."""
        c = self.con
        w = f"{self.path}: sample {sid}"
        try:
            row = c.execute("SELECT time, origin FROM samples WHERE id = ? AND status = 'ok'", (sid,)).fetchone()
            if row is None:
                raise DbError(f"{self.path}: no sample {sid}")
            where = "first_sample <= ?1 AND (last_sample IS NULL OR last_sample >= ?1)"
            d: dict[str, Any] = {"time": row[0], "origin": row[1] or "", **{k: {} for k in SPLIT}}
            for part, doc in c.execute(f"SELECT part, doc FROM details WHERE {where}", (sid,)):
                k, dot, k2 = part.partition(".")
                if dot and k in SPLIT:
                    d[k][k2] = _loads(doc, f"{w}: details row {part!r}")
                else:
                    d[part] = _loads(doc, f"{w}: details row {part!r}")
            defaults = d.pop("buffer_defaults", None)
            defaults = defaults if isinstance(defaults, dict) else {}
            holders: dict[str, dict[str, Any]] = {}
            for key, pid, doc in c.execute(f"SELECT buffer_key, pid, doc FROM holdings WHERE {where}", (sid,)):
                holders.setdefault(key, {})[str(pid)] = _loads(doc, f"{w}: holding of {key!r} by pid {pid}")
            owners: dict[str, dict[str, Any]] = {}
            if self.has_owners:
                for key, pid, package, rule, doc in c.execute(
                        f"SELECT {', '.join(OWNER_COLS)}, doc FROM owners WHERE {where}", (sid,)):
                    owners[key] = {**_object(doc, f"{w}: owner of {key!r}"), "pid": pid, "package": package, "rule": rule}
            bufs = []
            for *cols, doc in c.execute(f"SELECT {', '.join(BUFFER_COLS)}, doc FROM buffers WHERE {where}", (sid,)):
                b = _object(doc, f"{w}: buffer row {cols[0]!r}")
                for k, v in defaults.items():
                    b.setdefault(k, v)
                b.update(zip(BUFFER_COLS, cols))
                o = owners.get(b["key"])
                if o is not None:               # else: in the doc (written before the owners table), or none
                    b["owner"] = o
                b["holders"] = holders.pop(b["key"], {})
                bufs.append(b)
            d["buffers"] = bufs
            procs = []
            for pid, name, cmdline, package, uid, doc in c.execute(
                    f"SELECT pid, name, cmdline, package, uid, doc FROM processes WHERE {where}", (sid,)):
                p = _object(doc, f"{w}: process row {pid}")
                p.update(pid=pid, name=name, cmdline=_loads(cmdline, f"{w}: process row {pid}"), package=package, uid=uid)
                procs.append(p)
            d["processes"] = procs
        except sqlite3.DatabaseError as e:
            raise DbError(f"{self.path}: sample {sid} cannot be read (SQLite says: {e})") from None
        return d

    def lifetimes(self):
        """The recording's trace events folded into lifetimes (model/lifetimes.py), each export
        marked with its sample; None where the recording has no trace table or no event."""
        from droidtrack.model.lifetimes import Lifetimes
        from droidtrack.parse.dmabuf_trace import TraceEvent
        try:
            if not self.con.execute("SELECT 1 FROM sqlite_master WHERE name = 'trace_events'").fetchone():
                return None
            rows = self.con.execute(f"SELECT sample, {', '.join(EVENT_COLS)}, doc FROM trace_events ORDER BY id")
            lt = Lifetimes()
            for sample, *cols, doc in rows:
                rest = _object(doc, f"{self.path}: a trace_events row") if doc else {}
                kw = dict(zip(EVENT_COLS, cols))
                ev = TraceEvent(cpu=int(rest.get("cpu", 0)), attachment=rest.get("attachment"),
                                dynamic=rest.get("dynamic"), group_dead=rest.get("group_dead"), **kw)
                lt.sample = sample
                lt.apply(ev)
        except (sqlite3.DatabaseError, TypeError) as e:
            raise DbError(f"{self.path}: its trace events cannot be read ({e})") from None
        return lt if lt.events else None

    def snapshot(self, sid: int) -> Snapshot:
        try:
            return schema.from_dict(self.document(sid), f"{self.path}: sample {sid}")
        except schema.SchemaError as e:
            raise DbError(str(e)) from None

    def close(self) -> None:
        self.con.close()


def _loads(s: str, what: str = "a recording row") -> Any:
    try:
        return json.loads(s)
    except RecursionError:
        raise DbError(f"{what}: {schema.too_deep(s)}") from None
    except (ValueError, TypeError):
        raise DbError(f"{what} is not valid JSON") from None


def _object(s: str, what: str) -> dict[str, Any]:
    d = _loads(s, what)
    if not isinstance(d, dict):
        raise DbError(f"{what} is not a JSON object")
    return d
