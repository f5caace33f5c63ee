"""The pieces a synthetic device is made of: processes, dma-bufs and mappings (see synth.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

PAGE = 4096
ANON_INODE = 8297          # the one anon inode every pre-5.3 dma-buf shares (maps column)


@dataclass
class Mapping:
    start: int
    end: int
    offset: int
    rss: int
    perms: str = "rw-s"

    def to_json(self, pss: int) -> dict:
        return {"start": self.start, "end": self.end, "offset": self.offset,
                "length": self.end - self.start, "rss": self.rss, "pss": pss, "perms": self.perms}


@dataclass
class SynthBuffer:
    """A dma-buf. `inode` is its identity here even where the kernel does not print it (4.9)."""
    inode: int
    size: int
    exporter: str
    name: str | None = None
    kernel_refs: int = 0
    attached: tuple[str, ...] = ()
    fences: tuple[tuple[str, str, str, int, bool], ...] = ()  # (usage, driver, timeline, seq, signalled)
    heap: str = "system"           # ION heap (ION debugfs)
    allocator: int | None = None   # pid of the ION client that allocated it (ION debugfs)
    memtrack_id: int = 0
    seq: int = 0                   # creation order (bufinfo lists newest first)

    def __hash__(self) -> int:
        return hash(self.inode)


@dataclass
class SynthProcess:
    pid: int
    name: str
    cmdline: tuple[str, ...] = ()
    uid: int = 0
    ppid: int = 1
    oom_score_adj: int = 0
    kernel_thread: bool = False
    fds: dict[int, object] = field(default_factory=dict)      # fd -> SynthBuffer | link target str
    maps: list[tuple[SynthBuffer, Mapping]] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)
    gpu: dict[str, int] = field(default_factory=dict)
    base: bool = False             # created by the tree itself (may be replaced by add_process)
    _next_fd: int = 0
    _next_vma: int = 0
