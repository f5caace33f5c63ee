"""The versioned JSON snapshot (`droidtrack.snapshot/1`), an interface others build on.

Documented in README.md ("JSON schema"); pinned by tests/test_json_schema.py. Add fields freely;
never rename or remove one without a new schema version.

`to_dict` is the document as Python objects; `dumps` is its text, exactly what
`json.dumps(to_dict(...), indent=2, ensure_ascii=True) + "\\n"` prints, written without building
the dict: json's indented encoder is its pure-Python one, which took 2 s for a device with 20,000
buffers. The buffers (most of the text) are written from the model with one template per
buffer, holder and mapping; the rest goes through `_encode`, json's indented rules written as one
recursive function. tests/test_json_out.py holds the two to the same bytes.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _esc
from typing import Any

from droidtrack import __version__
from droidtrack.model.account import Accounting, account
from droidtrack.model import SCHEMA, Buffer, Process, Snapshot


def _buffer(b: Buffer) -> dict[str, Any]:
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
    }


def _process(p: Process, acc: Accounting) -> dict[str, Any]:
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
        "reported": dict(p.reported),
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


def _parts(snap: Snapshot, acc: Accounting) -> tuple[dict[str, Any], dict[str, Any]]:
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
        },
        "reported": dict(sorted(snap.reported.items())),
        "reconciliation": [{"label": r.label, "bytes": r.bytes, "source": r.source, "note": r.note}
                           for r in acc.reconciliation],
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
    head, tail = _parts(snap, acc)
    return {
        **head,
        "buffers": [_buffer(b) for b in _sorted_buffers(snap)],
        "processes": [_process(p, acc) for p in _processes(snap, acc, all_processes)],
        **tail,
    }


def dumps(snap: Snapshot, acc: Accounting | None = None, *, all_processes: bool = False) -> str:
    """The document's text: json.dumps(to_dict(...), indent=2, ensure_ascii=True) + "\\n", byte for
    byte. ensure_ascii keeps every device-controlled byte (ESC, NUL, newlines) escaped in the text."""
    acc = acc or account(snap)
    head, tail = _parts(snap, acc)
    out = [_encode(head, "\n")[:-2]]                        # "{ ... <last head value>" without "\n}"
    out.append(',\n  "buffers": ')
    out.append(_buffers(_sorted_buffers(snap)))
    out.append(',\n  "processes": ')
    out.append(_objects([_process(p, acc) for p in _processes(snap, acc, all_processes)]))
    out.append(",")
    out.append(_encode(tail, "\n")[1:])                      # "\n  "sources": ...}" without "{"
    out.append("\n")
    return "".join(out)


# ---- json.dumps(indent=2, ensure_ascii=True), written out --------------------------------------
def _float(o: float) -> str:
    if o != o:
        return "NaN"
    if o == float("inf"):
        return "Infinity"
    if o == -float("inf"):
        return "-Infinity"
    return float.__repr__(o)


def _key(k) -> str:
    if isinstance(k, str):
        return _esc(k)
    if isinstance(k, float):
        return _esc(_float(k))
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, int):
        return _esc(int.__repr__(k))
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def _encode(o, nl: str) -> str:
    """`o` as json.dumps(o, indent=2, ensure_ascii=True) prints it when it starts on a line
    indented as `nl` ("\\n" + spaces) says: the same checks in the same order."""
    if isinstance(o, str):
        return _esc(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _float(o)
    if isinstance(o, (list, tuple)):
        if not o:
            return "[]"
        inner = nl + "  "
        return "[" + inner + ("," + inner).join([_encode(x, inner) for x in o]) + nl + "]"
    if isinstance(o, dict):
        if not o:
            return "{}"
        inner = nl + "  "
        return "{" + inner + ("," + inner).join([_key(k) + ": " + _encode(v, inner) for k, v in o.items()]) \
            + nl + "}"
    # anything else: json's own answer (a TypeError for what it cannot encode)
    return json.dumps(o, indent=2, ensure_ascii=True).replace("\n", nl)


def _scalar(o, nl: str) -> str:
    """A value that is nearly always an int, a str or None."""
    t = type(o)
    if t is int:
        return int.__repr__(o)
    if t is str:
        return _esc(o)
    if o is None:
        return "null"
    return _encode(o, nl)


# one buffer of the "buffers" list (its fields 6 spaces in), one holder (10) and one mapping (14)
_BUF = ('{\n      "key": %s,\n      "inode": %s,\n      "size": %s,\n      "exporter": %s,\n      "name": %s,'
        '\n      "count": %s,\n      "tag": %s,\n      "tag_rule": %s,\n      "attached": %s,\n      "holders": %s,'
        '\n      "sources": %s,\n      "provenance": %s,\n      "holders_known": %s\n    }')
_BUFD = _BUF.replace('"inode": %s', '"inode": %d').replace('"size": %s', '"size": %d').replace(
    '"count": %s', '"count": %d')
_MAP = ('{\n              "start": %s,\n              "end": %s,\n              "offset": %s,'
        '\n              "perms": %s,\n              "rss": %s,\n              "pss": %s\n            }')
_MAPD = _MAP.replace("%s", "%d").replace('"perms": %d', '"perms": %s')
_NL6 = "\n      "
_NL8 = "\n        "
_NL10 = "\n          "
_NL12 = "\n            "
_NL14 = "\n              "


class _Keys(dict):
    """dict key -> its JSON text and ": "."""

    def __missing__(self, k) -> str:
        s = _key(k) + ": "
        if type(k) is str:
            self[k] = s
        return s


def _objects(dicts: list[dict]) -> str:
    """A list of flat dicts (the processes) two levels in: _encode's text, with the common values
    (ints, strings, None) told apart by their exact type first."""
    if not dicts:
        return "[]"
    keys = _Keys()
    scalar = _scalar
    sep = "," + _NL6
    return "[\n    " + ",\n    ".join([
        "{" + _NL6 + sep.join([keys[k] + scalar(v, _NL6) for k, v in d.items()]) + "\n    }" if d else "{}"
        for d in dicts]) + "\n  ]"


class _Strings(dict):
    """str (or None) -> its JSON text, remembered: exporters, names, tags and rules repeat."""

    def __missing__(self, v) -> str:
        if type(v) is str:
            s = self[v] = _esc(v)
            return s
        return _scalar(v, _NL6)       # not remembered: True == 1 would share an entry


def _buffers(bufs: list[Buffer]) -> str:
    """The "buffers" list as json.dumps prints it two levels in."""
    if not bufs:
        return "[]"
    scalar = _scalar
    esc = _esc
    irepr = int.__repr__
    strings = _Strings()
    strings[None] = "null"
    tuples: dict[tuple, str] = {}       # a sources tuple -> JSON text
    dicts: dict[tuple, str] = {}        # provenance items -> JSON text
    holders_of = _holders
    memo: dict = {}
    pids: dict = {}
    out = []
    append = out.append
    for b in bufs:
        src = b.sources
        s = tuples.get(src) if type(src) is tuple else None
        if s is None:
            s = _encode(list(src), _NL6)
            if type(src) is tuple and all(type(x) is str for x in src):
                tuples[src] = s
        prov = b.provenance
        if type(prov) is dict:
            key = tuple(prov.items())
            p = dicts.get(key)
            if p is None:
                p = _encode(prov, _NL6)
                if all(type(k) is str and type(v) is str for k, v in key):
                    dicts[key] = p
        else:
            p = _encode(dict(prov), _NL6)
        k = b.key
        ino = b.inode
        size = b.size
        count = b.count
        known = b.holders_known
        att = b.attached
        holders = b.holders
        if type(ino) is type(size) is type(count) is int and type(k) is str:
            append(_BUFD % (
                esc(k), ino, size, strings[b.exporter], strings[b.name], count, strings[b.tag], strings[b.tag_rule],
                _encode(list(att), _NL6) if att else "[]",
                holders_of(holders, memo, pids) if holders else "{}",
                s, p,
                "true" if known is True else ("false" if known is False else _encode(known, _NL6))))
            continue
        append(_BUF % (
            esc(k) if type(k) is str else scalar(k, _NL6),
            irepr(ino) if type(ino) is int else scalar(ino, _NL6),
            irepr(size) if type(size) is int else scalar(size, _NL6),
            strings[b.exporter], strings[b.name],
            irepr(count) if type(count) is int else scalar(count, _NL6),
            strings[b.tag], strings[b.tag_rule],
            _encode(list(att), _NL6) if att else "[]",
            holders_of(holders, memo, pids) if holders else "{}",
            s, p,
            "true" if known is True else ("false" if known is False else _encode(known, _NL6))))
    return "[\n    " + ",\n    ".join(out) + "\n  ]"


def _holders(holders: dict, memo: dict, pids: dict) -> str:
    """A buffer's "holders" object (sorted by pid), three levels in. memo: fd tuple of a holding
    by fds only -> its JSON text; pids: pid -> its key's text (both only for exact ints)."""
    items = []
    append = items.append
    for pid in sorted(holders) if len(holders) > 1 else holders:
        h = holders[pid]
        fds = h.fds
        if not h.maps and h.by is None and type(pid) is int and type(fds) is tuple and fds \
                and type(fds[0]) is int:
            body = memo.get(fds)
            if body is None:
                if any(type(f) is not int for f in fds):
                    append(_holder(pid, h))
                    continue
                body = memo[fds] = '{\n          "fds": ' + _ints(fds) + ',\n          "maps": []\n        }'
            pk = pids.get(pid)
            if pk is None:
                pk = pids[pid] = '"' + int.__repr__(pid) + '": '
            append(pk + body)
        else:
            append(_holder(pid, h))
    return "{" + _NL8 + ("," + _NL8).join(items) + _NL6 + "}"


def _holder(pid, h) -> str:
    """One holder: '"<pid>": {...}', three levels in."""
    fds, maps, by = h.fds, h.maps, h.by
    if not fds:
        f = "[]" if type(fds) is tuple else _encode(list(fds), _NL10)
    elif type(fds) is tuple and all(type(x) is int for x in fds):
        f = _ints(fds)
    else:
        f = _encode(list(fds), _NL10)
    if maps:
        ms = []
        for m in maps:
            st, en, off, perms, rss, pss = m.start, m.end, m.offset, m.perms, m.rss, m.pss
            if type(st) is type(en) is type(off) is type(rss) is type(pss) is int and type(perms) is str:
                ms.append(_MAPD % (st, en, off, _esc(perms), rss, pss))
            else:
                ms.append(_MAP % (_scalar(st, _NL14), _scalar(en, _NL14), _scalar(off, _NL14),
                                  _scalar(perms, _NL14), _scalar(rss, _NL14), _scalar(pss, _NL14)))
        mt = ms[0] if len(ms) == 1 else ("," + _NL12).join(ms)
        mt = "[" + _NL12 + mt + _NL10 + "]"
    else:
        mt = "[]"
    if by is None:
        body = '{\n          "fds": ' + f + ',\n          "maps": ' + mt + "\n        }"
    else:
        body = '{\n          "fds": ' + f + ',\n          "maps": ' + mt + ',\n          "by": ' \
            + _encode(by, _NL10) + "\n        }"
    return ('"' + int.__repr__(pid) + '": ' if type(pid) is int else _esc(str(pid)) + ": ") + body


def _ints(fds: tuple) -> str:
    """A tuple of ints as the "fds" list, four levels in."""
    if not fds:
        return "[]"
    return "[" + _NL12 + ("," + _NL12).join(map(int.__repr__, fds)) + _NL10 + "]"
