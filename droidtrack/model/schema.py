"""The versioned JSON snapshot (`droidtrack.snapshot/1`), both directions: an interface others build on.

Writing: `to_dict` is the document as Python objects, `dumps` its text (model/schema_text.py
prints it fast, byte for byte what json.dumps(to_dict(...), indent=2, ensure_ascii=True) prints).
Reading: `from_dict` and `loads` give the Snapshot back. Derived numbers (per-process rss/pss,
totals, reconciliation, `package`, `rooted`) are not read: account() recomputes them from the
buffers, so snapshot -> JSON -> snapshot -> JSON is the same text (tests/test_schema.py).

The reader validates what it reads (types, non-negative sizes, pids, fds and addresses, known
holding kinds, no repeated buffer keys or pids) and raises SchemaError with where and what, never
a Python error; fields a document lacks take the model's defaults, so older documents still read.

Documented in README.md ("JSON schema"); pinned by tests/test_json_schema.py. Add fields freely;
never rename or remove one without a new schema version.
"""
from __future__ import annotations

import json
import re
from typing import Any

from droidtrack import __version__
from droidtrack.model import (SCHEMA, Buffer, DeviceInfo, Holding, MapRef, Owner, Process, Snapshot,
                              SourceStatus)
from droidtrack.model import schema_text
from droidtrack.model.account import Accounting, account
from droidtrack.model.coverage import Coverage, coverage
from droidtrack.model.owners import RULES as OWNER_RULES
from droidtrack.model.owners import owners_of
from droidtrack.model.problems import Problem
from droidtrack.model.schema_fast import HOLDING_KINDS, Slow, fast_buffer, fast_owner


class SchemaError(ValueError):
    """A document that is not a readable droidtrack.snapshot/1. The message is for the user; exit 2."""
    exit_code = 2


# ---- writing -------------------------------------------------------------------------------
def _owner(o: Owner | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"pid": o.pid, "package": o.package, "name": o.name, "rule": o.rule, "evidence": o.evidence}


def _buffer(b: Buffer, owner: Owner | None) -> dict[str, Any]:
    return {
        "key": b.key,
        "inode": b.inode,
        "size": b.size,
        "exporter": b.exporter,
        "name": b.name,
        "count": b.count,
        "tag": b.tag,
        "tag_rule": b.tag_rule,
        "attached": list(b.attached),
        "holders": {
            str(pid): {
                "fds": list(h.fds),
                "maps": [{"start": m.start, "end": m.end, "offset": m.offset, "perms": m.perms,
                          "rss": m.rss, "pss": m.pss} for m in h.maps],
                **({"by": h.by} if h.by is not None else {}),
            }
            for pid, h in sorted(b.holders.items())
        },
        "sources": list(b.sources),
        "provenance": dict(b.provenance),
        "holders_known": b.holders_known,
        "owner": _owner(owner),
    }


def _process(p: Process, acc: Accounting, cov: Coverage) -> dict[str, Any]:
    a = acc.processes.get(p.pid)
    d: dict[str, Any] = {
        "pid": p.pid,
        "name": p.name,
        "cmdline": list(p.cmdline),
        "package": p.package,
        "uid": p.uid,
        "ppid": p.ppid,
        "oom_score_adj": p.oom_score_adj,
        "fds_readable": p.fds_readable,
        "maps_readable": p.maps_readable,
        "buffers": a.buffers if a else 0,
        "rss": a.rss if a else 0,
        "pss": a.pss if a else 0,
        "fd_only": a.fd_only if a else 0,
        "mapped": a.mapped if a else 0,
        "in_rss": a.in_rss if a else 0,
        "by_tag": dict(sorted(a.by_tag.items())) if a else {},
        "pss_by_tag": dict(sorted(a.pss_by_tag.items())) if a else {},
        "charged": a.charged if a else 0,
        "reported": dict(p.reported),
        "read_as": p.read_as,
        "coverage": cov.grades.get(p.pid, "unknown"),
        "pss_upper_bound": p.pid in cov.pss_upper,
    }
    return d


def _processes(snap: Snapshot, acc: Accounting, all_processes: bool) -> list[Process]:
    """The processes listed, in the document's order (largest PSS first). Processes without
    buffers are left out unless all_processes or they report something themselves."""
    procs = [p for p in snap.processes.values() if all_processes or p.pid in acc.processes
             or p.reported]
    procs.sort(key=lambda p: (-(acc.processes[p.pid].pss if p.pid in acc.processes else 0), p.pid))
    return procs


def _sorted_buffers(snap: Snapshot) -> list[Buffer]:
    return sorted(snap.buffers.values(), key=lambda b: (-b.size, b.key))


def _parts(snap: Snapshot, acc: Accounting, cov: Coverage) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document's keys before "buffers" and after "processes", as dicts."""
    t = acc.totals
    head = {
        "schema": SCHEMA,
        "droidtrack": __version__,
        "time": snap.time,
        "origin": snap.origin,
        "device": {
            "serial": snap.device.serial, "model": snap.device.model,
            "manufacturer": snap.device.manufacturer, "fingerprint": snap.device.fingerprint,
            "release": snap.device.release, "sdk": snap.device.sdk, "kernel": snap.device.kernel,
            "uid": snap.device.uid, "rooted": snap.device.rooted,
            "selinux_context": snap.device.selinux_context,
        },
        "totals": {
            "buffers": t.buffers,
            "bytes": t.bytes,
            "userspace": t.userspace,
            "kernel_only": t.kernel_only,
            "kernel_only_buffers": list(t.kernel_only_buffers),
            "unattributed": t.unattributed,
            "fd_only": t.fd_only,
            "mapped": t.mapped,
            "sum_rss": t.sum_rss,
            "sum_pss": t.sum_pss,
            "by_tag": dict(sorted(t.by_tag.items())),
            "by_exporter": dict(sorted(t.by_exporter.items())),
            "buffers_by_tag": dict(sorted(t.buffers_by_tag.items())),
            "device_processes": len(snap.processes),
            "by_owner": dict(sorted(t.by_owner.items())),
            "owner_gone": t.owner_gone,
        },
        "reported": dict(sorted(snap.reported.items())),
        "reconciliation": [{"label": r.label, "bytes": r.bytes, "source": r.source, "note": r.note}
                           for r in acc.reconciliation],
        "coverage": {"headline": cov.headline, **cov.counts, "unattributed": cov.unattributed,
                     "device_total": cov.device_total, "device_total_source": cov.device_total_source},
    }
    tail = {
        "sources": {k: {"status": v.status, "detail": v.detail} for k, v in sorted(snap.sources.items())},
        "problems": [p.to_json() for p in snap.problems],
    }
    return head, tail


def to_dict(snap: Snapshot, acc: Accounting | None = None, *, all_processes: bool = False) -> dict[str, Any]:
    """The snapshot as the JSON schema describes it. Processes without buffers are left out unless
    all_processes (they are still counted in `device_processes`)."""
    acc = acc or account(snap)
    cov = coverage(snap, acc)
    head, tail = _parts(snap, acc, cov)
    owners = owners_of(snap)
    return {
        **head,
        "buffers": [_buffer(b, owners.get(b.key)) for b in _sorted_buffers(snap)],
        "processes": [_process(p, acc, cov) for p in _processes(snap, acc, all_processes)],
        **tail,
    }


def dumps(snap: Snapshot, acc: Accounting | None = None, *, all_processes: bool = False) -> str:
    """The document's text: json.dumps(to_dict(...), indent=2, ensure_ascii=True) + "\\n", byte for
    byte. ensure_ascii keeps every device-controlled byte (ESC, NUL, newlines) escaped in the text."""
    acc = acc or account(snap)
    cov = coverage(snap, acc)
    head, tail = _parts(snap, acc, cov)
    encode = schema_text.encode
    out = [encode(head, "\n")[:-2]]                        # "{ ... <last head value>" without "\n}"
    out.append(',\n  "buffers": ')
    out.append(schema_text.buffers(_sorted_buffers(snap), owners_of(snap)))
    out.append(',\n  "processes": ')
    out.append(schema_text.objects([_process(p, acc, cov) for p in _processes(snap, acc, all_processes)]))
    out.append(",")
    out.append(encode(tail, "\n")[1:])                      # "\n  "sources": ...}" without "{"
    out.append("\n")
    return "".join(out)




# ---- reading -------------------------------------------------------------------------------

def loads(data: bytes | str, where: str = "snapshot JSON") -> Snapshot:
    """A document's text (bytes or str) -> Snapshot; SchemaError says what is wrong and where."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise SchemaError(f"{where}: not UTF-8 text (byte {e.start})") from None
    try:
        doc = json.loads(data)
    except RecursionError:
        raise SchemaError(f"{where}: {too_deep(data)}") from None
    except ValueError as e:
        raise SchemaError(f"{where}: not valid JSON: {e}") from None
    return from_dict(doc, where)


_JSON_DEPTH = 256            # a snapshot document nests 7 levels; the line past this is named
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}\n]')


def too_deep(text: str) -> str:
    """What to say of JSON too deeply nested for the decoder (a RecursionError): the line where it
    gets deeper than any snapshot document. Only called on that failure, so a scan is fine."""
    depth = 0
    line = 1
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c == "\n":
            line += 1
        elif c == "[" or c == "{":
            depth += 1
            if depth > _JSON_DEPTH:
                return f"line {line}: nested too deeply (more than {_JSON_DEPTH} levels) to be a snapshot document"
        elif c == "]" or c == "}":
            depth -= 1
        else:
            line += c.count("\n")     # strings hold no raw newline in valid JSON; count them anyway
    return "nested too deeply to be a snapshot document"


def from_dict(d: Any, where: str = "snapshot JSON") -> Snapshot:
    """A parsed document -> Snapshot, validated (see the module docstring)."""
    if not isinstance(d, dict) or not isinstance(d.get("schema"), str) \
            or not d["schema"].startswith("droidtrack.snapshot/"):
        raise SchemaError(f"{where}: not a droidtrack snapshot JSON document (no 'schema: {SCHEMA}')")
    if d["schema"] != SCHEMA:
        raise SchemaError(f"{where}: snapshot schema {_show(d['schema'])} is not supported "
                          f"(this droidtrack reads {SCHEMA})")
    r = _Reader(where)
    dev = r.obj(d.get("device"), "device")
    device = DeviceInfo(serial=r.text(dev.get("serial"), "device.serial", True),
                        model=r.text(dev.get("model"), "device.model", True),
                        manufacturer=r.text(dev.get("manufacturer"), "device.manufacturer", True),
                        fingerprint=r.text(dev.get("fingerprint"), "device.fingerprint", True),
                        release=r.text(dev.get("release"), "device.release", True),
                        sdk=r.int(dev.get("sdk"), "device.sdk", None, True),
                        kernel=r.text(dev.get("kernel"), "device.kernel", True),
                        uid=r.int(dev.get("uid"), "device.uid", 0, True),
                        selinux_context=r.text(dev.get("selinux_context"), "device.selinux_context", True))
    buffers: dict[str, Buffer] = r.unique(d.get("buffers"), "buffers", r.buffer, "key", "a key no other buffer has")
    owners: dict[str, Owner] = {}
    for i, (key, b) in enumerate(zip(buffers, r.list(d.get("buffers"), "buffers"))):
        o = r.owner(b.get("owner"), f"buffers[{i}].owner")
        if o is not None:
            owners[key] = o
    processes: dict[int, Process] = r.unique(d.get("processes"), "processes", r.process, "pid",
                                             "a pid no other process has")
    sources = {}
    for k, v in r.obj(d.get("sources"), "sources").items():
        v = r.obj(v, f"sources[{k!r}]", none=False)
        sources[k] = SourceStatus(r.text(v.get("status", ""), f"sources[{k!r}].status"),
                                  r.text(v.get("detail", ""), f"sources[{k!r}].detail"))
    problems = []
    for i, p in enumerate(r.list(d.get("problems"), "problems")):
        w = f"problems[{i}]"
        p = r.obj(p, w, none=False)
        problems.append(Problem(r.text(p.get("source", ""), w + ".source"), r.text(p.get("message", ""), w + ".message"),
                                r.int(p.get("line"), w + ".line", None, True), r.text(p.get("text"), w + ".text", True),
                                r.text(p.get("path"), w + ".path", True)))
    t = d.get("time", 0.0)
    if type(t) not in (int, float):
        r.fail("time", "a number", t)
    return Snapshot(time=float(t), device=device, buffers=buffers, processes=processes, sources=sources,
                    problems=tuple(problems), reported=r.ints(d.get("reported"), "reported"),
                    origin=r.text(d.get("origin", ""), "origin"),
                    owners=owners if len(owners) == len(buffers) else {})


def _show(v: Any) -> str:
    """A value in an error message: short, escaped, and never a deep structure's repr."""
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


class _Reader:
    """The checks of from_dict; each names the field as `buffers[3].holders["12"].fds[0]`."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, field: str, want: str, v: Any):
        raise SchemaError(f"{self.where}: {field} must be {want}, not {_show(v)}")

    def obj(self, v: Any, field: str, none: bool = True) -> dict:
        if v is None and none:
            return {}
        if type(v) is not dict:
            self.fail(field, "an object", v)
        return v

    def unique(self, v: Any, field: str, read, key: str, want: str) -> dict:
        """read(item, "FIELD[i]") of every item of the list `v`, by the attribute `key`, which no
        two of them may share (`want` says so when two do)."""
        out: dict = {}
        for i, item in enumerate(self.list(v, field)):
            x = read(item, f"{field}[{i}]")
            k = getattr(x, key)
            if k in out:
                self.fail(f"{field}[{i}].{key}", want, k)
            out[k] = x
        return out

    def list(self, v: Any, field: str) -> list:
        if v is None:
            return []
        if type(v) is not list:
            self.fail(field, "a list", v)
        return v

    def text(self, v: Any, field: str, none: bool = False) -> str | None:
        if type(v) is str or (v is None and none):
            return v
        self.fail(field, "a string or null" if none else "a string", v)

    def int(self, v: Any, field: str, minimum: int | None = 0, none: bool = False) -> int | None:
        if type(v) is int:              # not bool: true is not a size
            if minimum is None or v >= minimum:
                return v
        elif v is None and none:
            return None
        kind = "an integer" if minimum is None else f"an integer >= {minimum}"
        self.fail(field, kind + " or null" if none else kind, v)

    def bool(self, v: Any, field: str, none: bool = False) -> bool | None:
        if type(v) is bool or (v is None and none):
            return v
        self.fail(field, "true or false" + (" or null" if none else ""), v)

    def texts(self, v: Any, field: str) -> tuple[str, ...]:
        v = self.list(v, field)
        for i, x in enumerate(v):
            if type(x) is not str:
                self.fail(f"{field}[{i}]", "a string", x)
        return tuple(v)

    def ints(self, v: Any, field: str) -> dict[str, int]:
        v = self.obj(v, field)
        for k, x in v.items():
            if type(x) is not int:
                self.fail(f"{field}[{k!r}]", "an integer", x)
        return dict(v)

    def buffer(self, b: Any, w: str) -> Buffer:
        try:
            return fast_buffer(b)
        except Slow:                   # something is wrong (or unusual): the checks below say what
            return self.checked_buffer(b, w)

    def checked_buffer(self, b: Any, w: str) -> Buffer:
        b = self.obj(b, w, none=False)
        if "key" not in b or "size" not in b:
            raise SchemaError(f"{self.where}: {w} has no {'key' if 'key' not in b else 'size'}")
        holders = {}
        for pid, h in self.obj(b.get("holders"), w + ".holders").items():
            hw = f"{w}.holders[{pid!r}]"
            if not (pid.isascii() and pid.isdigit()):
                self.fail(f"{w}.holders", "keyed by pids (digits)", pid)
            holders[int(pid)] = self.holding(h, hw)
        prov = self.obj(b.get("provenance"), w + ".provenance")
        for k, v in prov.items():
            self.text(v, f"{w}.provenance[{k!r}]")
        return Buffer(key=self.text(b["key"], w + ".key"), size=self.int(b["size"], w + ".size"),
                      inode=self.int(b.get("inode"), w + ".inode", 0, True),
                      exporter=self.text(b.get("exporter"), w + ".exporter", True),
                      name=self.text(b.get("name"), w + ".name", True),
                      count=self.int(b.get("count"), w + ".count", 0, True),
                      attached=self.texts(b.get("attached"), w + ".attached"), holders=holders,
                      tag=self.text(b.get("tag", "other"), w + ".tag"),
                      tag_rule=self.text(b.get("tag_rule", ""), w + ".tag_rule"),
                      sources=self.texts(b.get("sources"), w + ".sources"), provenance=dict(prov),
                      holders_known=self.bool(b.get("holders_known", True), w + ".holders_known"))

    def owner(self, o: Any, w: str) -> Owner | None:
        try:
            return fast_owner(o)
        except Slow:
            return self.checked_owner(o, w)

    def checked_owner(self, o: Any, w: str) -> Owner | None:
        if o is None:
            return None          # written before owners existed: owners_of() infers them
        o = self.obj(o, w, none=False)
        rule = self.text(o.get("rule"), w + ".rule")
        if rule not in OWNER_RULES:
            self.fail(w + ".rule", "one of " + ", ".join(OWNER_RULES), rule)
        return Owner(self.int(o.get("pid"), w + ".pid", 0, True), self.text(o.get("package"), w + ".package", True),
                     self.text(o.get("name", ""), w + ".name"), rule, self.text(o.get("evidence", ""), w + ".evidence"))

    def holding(self, h: Any, w: str) -> Holding:
        h = self.obj(h, w, none=False)
        fds = self.list(h.get("fds"), w + ".fds")
        for i, x in enumerate(fds):
            if type(x) is not int or x < 0:
                self.fail(f"{w}.fds[{i}]", "an integer >= 0", x)
        maps = []
        for i, m in enumerate(self.list(h.get("maps"), w + ".maps")):
            mw = f"{w}.maps[{i}]"
            m = self.obj(m, mw, none=False)
            start = self.int(m.get("start"), mw + ".start")
            end = self.int(m.get("end"), mw + ".end", start)
            maps.append(MapRef(start, end,
                               self.int(m.get("offset", 0), mw + ".offset"),
                               self.text(m.get("perms", ""), mw + ".perms"),
                               self.int(m.get("rss"), mw + ".rss", 0, True), self.int(m.get("pss"), mw + ".pss", 0, True)))
        by = h.get("by")
        if by is not None and by not in HOLDING_KINDS:
            self.fail(w + ".by", "one of " + ", ".join(HOLDING_KINDS) + " (or absent)", by)
        return Holding(tuple(fds), tuple(maps), by)

    def process(self, p: Any, w: str) -> Process:
        p = self.obj(p, w, none=False)
        if "pid" not in p:
            raise SchemaError(f"{self.where}: {w} has no pid")
        return Process(pid=self.int(p["pid"], w + ".pid"), name=self.text(p.get("name", ""), w + ".name"),
                       cmdline=self.texts(p.get("cmdline"), w + ".cmdline"),
                       uid=self.int(p.get("uid"), w + ".uid", 0, True),
                       ppid=self.int(p.get("ppid"), w + ".ppid", 0, True),
                       oom_score_adj=self.int(p.get("oom_score_adj"), w + ".oom_score_adj", None, True),
                       fds_readable=self.bool(p.get("fds_readable"), w + ".fds_readable", True),
                       maps_readable=self.bool(p.get("maps_readable"), w + ".maps_readable", True),
                       reported=self.ints(p.get("reported"), w + ".reported"),
                       read_as=self.text(p.get("read_as"), w + ".read_as", none=True))

