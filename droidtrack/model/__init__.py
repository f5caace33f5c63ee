"""One model of a device's shared buffers: what `build` produces and everything else presents.

A `Snapshot` holds buffers (identity by inode where the kernel gives one), processes (thread ids
already folded into their tgid) and, on each buffer, who holds it and how: by fd, by mapping, or
both. Numbers derived from it (RSS, PSS, fd-only, totals per tag) live in `account.py`.
All sizes are integer bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from droidtrack.model.problems import Problem

import re

# "com.foo.bar", "com.android.chrome:sandboxed_process0:org.chromium...": dotted, no '@' or '/'
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+(:.*)?$", re.DOTALL)

SCHEMA = "droidtrack.snapshot/1"


@dataclass(frozen=True, slots=True)
class MapRef:
    """One VMA of a dma-buf in a process (a buffer may be mapped several times, or in part)."""
    start: int
    end: int
    offset: int = 0
    perms: str = ""
    rss: int | None = None   # bytes smaps counts in Rss for this VMA (None: smaps not read)
    pss: int | None = None

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Holding:
    """How one process holds one buffer.

    `fds` are fd numbers and `maps` the VMAs, as read from /proc. Sources that only say *that* a
    process holds a buffer (dmabuf_dump, ION clients) set `by` instead: "fd", "map", "fd+map", or
    "unknown" (then the bytes count in RSS/PSS but in neither fd-only nor mapped).
    """
    fds: tuple[int, ...] = ()
    maps: tuple[MapRef, ...] = ()
    by: str | None = None

    @property
    def by_fd(self) -> bool:
        return bool(self.fds) if self.by is None else "fd" in self.by

    @property
    def by_map(self) -> bool:
        return bool(self.maps) if self.by is None else "map" in self.by

    @property
    def known(self) -> bool:
        return self.by != "unknown"


@dataclass(frozen=True, slots=True)
class Buffer:
    key: str                       # stable identity within a snapshot: "ino:42", "bufinfo:3", ...
    size: int
    inode: int | None = None
    exporter: str | None = None
    name: str | None = None
    count: int | None = None       # the kernel's file refcount (fds + maps + kernel refs)
    attached: tuple[str, ...] = ()  # devices attached (bufinfo)
    holders: dict[int, Holding] = field(default_factory=dict)  # pid -> holding
    tag: str = "other"
    tag_rule: str = ""             # which rule gave the tag, human-readable
    sources: tuple[str, ...] = ()  # which sources saw this buffer
    provenance: dict[str, str] = field(default_factory=dict)  # field -> source that set it
    # False when some process's fds or maps could not be read (or the kernel gives no identity to
    # join on): an unheld buffer is then "unattributed", not "kernel-only"
    holders_known: bool = True

    @property
    def held(self) -> bool:
        return bool(self.holders)


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    name: str = ""                 # comm (status Name:), at most 15 chars on Linux
    cmdline: tuple[str, ...] = ()
    uid: int | None = None
    ppid: int | None = None
    oom_score_adj: int | None = None
    # whether droidtrack could read this process's fds / maps (None: not attempted)
    fds_readable: bool | None = None
    maps_readable: bool | None = None
    # per-process numbers the kernel or vendor report themselves (bytes):
    # "dmabuf_rss", "dmabuf_pss", "dmabuf_rss_hwm", "kgsl_*", "mali", "memtrack", "ion_client", ...
    reported: dict[str, int] = field(default_factory=dict)
    # who read its fds and maps when not the collector itself: "run-as <package>" (user builds)
    read_as: str | None = None

    @property
    def package(self) -> str | None:
        """The Android package: app processes' argv[0] is the package (":service" suffix dropped).
        Native daemons also have dotted names ("media.codec", "android.hardware.camera.provider@2.7-
        service"), so the name must look like a Java package and, where the uid is known, the uid
        must be an app's (10000..19999 within its Android user)."""
        if not self.cmdline:
            return None
        a0 = self.cmdline[0]
        if not _PACKAGE.match(a0):
            return None
        if self.uid is not None and not (10000 <= self.uid % 100000 <= 19999 or 90000 <= self.uid % 100000):
            return None
        return a0.split(":", 1)[0]

    @property
    def label(self) -> str:
        if self.cmdline and self.cmdline[0]:
            return self.cmdline[0]
        return self.name or f"pid {self.pid}"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    status: str                    # ok | partial | denied | missing | not-mounted | error | skipped | truncated
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    serial: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    fingerprint: str | None = None
    release: str | None = None     # ro.build.version.release
    sdk: int | None = None
    kernel: str | None = None      # uname -r
    uid: int | None = None         # uid the collector ran as
    selinux_context: str | None = None

    @property
    def rooted(self) -> bool | None:
        return None if self.uid is None else self.uid == 0


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose a buffer is (model/owners.py decides; docs/owners.md): the process it was made for."""
    pid: int | None          # None: the owner is gone, or is the kernel, or is unknown
    package: str | None
    name: str                # what a person reads: the package, a process label, "kernel", "unknown"
    rule: str                # which rule decided (owners.RULES)
    evidence: str            # why, in words


@dataclass(frozen=True, slots=True)
class Snapshot:
    time: float                    # seconds since the epoch, host clock at collection
    device: DeviceInfo
    buffers: dict[str, Buffer]
    processes: dict[int, Process]
    sources: dict[str, SourceStatus]
    problems: tuple[Problem, ...] = ()
    # totals reported by the kernel or the framework, each in bytes, keyed by what said it:
    # "bufinfo.total", "sysfs.total", "ion.total_heaps", "ion.total_pools", "dma_heap.total_pools",
    # "dumpsys.dmabuf", "dumpsys.dmabuf_mapped", "dumpsys.gpu", "dmabuf_dump.total", ...
    reported: dict[str, int] = field(default_factory=dict)
    origin: str = ""               # where it came from: "adb:SERIAL", "root:DIR", "capture:FILE", ...
    # buffer key -> its owner (model/owners.py); empty for a snapshot built by hand or read from a
    # document that had none: owners.owners_of() then infers them
    owners: dict[str, Owner] = field(default_factory=dict)
