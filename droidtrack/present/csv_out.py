"""CSV of a recording (`droidtrack export REC --csv FILE`): one row per sample and thing measured.

Long ("tidy") layout, so any number of processes and tags fits one header; pivot it in a
spreadsheet or pandas:

    sample,time,kind,key,pid,bytes,pss,buffers
    0,1700000000.000,total,total,,29360128,,12
    0,1700000000.000,tag,camera,,13631488,,6
    0,1700000000.000,exporter,system,,28311552,,11
    0,1700000000.000,process,com.example.camera,1234,14680064,10485760,6
    0,1700000000.000,kernel_only,kernel_only,,3145728,,1
    0,1700000000.000,owner,com.example.camera,1234,14680064,,6

kind: total | kernel_only | fd_only | tag | exporter | process | owner. `bytes` is unique bytes (RSS
for a process; for an owner the bytes charged to it, docs/owners.md: each held buffer's bytes are in
exactly one owner's row), `pss` only for processes, `buffers` the count; an owner's `pid` is the
process charged when it is one (empty for several, or for an owner that exited). Keys are device strings: the csv module
quotes them, control characters are escaped so a name cannot break a line, and a key a spreadsheet
would read as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'` (`cell`).
"""
from __future__ import annotations

import csv
import io
from typing import Iterable, TextIO

from droidtrack.model.account import account, owner_groups
from droidtrack.model import Snapshot
from droidtrack.present.text import safe

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(s: object) -> str:
    """A device string as a CSV cell: escaped by safe(), and never a spreadsheet formula."""
    raw = s if isinstance(s, str) else str(s)
    s = safe(raw)
    return "'" + s if raw.startswith(_FORMULA_START) or s.startswith(_FORMULA_START) else s


HEADER = ("sample", "time", "kind", "key", "pid", "bytes", "pss", "buffers")


def rows(index: int, snap: Snapshot) -> Iterable[tuple]:
    acc = account(snap)
    t = acc.totals
    ts = f"{snap.time:.3f}"
    yield (index, ts, "total", "total", "", t.bytes, "", t.buffers)
    yield (index, ts, "kernel_only", "kernel_only", "", t.kernel_only, "", len(t.kernel_only_buffers))
    yield (index, ts, "fd_only", "fd_only", "", t.fd_only, "", "")
    for k in sorted(t.by_tag):
        yield (index, ts, "tag", cell(k), "", t.by_tag[k], "", t.buffers_by_tag.get(k, 0))
    for k in sorted(t.by_exporter):
        yield (index, ts, "exporter", cell(k), "", t.by_exporter[k], "", "")
    for pid in sorted(acc.processes):
        pa = acc.processes[pid]
        p = snap.processes.get(pid)
        yield (index, ts, "process", cell(p.label if p else f"pid {pid}"), pid, pa.rss, pa.pss, pa.buffers)
    for name, g in sorted(owner_groups(snap).items()):
        yield (index, ts, "owner", cell(name), g.pids[0] if len(g.pids) == 1 and not g.gone else "",
               g.bytes, "", g.buffers)


def write(snaps: Iterable[Snapshot], out: TextIO) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    n = 0
    for i, s in enumerate(snaps):
        w.writerows(rows(i, s))
        n += 1
    return n


def dumps(snaps: Iterable[Snapshot]) -> str:
    buf = io.StringIO()
    write(snaps, buf)
    return buf.getvalue()
