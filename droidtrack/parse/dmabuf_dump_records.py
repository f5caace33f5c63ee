"""The records every dmabuf_dump parser (parse/dmabuf_dump*.py) gives, whichever mode it read."""
from __future__ import annotations

from dataclasses import dataclass, field

from droidtrack.model.problems import ParseResult


@dataclass(frozen=True, slots=True)
class DumpBuffer:
    """One row of a process's table: the buffer as seen from that process."""
    pid: int
    comm: str
    name: str | None       # None for "<unknown>"
    rss: int               # bytes (the buffer's size, kB-truncated by the tool)
    pss: int               # bytes (size / number of holder processes, kB-truncated)
    nr_procs: int
    inode: int
    exporter: str | None = None   # Android 16+ only; None when absent or "<unknown>"


@dataclass(frozen=True, slots=True)
class DumpProcessTotal:
    pid: int
    comm: str
    rss: int
    pss: int | None        # None from the -a table, which only has per-process size sums


@dataclass(frozen=True, slots=True)
class DumpTotals:
    dmabuf_total: int | None = None
    kernel_rss: int | None = None
    userspace_rss: int | None = None     # Σ per-process RSS (shared buffers counted per process)
    userspace_pss: int | None = None
    userspace_unique: int | None = None  # -a "TOTALS": Σ sizes of unique buffers held by processes


@dataclass(frozen=True, slots=True)
class DumpBufferRefs:
    """One row of the -a table."""
    inode: int
    size: int
    fd_refs: dict[int, int] = field(default_factory=dict)   # pid -> fd refs
    map_refs: dict[int, int] = field(default_factory=dict)  # pid -> map refs
    total_refs: int | None = None   # 2019 "Ref Counts" column
    combined: bool = False          # 2019: fd_refs holds fd+map refs together, map_refs empty


@dataclass(frozen=True, slots=True)
class DumpSysfsBuffer:
    """One row of the -b per-buffer stats (from /sys/kernel/dmabuf/buffers)."""
    inode: int
    size: int               # bytes (this section prints bytes, not kB)
    exporter: str | None


@dataclass(frozen=True, slots=True)
class DumpExporterTotal:
    exporter: str
    count: int
    size: int               # bytes


@dataclass(frozen=True, slots=True)
class DumpSysfsTotal:
    count: int
    size: int               # bytes


DumpRecord = (DumpBuffer | DumpProcessTotal | DumpTotals | DumpBufferRefs | DumpSysfsBuffer
              | DumpExporterTotal | DumpSysfsTotal)


@dataclass
class DmabufDumpResult(ParseResult):
    mode: str = "default"            # "default" | "all" | "per-buffer" | "csv"
    not_found: bool = False          # the tool said "dmabuf info not found"


def name_of(s: str) -> str | None:
    """A name or exporter cell: None for "<unknown>" or nothing."""
    s = s.strip(" ")
    return None if s in ("", "<unknown>") else s
