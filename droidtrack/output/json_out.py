"""The versioned JSON snapshot (`droidtrack.snapshot/1`), an interface others build on.

Documented in README.md ("JSON schema"); pinned by tests/test_json_schema.py. Add fields freely;
never rename or remove one without a new schema version.
"""
from __future__ import annotations

import json
from typing import Any

from droidtrack import __version__
from droidtrack.account import Accounting, account
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


def to_dict(snap: Snapshot, acc: Accounting | None = None, *, all_processes: bool = False) -> dict[str, Any]:
    """The snapshot as the JSON schema describes it. Processes without buffers are left out unless
    all_processes (they are still counted in `device_processes`)."""
    acc = acc or account(snap)
    t = acc.totals
    procs = [p for p in snap.processes.values() if all_processes or p.pid in acc.processes
             or p.reported]
    procs.sort(key=lambda p: (-(acc.processes[p.pid].pss if p.pid in acc.processes else 0), p.pid))
    d = {
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
        "buffers": [_buffer(b) for b in sorted(snap.buffers.values(), key=lambda b: (-b.size, b.key))],
        "processes": [_process(p, acc) for p in procs],
        "sources": {k: {"status": v.status, "detail": v.detail} for k, v in sorted(snap.sources.items())},
        "problems": [p.to_json() for p in snap.problems],
    }
    return d


def dumps(snap: Snapshot, acc: Accounting | None = None, **kw) -> str:
    # ensure_ascii keeps every device-controlled byte (ESC, NUL, newlines) escaped in the text
    return json.dumps(to_dict(snap, acc, **kw), indent=2, ensure_ascii=True) + "\n"
