"""Per-buffer lifetimes from the kernel's dma_buf events (parse/dmabuf_trace.py).

What each event means (drivers/dma-buf/dma-buf.c, Linux 7.0+), in the process it happened in:

  export           the buffer was made (dma_buf_export): the exporter (heap, udmabuf, a DRM or
                   camera driver) and the process whose call made it: its allocator
  fd               dma_buf_fd installed an fd for it in that process (an allocation ioctl's result,
                   PRIME export); fds received by SCM_RIGHTS or binder, dup() and fork() do not go
                   through dma_buf_fd and have no event
  get / put        a driver took a reference from an fd (dma_buf_get: an import, e.g. PRIME
                   fd->handle) / dropped one (dma_buf_put)
  mmap_internal    a process mapped the buffer through its fd (mmap(2) on the dma-buf)
  mmap             a driver mapped it into a process on its behalf (dma_buf_mmap)
  dynamic_attach / detach   a device attached to / detached from it (dev_name), one attachment each
  exit             sched_process_exit: with group_dead (or the thread group leader's own exit) the
                   process is gone, and with it every fd and mapping it had

No event says an fd was closed or a buffer freed (the kernel has no tracepoint there): a lifetime
says what happened, and a buffer's being alive is known only from a snapshot (`alive_in`).
Events of a buffer seen before its export (the trace started after it was made) are kept; the
lifetime then has no `exported`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from droidtrack.parse.dmabuf_trace import TraceEvent


@dataclass
class Life:
    ino: int
    size: int | None = None
    exporter: str | None = None
    exported: dict | None = None                          # {ts, pid, tgid, comm}
    fds: dict[int, list[int]] = field(default_factory=dict)      # process -> fds installed
    maps: dict[int, int] = field(default_factory=dict)           # process -> mmap(2) calls
    driver_maps: dict[int, int] = field(default_factory=dict)    # process -> dma_buf_mmap calls
    gets: dict[int, list[int]] = field(default_factory=dict)     # process -> fds a driver imported
    puts: dict[int, int] = field(default_factory=dict)           # process -> references dropped
    attached: dict[str, str] = field(default_factory=dict)       # live attachment -> device
    attachments: list[dict] = field(default_factory=list)        # {ts, op, dev, dynamic}
    first: float | None = None
    last: float | None = None
    events: int = 0
    conflicts: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        def keyed(d: dict) -> dict:
            return {str(k): v for k, v in sorted(d.items())}
        return {"ino": self.ino, "size": self.size, "exporter": self.exporter, "exported": self.exported,
                "fds": keyed(self.fds), "maps": keyed(self.maps), "driver_maps": keyed(self.driver_maps),
                "gets": keyed(self.gets), "puts": keyed(self.puts),
                "attached": sorted(self.attached.values()), "attachments": self.attachments,
                "first": self.first, "last": self.last, "events": self.events,
                **({"conflicts": self.conflicts} if self.conflicts else {})}


@dataclass
class Proc:
    pid: int
    comm: str
    exited: float | None = None

    def to_json(self) -> dict:
        return {"pid": self.pid, "comm": self.comm, "exited": self.exited}


class Lifetimes:
    """Folds events, in the order they arrive, into one Life per buffer inode."""

    def __init__(self) -> None:
        self.buffers: dict[int, Life] = {}
        self.processes: dict[int, Proc] = {}
        self.events = 0
        self.sample: int | None = None     # a recording's sample the next events belong to (exported["sample"])

    def apply(self, ev: TraceEvent) -> Life | None:
        self.events += 1
        p = ev.process
        kind = ev.kind
        if kind == "exit":
            gone = ev.group_dead if ev.group_dead is not None else (ev.tgid is None or ev.pid == ev.tgid)
            if gone and p in self.processes:
                self.processes[p].exited = ev.ts
            return None
        pr = self.processes.get(p)
        if pr is None:
            self.processes[p] = Proc(p, ev.comm)
        elif ev.pid == p and ev.comm != pr.comm and ev.comm != "<...>":
            pr.comm = ev.comm                 # the leader's newest name (prctl, exec)
        ino = ev.ino
        life = self.buffers.get(ino)
        if life is None:
            life = self.buffers[ino] = Life(ino, ev.size, ev.exporter, first=ev.ts)
        elif kind == "export" and life.exported is not None:
            # inode numbers are reused only after the old buffer is gone: a new buffer
            life = self.buffers[ino] = Life(ino, ev.size, ev.exporter, first=ev.ts)
        else:
            if ev.size != life.size or ev.exporter != life.exporter:
                life.conflicts.append(f"{kind} at {ev.ts:.6f} says size {ev.size} exporter {ev.exporter!r}")
        life.last = ev.ts
        life.events += 1
        if kind == "export":
            life.exported = {"ts": ev.ts, "pid": ev.pid, "tgid": ev.tgid, "comm": ev.comm}
            if self.sample is not None:
                life.exported["sample"] = self.sample
        elif kind == "fd":
            life.fds.setdefault(p, []).append(ev.fd)
        elif kind == "mmap_internal":
            life.maps[p] = life.maps.get(p, 0) + 1
        elif kind == "mmap":
            life.driver_maps[p] = life.driver_maps.get(p, 0) + 1
        elif kind == "get":
            life.gets.setdefault(p, []).append(ev.fd)
        elif kind == "put":
            life.puts[p] = life.puts.get(p, 0) + 1
        elif kind == "dynamic_attach":
            life.attached[ev.attachment or ""] = ev.dev or ""
            life.attachments.append({"ts": ev.ts, "op": "attach", "dev": ev.dev, "dynamic": ev.dynamic})
        elif kind == "detach":
            key = ev.attachment or ""
            if key not in life.attached or key.startswith("("):   # "(____ptrval____)": match the device
                key = next((k for k, d in life.attached.items() if d == ev.dev), key)
            life.attached.pop(key, None)
            life.attachments.append({"ts": ev.ts, "op": "detach", "dev": ev.dev, "dynamic": ev.dynamic})
        return life

    def exported_by(self, ino: int) -> Proc | None:
        life = self.buffers.get(ino)
        if life is None or life.exported is None:
            return None
        p = life.exported["tgid"] if life.exported["tgid"] is not None else life.exported["pid"]
        return self.processes.get(p)

    def to_json(self) -> dict:
        return {"buffers": [self.buffers[k].to_json() for k in sorted(self.buffers)],
                "processes": {str(k): v.to_json() for k, v in sorted(self.processes.items())},
                "events": self.events}


def snapshot_changes(before, after) -> list[dict]:
    """Where the kernel has no dma_buf events: what changed between two Snapshots, per buffer
    ({change: new|gone|holders, key, inode, size, exporter, holders: {pid: comm}}), new first."""
    out: list[dict] = []

    def row(change: str, snap, b) -> dict:
        return {"change": change, "key": b.key, "inode": b.inode, "size": b.size, "exporter": b.exporter,
                "holders": {p: (snap.processes[p].name if p in snap.processes else "?") for p in sorted(b.holders)}}
    for key, b in after.buffers.items():
        old = before.buffers.get(key)
        if old is None:
            out.append(row("new", after, b))
        elif set(old.holders) != set(b.holders):
            out.append(row("holders", after, b))
    for key, b in before.buffers.items():
        if key not in after.buffers:
            out.append(row("gone", before, b))
    return out
