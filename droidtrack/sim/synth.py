"""Build synthetic device-root trees: `proc/`, `sys/`, `dev/dma_heap`, `system/build.prop`.

A `DeviceTree` is a small in-memory model of a phone's processes and dma-bufs; `write(root)`
lays it out as files the way a given kernel generation prints them, and `truth()` says what the
tree contains, so tests can check the collector and the parsers against known answers.

    tree = DeviceTree(generation="a13-5.15")
    p = tree.add_process(1234, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    b = tree.add_buffer(8294400, exporter="system", name="gralloc")
    tree.hold_fd(1234, b)                   # -> fd number
    tree.hold_map(1234, b, rss=0)           # -> (start, end) of the VMA
    tree.deny(1234, "fd")                   # the shell user may not read its fd/fdinfo/maps
    tree.write(root); tree.truth()

Generations (docs: /work/shared/docs/formats.md):

  a9-4.9        Android 9, kernel 4.9: bufinfo 4.9 (no ino/name), ION debugfs heaps+clients, fd
                links and maps `anon_inode:dmabuf` (maps share one anon inode), fdinfo without
                dma-buf fields, no sysfs stats.
  a11-5.4       Android 11, ACK 5.4: bufinfo 5.3 format (ino, name; empty name leaves a trailing
                tab), fd links `/dmabuf:<name>`, fdinfo size/count/exp_name/name without `ino:`,
                ION sysfs totals.
  a13-5.15      Android 13, ACK 5.15: fdinfo with `ino:`, sysfs stats, bufinfo 5.3-5.18 format,
                dma-heap pool total, /dev/dma_heap/*.
  a15-6.6       Android 15, ACK 6.6: no debugfs (bufinfo 5.19+ format with `debugfs=True`),
                sysfs stats, fdinfo with ino, /proc/<pid>/dmabuf_rss, dmabuf_rss_hwm, dmabuf_pss.
  memtrack-rfc  a 4.9 kernel carrying the 2016 memtrack RFC: everything a9-4.9 has plus
                /proc/<pid>/memtrack (final 4/6 format, with VMA lines) and debugfs memtrack.

The `count` the kernel prints (bufinfo, fdinfo) is the file's reference count: every fd in every
process, every mapping, plus references the kernel keeps (`kernel_refs`, formats.md §14).

Extra files: GPU memory (`gpu="mali"`: debugfs mali0/gpu_memory with a tgid column; `gpu="kgsl"`:
/sys/class/kgsl/kgsl/proc/<pid>/*), set per process with `gpu_usage()`; canned command output
with `set_dumpsys(args, text)`, written to `<root>/dumpsys/<args with spaces as _>.txt` (for a
device double's `dumpsys` shim). Denied paths (`deny`, `deny_path`) are written to
`<root>/permissions.txt` as `MODE PATH` lines; git keeps no modes, so `apply_permissions(root)`
chmods a copy of the tree.
"""
from __future__ import annotations

import json
import os
import random
import stat
from dataclasses import dataclass, field
from pathlib import Path

PAGE = 4096
GENERATIONS = ("a9-4.9", "a11-5.4", "a13-5.15", "a15-6.6", "memtrack-rfc")

# per generation: what the kernel prints and which files exist
_GEN = {
    "a9-4.9": dict(
        kernel="4.9.186-perf+", release="9", sdk=28, bufinfo="4.9", links="anon", fdinfo="plain",
        ion_debugfs=True, ion_sysfs=False, sysfs_stats=False, dma_heap=False, dmabuf_rss=False,
        memtrack=False, debugfs=True, exporter="ion", flags="00000002", mode="00000007",
        smaps="4.9", binder="/dev/binder", heaps=()),
    "a11-5.4": dict(
        kernel="5.4.86-android11-2-00040-g29b2beadc627", release="11", sdk=30, bufinfo="5.3",
        links="dmabuf", fdinfo="noino", ion_debugfs=False, ion_sysfs=True, sysfs_stats=False,
        dma_heap=False, dmabuf_rss=False, memtrack=False, debugfs=True, exporter="ion",
        flags="00000002", mode="00000007", smaps="5", binder="/dev/binderfs/binder", heaps=()),
    "a13-5.15": dict(
        kernel="5.15.41-android13-8-00205-gf1bf82c3dacd-ab8747247", release="13", sdk=33,
        bufinfo="5.3", links="dmabuf", fdinfo="ino", ion_debugfs=False, ion_sysfs=False,
        sysfs_stats=True, dma_heap=True, dmabuf_rss=False, memtrack=False, debugfs=True,
        exporter="system", flags="00080002", mode="00080007", smaps="5",
        binder="/dev/binderfs/binder", heaps=("system", "system-uncached")),
    "a15-6.6": dict(
        kernel="6.6.30-android15-8-gdd8b3d7b2b0a-ab12188323", release="15", sdk=35,
        bufinfo="5.19", links="dmabuf", fdinfo="ino", ion_debugfs=False, ion_sysfs=False,
        sysfs_stats=True, dma_heap=True, dmabuf_rss=True, memtrack=False, debugfs=False,
        exporter="system", flags="00080002", mode="00080007", smaps="6",
        binder="/dev/binderfs/binder", heaps=("system", "system-uncached")),
    "memtrack-rfc": dict(
        kernel="4.9.0-memtrack-rfc", release="8.0.0", sdk=26, bufinfo="4.9", links="anon",
        fdinfo="plain", ion_debugfs=True, ion_sysfs=False, sysfs_stats=False, dma_heap=False,
        dmabuf_rss=False, memtrack=True, debugfs=True, exporter="ion", flags="00000002",
        mode="00000007", smaps="4.9", binder="/dev/binder", heaps=()),
}
ANON_INODE = 8297          # the one anon inode every pre-5.3 dma-buf shares (maps column)
_DENY_KINDS = {
    # what a process-level denial hides from the shell user (Android: ptrace-mode-read + SELinux)
    "fd": ("fd", "fdinfo", "maps", "smaps"),
    "fdinfo": ("fdinfo",),
    "maps": ("maps", "smaps"),
    "all": ("fd", "fdinfo", "maps", "smaps", "status", "cmdline"),
}
_DIR_ENTRIES = ("fd", "fdinfo")


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


class DeviceTree:
    def __init__(self, generation: str = "a13-5.15", props: dict[str, str] | None = None, *,
                 base: bool = True, shell_uid: int = 0, debugfs: bool | None = None,
                 heaps: tuple[str, ...] | None = None, gpu: str | None = None,
                 escape_names: bool = True, pool_bytes: int = 0, seed: int = 0) -> None:
        if generation not in _GEN:
            raise ValueError(f"unknown generation {generation!r}; one of {', '.join(GENERATIONS)}")
        self.generation = generation
        self.g = dict(_GEN[generation])
        if debugfs is not None:
            self.g["debugfs"] = debugfs
        self.props = {
            "ro.build.version.release": self.g["release"],
            "ro.build.version.sdk": str(self.g["sdk"]),
            "ro.product.manufacturer": "Droidtrack",
            "ro.product.model": f"Synth {generation}",
            "ro.product.device": "synth",
            "ro.build.fingerprint": f"droidtrack/synth/synth:{self.g['release']}/SYN.{self.g['sdk']}/1:userdebug/test-keys",
            "ro.build.type": "userdebug",
        }
        self.props.update(props or {})
        self.shell_uid = shell_uid          # the uid the collector runs as (proc/self/status)
        self.heaps = tuple(heaps) if heaps is not None else tuple(self.g["heaps"])
        self.gpu = gpu
        self.escape_names = escape_names    # kernel-style escaping of status Name and maps paths
        self.pool_bytes = pool_bytes
        self.processes: dict[int, SynthProcess] = {}
        self.buffers: list[SynthBuffer] = []
        self.denied_paths: dict[str, int] = {}   # relpath -> mode
        self.dumpsys: dict[str, str] = {}
        self._inodes: set[int] = set()
        self._next_inode = 19834 if generation == "a11-5.4" else 2
        self._rand = random.Random(seed)
        if base:
            self._add_base()

    # ---- building ------------------------------------------------------------------------
    def _add_base(self) -> None:
        self.add_process(1, "init", cmdline=("/system/bin/init", "second_stage"), uid=0, ppid=0,
                         oom_score_adj=-1000)
        self.processes[1].base = True
        self.add_process(2, "kthreadd", uid=0, ppid=0, kernel_thread=True)
        self.processes[2].base = True
        for pid, name in ((3, "rcu_gp"), (4, "rcu_par_gp"), (6, "kworker/0:0H"),
                          (8, "mm_percpu_wq"), (9, "ksoftirqd/0"), (10, "rcu_preempt"),
                          (11, "migration/0"), (60, "kswapd0"), (98, "irq/120-kgsl-3d0")):
            self.add_process(pid, name, uid=0, ppid=2, kernel_thread=True)
            self.processes[pid].base = True

    def add_process(self, pid: int, name: str, cmdline: tuple[str, ...] | list[str] = (), uid: int = 0,
                    ppid: int = 1, oom_score_adj: int = 0, *, kernel_thread: bool = False,
                    extra_fds: int | None = None) -> SynthProcess:
        """Add a process (a tgid). Userspace processes get a few ordinary fds (stdio, a socket,
        binder, epoll) unless extra_fds=0; kernel threads get none and an empty cmdline."""
        old = self.processes.get(pid)
        if old is not None and not old.base:
            raise ValueError(f"pid {pid} already exists")
        p = SynthProcess(pid, name, tuple(cmdline), uid, ppid, oom_score_adj, kernel_thread)
        if not kernel_thread:
            n = 6 if extra_fds is None else extra_fds
            std = ["/dev/null", "/dev/null", "/dev/null", f"socket:[{20000 + pid}]",
                   self.g["binder"], "anon_inode:[eventpoll]", f"pipe:[{30000 + pid}]",
                   "anon_inode:sync_file"]
            for fd in range(n):
                p.fds[fd] = std[fd] if fd < len(std) else f"socket:[{40000 + pid * 8 + fd}]"
            p._next_fd = n
        self.processes[pid] = p
        return p

    def add_buffer(self, size: int, exporter: str | None = None, name: str | None = None,
                   inode: int | None = None, *, kernel_refs: int = 0,
                   attached: tuple[str, ...] = (), fences=(), heap: str | None = None,
                   allocator: int | None = None) -> SynthBuffer:
        """Add a dma-buf. exporter defaults to the generation's usual one (`ion` for ION kernels,
        `system` for dma-heap kernels). kernel_refs: references the kernel holds itself (a GPU
        driver's import): a buffer with kernel_refs and no holder is kernel-only."""
        if size <= 0:
            raise ValueError("size must be positive")
        if inode is None:
            while self._next_inode in self._inodes:
                self._next_inode += 1
            inode = self._next_inode
            self._next_inode += 1 if self.generation != "a11-5.4" else 1 + len(self._inodes) % 3
        elif inode in self._inodes:
            raise ValueError(f"inode {inode} already used")
        self._inodes.add(inode)
        exp = exporter if exporter is not None else self.g["exporter"]
        b = SynthBuffer(inode, int(size), exp, name or None, kernel_refs, tuple(attached),
                        tuple(tuple(f) for f in fences),
                        heap if heap is not None else (exp if exp != "ion" else "system"),
                        allocator, len(self.buffers), len(self.buffers))
        self.buffers.append(b)
        return b

    def _proc(self, pid: int) -> SynthProcess:
        try:
            return self.processes[pid]
        except KeyError:
            raise ValueError(f"no process {pid}") from None

    def hold_fd(self, pid: int, b: SynthBuffer, fd: int | None = None) -> int:
        """Give process `pid` an fd on buffer `b` (auto-numbered if fd is None). Returns the fd."""
        p = self._proc(pid)
        if p.kernel_thread:
            raise ValueError(f"pid {pid} is a kernel thread")
        if fd is None:
            while p._next_fd in p.fds:
                p._next_fd += 1
            fd = p._next_fd
            p._next_fd += 1
        elif fd in p.fds:
            raise ValueError(f"pid {pid} already has fd {fd}")
        p.fds[fd] = b
        return fd

    def hold_map(self, pid: int, b: SynthBuffer, offset: int = 0, length: int | None = None,
                 rss: int = 0, perms: str = "rw-s") -> tuple[int, int]:
        """Map `b` into `pid` (a window of `length` bytes from `offset`; default: to the end).
        The VMA is placed automatically; rss is the bytes smaps shows as resident (usually 0).
        Returns (start, end)."""
        p = self._proc(pid)
        if p.kernel_thread:
            raise ValueError(f"pid {pid} is a kernel thread")
        if offset < 0 or offset % PAGE or offset >= b.size:
            raise ValueError("offset must be a page multiple inside the buffer")
        if length is None:
            length = b.size - offset
        length = -(-length // PAGE) * PAGE
        if length <= 0 or offset + length > -(-b.size // PAGE) * PAGE:
            raise ValueError("the mapping must lie inside the buffer")
        if not 0 <= rss <= length:
            raise ValueError("rss must be between 0 and the mapping's length")
        if p._next_vma == 0:
            p._next_vma = 0x7a00000000 + (p.pid * 0x10000000) % 0x400000000
        start = p._next_vma
        p._next_vma = start + length + PAGE      # a guard gap between VMAs
        p.maps.append((b, Mapping(start, start + length, offset, -(-rss // PAGE) * PAGE, perms)))
        return start, start + length

    def deny(self, pid: int, what: str = "fd") -> None:
        """The shell user may not read this process's files: "fd" (fd, fdinfo, maps, smaps: what
        ptrace-mode-read guards), "fdinfo", "maps" (maps, smaps) or "all" (also status, cmdline)."""
        if what not in _DENY_KINDS:
            raise ValueError(f"deny what: one of {', '.join(_DENY_KINDS)}")
        self._proc(pid).denied.update(_DENY_KINDS[what])

    def deny_path(self, relpath: str, mode: int = 0o700) -> None:
        """Deny a path below the root to the shell user (e.g. "sys/kernel/dmabuf/buffers")."""
        self.denied_paths[relpath.strip("/")] = mode

    def gpu_usage(self, pid: int, private: int, imported: int = 0) -> None:
        """GPU memory of a process in bytes (written as Mali pages or KGSL files per `gpu`)."""
        self._proc(pid).gpu = {"private": int(private), "imported": int(imported)}

    def set_dumpsys(self, args: str, text: str) -> None:
        self.dumpsys[args] = text

    # ---- derived numbers -------------------------------------------------------------------
    def _holders(self) -> dict[int, dict[int, tuple[list[int], list[Mapping]]]]:
        """inode -> pid -> (fds, mappings)."""
        out: dict[int, dict[int, tuple[list[int], list[Mapping]]]] = {b.inode: {} for b in self.buffers}
        for p in self.processes.values():
            for fd, t in p.fds.items():
                if isinstance(t, SynthBuffer):
                    out[t.inode].setdefault(p.pid, ([], []))[0].append(fd)
            for b, m in p.maps:
                out[b.inode].setdefault(p.pid, ([], []))[1].append(m)
        return out

    @staticmethod
    def _count(b: SynthBuffer, holders: dict[int, tuple[list[int], list[Mapping]]]) -> int:
        return b.kernel_refs + sum(len(f) + len(m) for f, m in holders.values())

    # ---- output ----------------------------------------------------------------------------
    def truth(self) -> dict:
        """What the tree holds, JSON-able: buffers (inode, size, exporter, name, count, holders
        {pid: {fds, maps}}), processes (with dmabuf rss/pss as libdmabufinfo computes them: rss =
        sum of unique buffers held by fd or map, pss = sum of size // number of holder pids)."""
        holders = self._holders()
        bufs = []
        rss: dict[int, int] = {}
        pss: dict[int, int] = {}
        for b in self.buffers:
            h = holders[b.inode]
            nmaps = sum(len(m) for _, m in h.values()) or 1
            for pid in h:
                rss[pid] = rss.get(pid, 0) + b.size
                pss[pid] = pss.get(pid, 0) + b.size // len(h)
            bufs.append({
                "inode": b.inode, "size": b.size, "exporter": b.exporter, "name": b.name,
                "count": self._count(b, h), "kernel_refs": b.kernel_refs,
                "attached": list(b.attached),
                "holders": {str(pid): {"fds": sorted(f), "maps": [m.to_json(m.rss // nmaps) for m in ms]}
                            for pid, (f, ms) in sorted(h.items())},
            })
            if self.g["memtrack"]:
                bufs[-1]["memtrack_id"] = b.memtrack_id   # the RFC's identifier (not an inode)
        procs = {}
        for pid, p in sorted(self.processes.items()):
            procs[str(pid)] = {
                "name": p.name, "cmdline": list(p.cmdline), "uid": p.uid, "ppid": p.ppid,
                "oom_score_adj": p.oom_score_adj, "kernel_thread": p.kernel_thread,
                "fds": len(p.fds), "dmabuf_fds": sum(isinstance(t, SynthBuffer) for t in p.fds.values()),
                "dmabuf_maps": len(p.maps), "dmabuf_rss": rss.get(pid, 0), "dmabuf_pss": pss.get(pid, 0),
                "denied": sorted(p.denied), "gpu": dict(p.gpu),
            }
        held = [b for b in self.buffers if holders[b.inode]]
        return {
            "schema": "droidtrack.synth-truth/1",
            "generation": self.generation, "kernel": self.g["kernel"],
            "android": self.g["release"], "sdk": self.g["sdk"], "shell_uid": self.shell_uid,
            "inodes_visible": self.g["links"] != "anon",
            "buffers": bufs, "processes": procs,
            "denied_paths": sorted(self.denied_paths),
            "totals": {
                "buffers": len(self.buffers),
                "bytes": sum(b.size for b in self.buffers),
                "held_bytes": sum(b.size for b in held),
                "kernel_only_bytes": sum(b.size for b in self.buffers if not holders[b.inode]),
                "processes": len(self.processes),
                "dmabuf_fds": sum(v["dmabuf_fds"] for v in procs.values()),
                "dmabuf_maps": sum(v["dmabuf_maps"] for v in procs.values()),
            },
        }

    def permissions(self) -> list[tuple[int, str]]:
        """(mode, relpath) for every path denied to the shell user."""
        out = []
        for pid, p in sorted(self.processes.items()):
            for what in sorted(p.denied):
                mode = 0o700 if what in _DIR_ENTRIES else 0o600
                out.append((mode, f"proc/{pid}/{what}"))
        out.extend((mode, path) for path, mode in sorted(self.denied_paths.items()))
        return out

    def write(self, root: Path | str, *, keep_empty_dirs: bool = False) -> None:
        """Lay the tree out below `root` (created if needed; must not already hold a proc/).
        keep_empty_dirs puts a `.keep` file in empty directories (git drops empty ones; toybox
        `ls -l` does not list dot files)."""
        _Writer(self, Path(root), keep_empty_dirs).run()

    def apply_permissions(self, root: Path | str) -> None:
        apply_permissions(root, self.permissions())


# ---- formatting helpers ------------------------------------------------------------------------
def _esc_status(name: str) -> str:
    # fs/proc/array.c: a backslash doubles, a newline becomes "\n"; other bytes as they are
    return name.replace("\\", "\\\\").replace("\n", "\\n")


def _esc_path(path: str) -> str:
    # seq_file_path(m, file, "\n"): a newline in a path is printed as \012
    return path.replace("\n", "\\012")


def _kb(n: int) -> int:
    return n // 1024


class _Writer:
    def __init__(self, tree: DeviceTree, root: Path, keep: bool) -> None:
        self.t = tree
        self.g = tree.g
        self.root = root
        self.keep = keep
        self.holders = tree._holders()
        self.counts = {b.inode: tree._count(b, self.holders[b.inode]) for b in tree.buffers}
        self.nmaps = {b.inode: (sum(len(m) for _, m in self.holders[b.inode].values()) or 1)
                      for b in tree.buffers}

    # small, fast file writers (the 2,000-process tree writes ~200k files)
    @staticmethod
    def _w(path: str, text: str, _flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> None:
        fd = os.open(path, _flags, 0o644)
        try:
            os.write(fd, text.encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)

    def run(self) -> None:
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        if (root / "proc").exists():
            raise FileExistsError(f"{root}/proc already exists")
        self.proc()
        self.props()
        self.sys()
        self.dev()
        if self.t.dumpsys:
            d = root / "dumpsys"
            d.mkdir(exist_ok=True)
            for args, text in self.t.dumpsys.items():
                self._w(str(d / (args.replace(" ", "_").replace("/", "_") + ".txt")), text)
        perms = self.t.permissions()
        if perms:
            self._w(str(root / "permissions.txt"),
                    "# mode path: what the shell user cannot read (apply with synth.apply_permissions)\n"
                    + "".join(f"{mode:04o} {path}\n" for mode, path in perms))

    def props(self) -> None:
        d = self.root / "system"
        d.mkdir(exist_ok=True)
        self._w(str(d / "build.prop"), "# synthetic build.prop (droidtrack.synth)\n"
                + "".join(f"{k}={v}\n" for k, v in self.t.props.items()))

    # ---- /proc -----------------------------------------------------------------------------
    def proc(self) -> None:
        P = str(self.root / "proc")
        os.mkdir(P)
        for p in self.t.processes.values():
            self.process(P, p)
        # the reader's own view: uid of the collector and its SELinux context
        os.makedirs(f"{P}/self/attr")
        u = self.t.shell_uid
        self._w(f"{P}/self/status", f"Name:\tsh\nUmask:\t0077\nState:\tR (running)\nTgid:\t{32000}\n"
                f"Ngid:\t0\nPid:\t32000\nPPid:\t31999\nTracerPid:\t0\nUid:\t{u}\t{u}\t{u}\t{u}\n"
                f"Gid:\t{u}\t{u}\t{u}\t{u}\n")
        self._w(f"{P}/self/attr/current", ("u:r:su:s0" if u == 0 else "u:r:shell:s0") + "\0")
        os.makedirs(f"{P}/sys/kernel")
        self._w(f"{P}/sys/kernel/osrelease", self.g["kernel"] + "\n")
        self._w(f"{P}/version", f"Linux version {self.g['kernel']} (build@droidtrack) "
                "(Android clang version 14.0.6) #1 SMP PREEMPT Tue Jan 1 00:00:00 UTC 2030\n")
        total = 7698860
        self._w(f"{P}/meminfo", f"MemTotal:       {total} kB\nMemFree:          512344 kB\n"
                "MemAvailable:    3302120 kB\nBuffers:            4096 kB\nCached:          2811024 kB\n")
        mounts = ["/dev/root / ext4 ro,seclabel,relatime 0 0", "proc /proc proc rw,relatime 0 0",
                  "sysfs /sys sysfs rw,seclabel,relatime 0 0"]
        if self.g["debugfs"]:
            mounts.append("debugfs /sys/kernel/debug debugfs rw,seclabel,relatime 0 0")
        self._w(f"{P}/mounts", "\n".join(mounts) + "\n")

    def process(self, P: str, p: SynthProcess) -> None:
        d = f"{P}/{p.pid}"
        os.mkdir(d)
        w = self._w
        name = p.name[:15]
        shown = _esc_status(name) if self.t.escape_names else name
        u = p.uid
        threads = 1 if p.kernel_thread else 4 + p.pid % 13
        vm = "" if p.kernel_thread else (f"VmPeak:\t{1000000 + p.pid % 999} kB\nVmSize:\t{900000 + p.pid % 777} kB\n"
                                        f"VmRSS:\t{20000 + (p.pid * 37) % 90000} kB\n")
        w(f"{d}/status", f"Name:\t{shown}\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t{p.pid}\nNgid:\t0\n"
          f"Pid:\t{p.pid}\nPPid:\t{p.ppid}\nTracerPid:\t0\nUid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{u}\t{u}\t{u}\t{u}\n"
          f"FDSize:\t{64 if len(p.fds) < 64 else 1 << (len(p.fds) - 1).bit_length()}\nGroups:\t{'' if u == 0 else '3003 9997'}\n"
          f"{vm}Threads:\t{threads}\nvoluntary_ctxt_switches:\t{p.pid * 7}\n")
        w(f"{d}/comm", name + "\n")
        w(f"{d}/cmdline", "".join(a + "\0" for a in p.cmdline))
        w(f"{d}/oom_score_adj", f"{p.oom_score_adj}\n")
        os.mkdir(f"{d}/fd")
        os.mkdir(f"{d}/fdinfo")
        g = self.g
        for fd, t in p.fds.items():
            if isinstance(t, SynthBuffer):
                if g["links"] == "anon":
                    target = "anon_inode:dmabuf"
                else:
                    target = "/dmabuf:" + (t.name or "")
                os.symlink(target, f"{d}/fd/{fd}")
                w(f"{d}/fdinfo/{fd}", self.fdinfo(t))
            else:
                os.symlink(t, f"{d}/fd/{fd}")
                ino = f"ino:\t{1000 + fd}\n" if g["fdinfo"] == "ino" else ""
                w(f"{d}/fdinfo/{fd}", f"pos:\t0\nflags:\t0{2000002 if fd > 2 else 2}\nmnt_id:\t{13 if fd > 2 else 21}\n{ino}")
        if self.keep and not p.fds:
            w(f"{d}/fd/.keep", "")
            w(f"{d}/fdinfo/.keep", "")
        maps, smaps = self.maps(p)
        w(f"{d}/maps", maps)
        w(f"{d}/smaps", smaps)
        if g["dmabuf_rss"]:
            rss = pss = 0
            seen = set()
            for t in list(p.fds.values()) + [b for b, _ in p.maps]:
                if isinstance(t, SynthBuffer) and t.inode not in seen:
                    seen.add(t.inode)
                    rss += t.size
                    pss += t.size // len(self.holders[t.inode])
            w(f"{d}/dmabuf_rss", f"{rss}\n")
            w(f"{d}/dmabuf_rss_hwm", f"{rss}\n")
            w(f"{d}/dmabuf_pss", f"{pss}\n")
        if g["memtrack"]:
            w(f"{d}/memtrack", self.memtrack(p))

    def fdinfo(self, b: SynthBuffer) -> str:
        g = self.g
        head = f"pos:\t0\nflags:\t0{2000002}\nmnt_id:\t{11 if g['links'] == 'anon' else 9}\n"
        if g["fdinfo"] == "plain":
            return head
        if g["fdinfo"] == "ino":
            head += f"ino:\t{b.inode}\n"
        text = f"{head}size:\t{b.size}\ncount:\t{self.counts[b.inode]}\nexp_name:\t{b.exporter}\n"
        if b.name:
            text += f"name:\t{b.name}\n"
        return text

    def _vma_head(self, start: int, end: int, perms: str, off: int, dev: str, ino: int, path: str) -> str:
        head = f"{start:08x}-{end:08x} {perms} {off:08x} {dev} {ino} "
        if not path:
            return head
        return head.ljust(72) + " " + (_esc_path(path) if self.t.escape_names else path)

    def maps(self, p: SynthProcess) -> tuple[str, str]:
        if p.kernel_thread:
            return "", ""
        vmas: list[tuple[int, int, str, int, str, int, str, int, int]] = []
        base = 0x5c00000000 + (p.pid % 4096) * 0x100000
        exe = p.cmdline[0] if p.cmdline and p.cmdline[0].startswith("/") else "/system/bin/app_process64"
        vmas.append((base, base + 0x4000, "r-xp", 0, "fd:00", 1201 + p.pid % 50, exe, 16, 16))
        vmas.append((0x7f80000000, 0x7f80100000, "r-xp", 0, "fd:00", 1133, "/apex/com.android.runtime/lib64/bionic/libc.so", 1024, 700))
        vmas.append((0x7f90000000, 0x7f90400000, "rw-p", 0, "00:00", 0, "[anon:scudo:primary]", 4096, 900))
        vmas.append((0x7ffff00000, 0x7ffff21000, "rw-p", 0, "00:00", 0, "[stack]", 132, 40))
        anon = self.g["links"] == "anon"
        dev = "00:0a" if anon else "00:08"
        for b, m in p.maps:
            path = "anon_inode:dmabuf" if anon else "/dmabuf:" + (b.name or "")
            vmas.append((m.start, m.end, m.perms, m.offset, dev, ANON_INODE if anon else b.inode, path,
                         _kb(m.rss), _kb(m.rss // self.nmaps[b.inode])))
        vmas.sort()
        maps = []
        smaps = []
        style = self.g["smaps"]
        for start, end, perms, off, dv, ino, path, rss_kb, pss_kb in vmas:
            h = self._vma_head(start, end, perms, off, dv, ino, path)
            maps.append(h)
            size_kb = (end - start) // 1024
            shared = perms.endswith("s")
            f = {"Size": size_kb, "KernelPageSize": 4, "MMUPageSize": 4, "Rss": rss_kb, "Pss": pss_kb,
                 "Pss_Dirty": 0, "Shared_Clean": rss_kb if shared else 0, "Shared_Dirty": 0,
                 "Private_Clean": 0 if shared else rss_kb, "Private_Dirty": 0, "Referenced": rss_kb,
                 "Anonymous": 0 if shared or path.startswith("/") else rss_kb, "LazyFree": 0,
                 "AnonHugePages": 0, "ShmemPmdMapped": 0, "FilePmdMapped": 0, "Shared_Hugetlb": 0,
                 "Private_Hugetlb": 0, "Swap": 0, "SwapPss": 0, "Locked": 0}
            if style == "4.9":
                order = ("Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                         "Private_Dirty", "Referenced", "Anonymous", "AnonHugePages", "ShmemPmdMapped",
                         "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "KernelPageSize",
                         "MMUPageSize", "Locked")
            else:
                order = ("Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss") + (
                    ("Pss_Dirty",) if style == "6" else ()) + (
                    "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced",
                    "Anonymous", "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped",
                    "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked")
            body = "".join(f"{k + ':':<16}{f[k]:>8} kB\n" for k in order)
            if style != "4.9":
                body += "THPeligible:    0\n"
            flags = "rd wr sh mr mw me ms pf io de dd " if shared else "rd wr mr mw me ac "
            if "x" in perms:
                flags = "rd ex mr mw me "
            smaps.append(h + "\n" + body + f"VmFlags: {flags}\n")
        return "".join(x + "\n" for x in maps), "".join(smaps)

    def memtrack(self, p: SynthProcess) -> str:
        # the RFC's final (4/6) format; an empty file when the process holds no buffer
        held: dict[int, SynthBuffer] = {}
        for t in p.fds.values():
            if isinstance(t, SynthBuffer):
                held[t.inode] = t
        for b, _ in p.maps:
            held[b.inode] = b
        if not held:
            return ""
        out = ["%10.10s: %16.16s: %12.12s: %12.12s: %20s: %5s: %8s: pid:%d\n" % (
            "ref_count", "Identifier", "size", "tag", "startAddr-endAddr", "Flags", "pgOff", p.pid)]
        for b in sorted(held.values(), key=lambda b: b.memtrack_id):
            out.append("%10d  %16d  %12d  %12s\n" % (len(self.holders[b.inode]), b.memtrack_id, b.size,
                                                     b.name or ""))
            for mb, m in p.maps:
                if mb is b:
                    fl = "".join((m.perms[0], m.perms[1], m.perms[2], "s" if m.perms[3] == "s" else "p", "#"))
                    line = "%68x-%08x  %s  %08x" % (m.start, m.end, fl, m.offset)
                    if b.name:
                        line += " " + b.name
                    out.append(line + "\n")
        return "".join(out)

    # ---- /sys ------------------------------------------------------------------------------
    def sys(self) -> None:
        g = self.g
        S = str(self.root / "sys")
        os.makedirs(f"{S}/kernel")
        t = self.t
        bufs = t.buffers
        if g["debugfs"]:
            os.makedirs(f"{S}/kernel/debug/dma_buf")
            self._w(f"{S}/kernel/debug/dma_buf/bufinfo", self.bufinfo())
        if g["sysfs_stats"]:
            B = f"{S}/kernel/dmabuf/buffers"
            os.makedirs(B)
            for b in bufs:
                os.mkdir(f"{B}/{b.inode}")
                self._w(f"{B}/{b.inode}/size", f"{b.size}\n")
                self._w(f"{B}/{b.inode}/exporter_name", f"{b.exporter}\n")
        if g["ion_sysfs"]:
            os.makedirs(f"{S}/kernel/ion")
            ion = sum(b.size for b in bufs if b.exporter == "ion")
            self._w(f"{S}/kernel/ion/total_heaps_kb", f"{ion // 1024}\n")
            self._w(f"{S}/kernel/ion/total_pools_kb", f"{t.pool_bytes // 1024}\n")
        if g["dma_heap"]:
            os.makedirs(f"{S}/kernel/dma_heap")
            self._w(f"{S}/kernel/dma_heap/total_pools_kb", f"{t.pool_bytes // 1024}\n")
        if g["ion_debugfs"] and g["debugfs"]:
            self.ion_debugfs(f"{S}/kernel/debug/ion")
        if g["memtrack"] and g["debugfs"]:
            self._w(f"{S}/kernel/debug/memtrack", self.memtrack_debug())
        if t.gpu == "mali" and g["debugfs"]:
            os.makedirs(f"{S}/kernel/debug/mali0")
            rows = [(p.pid, -(-p.gpu["private"] // PAGE)) for p in t.processes.values() if p.gpu]
            text = "%-16s  %10u\n" % ("mali0", sum(n for _, n in rows))
            for i, (pid, pages) in enumerate(rows):
                text += "  %s-0x%016x %10u %10u\n" % ("kctx", 0xffffffc0a0000000 + i * 0x10000, pages, pid)
            self._w(f"{S}/kernel/debug/mali0/gpu_memory", text)
        if t.gpu == "kgsl":
            K = f"{S}/class/kgsl/kgsl/proc"
            os.makedirs(K)
            for p in t.processes.values():
                if not p.gpu:
                    continue
                os.mkdir(f"{K}/{p.pid}")
                priv, imp = p.gpu["private"], p.gpu["imported"]
                for fname, val in (("kernel", priv // 16), ("kernel_max", priv // 16), ("user", priv),
                                   ("user_max", priv), ("imported_mem", imp), ("gpumem_mapped", priv // 4),
                                   ("gpumem_unmapped", priv - priv // 4)):
                    self._w(f"{K}/{p.pid}/{fname}", f"{val}\n")

    def bufinfo(self) -> str:
        g = self.g
        fmt = g["bufinfo"]
        out = ["\nDma-buf Objects:\n"]
        if fmt == "4.9":
            out.append("%-8s\t%-8s\t%-8s\t%-8s\texp_name\n" % ("size", "flags", "mode", "count"))
        elif fmt == "5.3":
            out.append("%-8s\t%-8s\t%-8s\t%-8s\texp_name\t%-8s\n" % ("size", "flags", "mode", "count", "ino"))
        else:
            out.append("%-8s\t%-8s\t%-8s\t%-8s\texp_name\t%-8s\tname\n" % ("size", "flags", "mode", "count", "ino"))
        total = 0
        for b in sorted(self.t.buffers, key=lambda b: -b.seq):   # newest first
            c = self.counts[b.inode]
            row = "%08d\t%s\t%s\t%08d\t%s" % (b.size, g["flags"], g["mode"], c, b.exporter)
            if fmt == "5.3":
                row += "\t%08d\t%s" % (b.inode, b.name or "")
            elif fmt == "5.19":
                row += "\t%08d\t%s" % (b.inode, b.name or "<none>")
            out.append(row + "\n")
            for usage, driver, timeline, seq, signalled in b.fences:
                sig = "" if signalled else "un"
                if fmt == "5.3":           # 4.12-5.15
                    kind = "Exclusive" if usage in ("write", "exclusive", "Exclusive") else "Shared"
                    out.append("\t%s fence: %s %s %ssignalled\n" % (kind, driver, timeline, sig))
                elif fmt == "5.19":        # 5.19+: usage word, dma_fence_describe
                    out.append("\t%s fence:%s %s seq %d %ssignalled\n" % (usage, driver, timeline, seq, sig))
            out.append("\tAttached Devices:\n")
            for dev in b.attached:
                out.append("\t%s\n" % dev)
            out.append("Total %d devices attached\n\n" % len(b.attached))
            total += b.size
        out.append("\nTotal %d objects, %d bytes\n" % (len(self.t.buffers), total))
        return "".join(out)

    def ion_debugfs(self, D: str) -> None:
        t = self.t
        os.makedirs(f"{D}/heaps")
        os.makedirs(f"{D}/clients")
        procs = t.processes
        heaps = sorted({b.heap for b in t.buffers} | {"system"})
        sep = "-" * 52 + "\n"
        # a client (per process that opened /dev/ion) holds a handle on what it allocated and
        # still holds; everything else is "orphaned" (no handle), shown with its last client
        client_bytes: dict[tuple[int, str], int] = {}
        orphans: dict[str, list[SynthBuffer]] = {}
        for b in t.buffers:
            a = b.allocator
            if a is not None and a in procs and a in self.holders[b.inode]:
                client_bytes[(a, b.heap)] = client_bytes.get((a, b.heap), 0) + b.size
            else:
                orphans.setdefault(b.heap, []).append(b)
        for heap in heaps:
            lines = ["%16s %16s %16s\n" % ("client", "pid", "size"), sep]
            for (pid, h), size in sorted(client_bytes.items()):
                if h == heap:
                    lines.append("%16s %16u %16u\n" % (procs[pid].name[:15], pid, size))
            lines += [sep, "orphaned allocations (info is from last known client):\n"]
            orphaned = 0
            for b in orphans.get(heap, []):
                last = procs.get(b.allocator) if b.allocator is not None else None
                lines.append("%16s %16u %16u %d %d\n" % (last.name[:15] if last else "", b.allocator or 0,
                                                         b.size, 0, 1 + bool(self.holders[b.inode])))
                orphaned += b.size
            lines += [sep, "%16s %16u\n" % ("total orphaned", orphaned),
                      "%16s %16u\n" % ("total ", sum(b.size for b in t.buffers if b.heap == heap)),
                      "%16s %16u\n" % ("deferred free", 0), sep]
            if heap == "system":
                for cached in ("uncached", "cached"):
                    for order in (8, 4, 0):
                        for mem in ("highmem", "lowmem"):
                            lines.append("%d order %u %s pages in %s pool = %lu total\n" % (0, order, mem, cached, 0))
            self._w(f"{D}/heaps/{heap}", "".join(lines))
        serial: dict[int, int] = {}
        for (pid, heap), size in sorted(client_bytes.items()):
            n = serial.setdefault(pid, 0)
            path = f"{D}/clients/{pid}-{n}"
            text = "%16.16s: %16.16s\n" % ("heap_name", "size_in_bytes")
            for h in heaps:
                if (pid, h) in client_bytes:
                    text += "%16.16s: %16u\n" % (h, client_bytes[(pid, h)])
            self._w(path, text)

    def memtrack_debug(self) -> str:
        out = ["%4.4s %12.12s %10s %12.12s %3.3s\n" % ("pid", "buffer_size", "ref", "Identifier", "tag")]
        for b in self.t.buffers:
            out.append("%4d %12d %10d %12d %s\n" % (b.allocator or 0, b.size, len(self.holders[b.inode]),
                                                   b.memtrack_id, b.name or ""))
        return "".join(out)

    def dev(self) -> None:
        if not self.g["dma_heap"]:
            return
        d = self.root / "dev" / "dma_heap"
        d.mkdir(parents=True)
        for h in self.t.heaps:
            # character devices on a phone; empty regular files here (the collector only lists them)
            self._w(str(d / h), "")


def apply_permissions(root: Path | str, entries: list[tuple[int, str]] | None = None) -> list[str]:
    """chmod the denied paths of a written tree (entries, or `root/permissions.txt`). Use on a
    copy: the shell user (e.g. `setpriv --reuid=2000`) then meets EACCES where a phone would.
    Returns the paths changed."""
    root = Path(root)
    if entries is None:
        entries = []
        pf = root / "permissions.txt"
        if pf.exists():
            for line in pf.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                mode, _, path = line.partition(" ")
                entries.append((int(mode, 8), path))
    done = []
    for mode, path in entries:
        p = root / path
        if p.exists() or p.is_symlink():
            os.chmod(p, mode)
            done.append(path)
    return done


def read_truth(root: Path | str) -> dict:
    return json.loads((Path(root) / "truth.json").read_text())


def generate_large(root: Path | str, processes: int = 2000, buffers: int = 20000, refs: int = 60000,
                   seed: int = 1, generation: str = "a13-5.15") -> DeviceTree:
    """A big random device for benchmarks: `processes` tgids (a tenth of them kernel threads),
    `buffers` dma-bufs (some kernel-only), `refs` references, two thirds by fd and one third by
    mapping. Deterministic for a seed. Writes the tree and returns it."""
    rnd = random.Random(seed)
    t = DeviceTree(generation, seed=seed)
    base = len(t.processes)
    users = []
    pid = 100
    for i in range(max(0, processes - base)):
        pid += 1 + rnd.randrange(3)
        if i % 10 == 9:
            t.add_process(pid, f"kworker/{i % 8}:{i}", uid=0, ppid=2, kernel_thread=True)
            continue
        uid = 10000 + rnd.randrange(300) if i % 3 else 1000
        name = f"com.example.app{i}" if uid >= 10000 else f"vendor.svc{i}"
        t.add_process(pid, name[-15:], cmdline=(name,), uid=uid, ppid=1, oom_score_adj=rnd.choice((0, 100, 200, 900)))
        users.append(pid)
    exporters = t.heaps or ("ion",)
    bufs = []
    for i in range(buffers):
        size = rnd.choice((4096, 8192, 65536, 1 << 20, 3686400, 8294400))
        name = rnd.choice((None, "gralloc", "CAMERA", "G:screenshot", f"buf{i}"))
        bufs.append(t.add_buffer(size, exporter=rnd.choice(exporters), name=name,
                                 kernel_refs=1 if i % 50 == 0 else 0))
    for _ in range(refs):
        b = bufs[rnd.randrange(len(bufs))]
        p = users[rnd.randrange(len(users))]
        if rnd.random() < 2 / 3:
            t.hold_fd(p, b)
        else:
            t.hold_map(p, b, length=min(b.size, 65536))
    t.write(root)
    return t
