"""A recording as a Perfetto / chrome://tracing trace (JSON trace-event format).

`droidtrack export REC --perfetto FILE` writes {"traceEvents": [...]} that ui.perfetto.dev opens:

  * one track group per device process: "M" process_name metadata (its label) and a counter
    "dma-buf" ("C" events) with two series, rss and pss, in bytes;
  * a synthetic process (pid 0, named "dma-buf totals <device>") with counters "total" (unique
    bytes, kernel-only, fd-only) and "by tag" (one series per tag).

Timestamps are microseconds since the first sample. A process that goes away gets a final 0 so its
counter does not hold the last value forever. Device strings go through json.dumps with
ensure_ascii, so no name can break the file.
"""
from __future__ import annotations

import json
from typing import Iterable, TextIO

from droidtrack.model.account import account
from droidtrack.model import Snapshot

TOTALS_PID = 0


def events(snaps: Iterable[Snapshot]) -> list[dict]:
    ev: list[dict] = []
    t0 = None
    named: dict[int, str] = {}
    live: set[int] = set()
    tags_seen: set[str] = set()
    device = ""
    for i, s in enumerate(snaps):
        if t0 is None:
            t0 = s.time
            device = s.device.serial or s.device.model or s.origin or "device"
            ev.append({"name": "process_name", "ph": "M", "pid": TOTALS_PID, "tid": 0,
                       "args": {"name": f"dma-buf totals {device}"}})
            ev.append({"name": "process_sort_index", "ph": "M", "pid": TOTALS_PID, "tid": 0,
                       "args": {"sort_index": -1}})
        ts = max(0, round((s.time - t0) * 1_000_000)) if s.time and t0 else i * 1_000_000
        acc = account(s)
        t = acc.totals
        ev.append({"name": "total", "ph": "C", "ts": ts, "pid": TOTALS_PID, "tid": 0,
                   "args": {"unique": t.bytes, "kernel_only": t.kernel_only, "fd_only": t.fd_only}})
        tags_seen |= set(t.by_tag)
        ev.append({"name": "by tag", "ph": "C", "ts": ts, "pid": TOTALS_PID, "tid": 0,
                   "args": {k: t.by_tag.get(k, 0) for k in sorted(tags_seen)}})
        now = set()
        for pid, pa in sorted(acc.processes.items()):
            if pid == TOTALS_PID:
                continue
            p = s.processes.get(pid)
            label = p.label if p else f"pid {pid}"
            if named.get(pid) != label:
                named[pid] = label
                ev.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": label}})
            ev.append({"name": "dma-buf", "ph": "C", "ts": ts, "pid": pid, "tid": 0,
                       "args": {"rss": pa.rss, "pss": pa.pss}})
            now.add(pid)
        for pid in sorted(live - now):
            ev.append({"name": "dma-buf", "ph": "C", "ts": ts, "pid": pid, "tid": 0, "args": {"rss": 0, "pss": 0}})
        live = now
    return ev


def write(snaps: Iterable[Snapshot], out: TextIO) -> int:
    ev = events(snaps)
    json.dump({"traceEvents": ev, "displayTimeUnit": "ms",
               "otherData": {"producer": "droidtrack", "format": "droidtrack.trace/1"}},
              out, ensure_ascii=True, separators=(",", ":"))
    out.write("\n")
    return len(ev)
