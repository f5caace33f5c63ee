"""A recording as a Perfetto trace: Perfetto's protobuf format (`write_proto`, below) or the JSON
trace-event format (`write`) that chrome://tracing also opens.

`droidtrack export REC --perfetto FILE` writes {"traceEvents": [...]} that ui.perfetto.dev opens:

  * one track group per device process: "M" process_name metadata (its label) and a counter
    "dma-buf" ("C" events) with two series, rss and pss, in bytes;
  * a synthetic process (pid 0, named "dma-buf totals <device>") with counters "total" (unique
    bytes, kernel-only, fd-only), "by tag" (one series per tag) and "by owner" (one series per
    owner: the bytes charged to it, docs/owners.md).

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
    owners_seen: set[str] = set()
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
        owners_seen |= set(t.by_owner)
        ev.append({"name": "by owner", "ph": "C", "ts": ts, "pid": TOTALS_PID, "tid": 0,
                   "args": {k: t.by_owner.get(k, 0) for k in sorted(owners_seen)}})
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


# ---- Perfetto's protobuf trace (perfetto.trace_builder) ----------------------------------------
# The same recording as a native Perfetto trace, written one packet at a time by the `perfetto`
# package's StreamingTraceProtoBuilder (memory stays that of one sample):
#   * a process track "dma-buf totals <device>" (pid 0) with counter tracks total, kernel_only,
#     fd_only, unattributed, and one "tag <name>" per tag;
#   * per device process (its pid and label) counter tracks rss, pss and fd_only;
#   * under "dma-buf owners", one counter track per owner (docs/owners.md): the bytes charged to it
#     (an owner no longer seen gets a final 0, like a process that went away);
#   * under "dma-buf buffers", one slice track per buffer with a slice for its lifetime (from the
#     first sample it is seen in to the first sample it is not; still alive at the end: to the end).
# Counter values are bytes (UNIT_SIZE_BYTES); timestamps nanoseconds since the epoch (host clock).

TOTAL_KINDS = ("total", "kernel_only", "fd_only", "unattributed")


def write_proto(snaps: Iterable[Snapshot], out) -> int:
    """Write the protobuf trace to a binary file object; returns the number of packets."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import CounterDescriptor, TracePacket, TrackEvent
    from perfetto.trace_builder.proto_builder import StreamingTraceProtoBuilder

    builder = StreamingTraceProtoBuilder(out)
    seq = 0x64747231
    n = 0
    uuids: dict[tuple, int] = {}
    first = True

    def packet() -> TracePacket:
        nonlocal first
        p = builder.create_packet()
        p.trusted_packet_sequence_id = seq
        if first:
            p.sequence_flags = TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
            first = False
        return p

    def emit(p: TracePacket) -> None:
        nonlocal n
        builder.write_packet(p)
        n += 1

    def track(key: tuple, name: str, *, parent: int | None = None, pid: int | None = None,
              process_name: str | None = None, counter: bool = False) -> int:
        u = uuids.get(key)
        if u is not None:
            return u
        u = uuids[key] = len(uuids) + 1
        p = packet()
        d = p.track_descriptor
        d.uuid = u
        if pid is not None:
            d.process.pid = pid
            d.process.process_name = process_name or name
        else:
            d.name = name
        if parent is not None:
            d.parent_uuid = parent
        if counter:
            d.counter.unit = CounterDescriptor.UNIT_SIZE_BYTES
        emit(p)
        return u

    def value(ts: int, u: int, v: int) -> None:
        p = packet()
        p.timestamp = ts
        p.track_event.type = TrackEvent.TYPE_COUNTER
        p.track_event.track_uuid = u
        p.track_event.counter_value = int(v)
        emit(p)

    def slice_edge(ts: int, u: int, begin: bool, name: str = "") -> None:
        p = packet()
        p.timestamp = ts
        p.track_event.type = TrackEvent.TYPE_SLICE_BEGIN if begin else TrackEvent.TYPE_SLICE_END
        p.track_event.track_uuid = u
        if begin:
            p.track_event.name = name
        emit(p)

    totals = bufs_root = owners_root = None
    live_owners: set[str] = set()
    alive: dict[str, int] = {}            # buffer key -> its slice track, while its slice is open
    live_pids: set[int] = set()
    ts = 0
    for s in snaps:
        ts = max(ts, int(round(s.time * 1e9)))
        acc = account(s)
        t = acc.totals
        if totals is None:
            device = s.device.serial or s.device.model or s.origin or "device"
            totals = track(("totals",), f"dma-buf totals {device}", pid=TOTALS_PID,
                           process_name=f"dma-buf totals {device}")
            bufs_root = track(("buffers",), "dma-buf buffers", parent=totals)
            owners_root = track(("owners",), "dma-buf owners", parent=totals)
        for kind, v in zip(TOTAL_KINDS, (t.bytes, t.kernel_only, t.fd_only, t.unattributed)):
            value(ts, track(("total", kind), kind, parent=totals, counter=True), v)
        for tag, v in sorted(t.by_tag.items()):
            value(ts, track(("tag", tag), f"tag {tag}", parent=totals, counter=True), v)
        for name, v in sorted(t.by_owner.items()):
            value(ts, track(("owner", name), name, parent=owners_root, counter=True), v)
        for name in sorted(live_owners - t.by_owner.keys()):
            value(ts, uuids[("owner", name)], 0)
        live_owners = set(t.by_owner)
        now = set()
        for pid, pa in sorted(acc.processes.items()):
            p = s.processes.get(pid)
            label = p.label if p else f"pid {pid}"
            proc = track(("proc", pid, label), label, pid=pid, process_name=label)
            for m in ("rss", "pss", "fd_only"):
                value(ts, track(("proc", pid, label, m), m, parent=proc, counter=True), getattr(pa, m))
            now.add((pid, label))
        for key in sorted(live_pids - now):
            for m in ("rss", "pss", "fd_only"):
                value(ts, uuids[("proc", *key, m)], 0)
        live_pids = now
        for key in [k for k in alive if k not in s.buffers]:
            slice_edge(ts, alive.pop(key), False)
        for key, b in s.buffers.items():
            if key not in alive:
                u = alive[key] = track(("buf", key, len(uuids)), f"{key} {b.name or b.exporter or ''}".strip(),
                                       parent=bufs_root)
                slice_edge(ts, u, True, f"{b.name or '?'} ({b.size} B, {b.exporter or '?'}, {b.tag})")
    for u in alive.values():
        slice_edge(ts, u, False)
    return n
