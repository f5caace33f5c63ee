"""Leak suspects from real lifetimes: where a recording has the kernel's dma_buf events
(`record --trace`, Linux 7.0+), a buffer that appeared is known by its export event: who exported
it (the allocating process) and in which interval, not inferred from the samples around it.

`exported` suspects: buffers exported during the recording and alive (same inode and size) in
its last sample, none seen freed; grouped by the exporting process and the exporter. Confidence
is the fraction of sample intervals in which the group exported a buffer it kept to the end (the
persistent suspects' measure). They replace the `persistent` suspects they cover: a persistent
group whose every buffer has an export event is the same finding told with less. The kernel has no
event for a buffer's release (dma_buf_put is a driver's reference drop, not the end), so "never
freed" is the last sample's word, as for persistent suspects.
"""
from __future__ import annotations

from droidtrack.model import Snapshot
from droidtrack.model.lifetimes import Lifetimes
from droidtrack.model.owners import owners_of
from droidtrack.model.units import human_size


def with_lifetimes(suspects: list, snaps: list[Snapshot], lt: Lifetimes, suspect_type) -> list:
    n = len(snaps)
    last = {b.inode: b for b in snaps[-1].buffers.values() if b.inode is not None}
    groups: dict[tuple, list] = {}
    for ino, life in lt.buffers.items():
        ex = life.exported
        b = last.get(ino)
        if ex is None or b is None or (life.size is not None and b.size != life.size):
            continue
        p = ex["tgid"] if ex["tgid"] is not None else ex["pid"]
        comm = lt.processes[p].comm if p in lt.processes else ex["comm"]
        groups.setdefault((comm, p, life.exporter or b.exporter or "<unknown>"), []).append((ex, b, life))
    owners = owners_of(snaps[-1])
    covered = {b.key for items in groups.values() for _, b, _ in items}
    out = [s for s in suspects if not (s.kind == "persistent" and s.buffers and set(s.buffers) <= covered)]
    for (comm, pid, exporter), items in groups.items():
        samples = {ex.get("sample") for ex, _, _ in items}
        intervals = {s for s in samples if isinstance(s, int) and s > 0}
        conf = len(intervals) / (n - 1) if n > 1 else 0.0
        total = sum(b.size for _, b, _ in items)
        fd_procs = sorted({q for _, _, life in items for q in life.fds})
        gone = lt.processes.get(pid) is not None and lt.processes[pid].exited is not None
        first_ts = min(ex["ts"] for ex, _, _ in items)
        by_owner: dict[str, int] = {}
        for _, b, _ in items:
            o = owners.get(b.key)
            if o is not None:
                by_owner[o.name] = by_owner.get(o.name, 0) + b.size
        owner = min(by_owner.items(), key=lambda kv: (-kv[1], kv[0]))[0] if by_owner else None
        out.append(suspect_type(
            "exported", f"{len(items)} buffer(s) from {exporter} exported by {comm}[{pid}]", total, round(conf, 3),
            f"exported during the recording (dma_buf_export events, the first at trace time {first_ts:.3f} s) "
            f"and alive in the last sample, none seen freed: {human_size(total)}; fds installed in "
            f"{len(fd_procs)} process(es)" + ("; the exporting process has exited" if gone else ""),
            first_sample=min((s for s in samples if isinstance(s, int)), default=None),
            buffers=tuple(sorted(b.key for _, b, _ in items)), owner=owner))
    out.sort(key=lambda s: (-s.confidence, -s.bytes, s.kind, s.subject))
    return out
