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

Generations (`generations.TABLE`: a9-4.9, a11-5.4, a13-5.15, a15-6.6, memtrack-rfc) say how
each kernel prints the files and which files exist; `tree_writer.PARTS` writes them. The model's
pieces live in tree_model, the /proc files in tree_proc, /sys and /dev in tree_sys.

The `count` the kernel prints (bufinfo, fdinfo) is the file's reference count: every fd in every
process, every mapping, plus references the kernel keeps (`kernel_refs`, docs/formats.md).

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
from dataclasses import replace
from pathlib import Path

from droidtrack.sim.generations import GENERATIONS, Generation, generation as _generation
from droidtrack.sim.tree_model import ANON_INODE, PAGE, Mapping, SynthBuffer, SynthProcess

__all__ = ["ANON_INODE", "GENERATIONS", "PAGE", "DeviceTree", "Generation", "Mapping", "SynthBuffer",
           "SynthProcess", "apply_permissions", "generate_large", "read_truth"]

_DENY_KINDS = {
    # what a process-level denial hides from the shell user (Android: ptrace-mode-read + SELinux)
    "fd": ("fd", "fdinfo", "maps", "smaps"),
    "fdinfo": ("fdinfo",),
    "maps": ("maps", "smaps"),
    "all": ("fd", "fdinfo", "maps", "smaps", "status", "cmdline"),
}
_DIR_ENTRIES = ("fd", "fdinfo")


class DeviceTree:
    def __init__(self, generation: str = "a13-5.15", props: dict[str, str] | None = None, *,
                 base: bool = True, shell_uid: int = 0, debugfs: bool | None = None,
                 heaps: tuple[str, ...] | None = None, gpu: str | None = None,
                 escape_names: bool = True, pool_bytes: int = 0, seed: int = 0,
                 proc_owners: bool = False) -> None:
        self.g = _generation(generation)
        self.generation = generation
        if debugfs is not None:
            self.g = replace(self.g, debugfs=debugfs)
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
        # each /proc/<pid> owned by the process's uid, as on a phone (its own app may read what
        # the denials keep from the shell user): `owner UID PATH` lines in permissions.txt
        self.proc_owners = proc_owners
        self.heaps = tuple(heaps) if heaps is not None else tuple(self.g["heaps"])
        self.gpu = gpu
        self.escape_names = escape_names    # kernel-style escaping of status Name and maps paths
        self.pool_bytes = pool_bytes
        self.processes: dict[int, SynthProcess] = {}
        self.buffers: list[SynthBuffer] = []
        self.denied_paths: dict[str, int] = {}   # relpath -> mode
        self.dumpsys: dict[str, str] = {}
        self._inodes: set[int] = set()
        self._next_inode = self.g.first_inode
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
            self._next_inode += 1 + (len(self._inodes) % 3 if self.g.inode_gaps else 0)
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

    def owners(self) -> list[tuple[int, str]]:
        """(uid, relpath) of every /proc/<pid> a non-root process owns (with proc_owners)."""
        if not self.proc_owners:
            return []
        return [(p.uid, f"proc/{pid}") for pid, p in sorted(self.processes.items()) if p.uid and not p.kernel_thread]

    def write(self, root: Path | str, *, keep_empty_dirs: bool = False) -> None:
        """Lay the tree out below `root` (created if needed; must not already hold a proc/).
        keep_empty_dirs puts a `.keep` file in empty directories (git drops empty ones; toybox
        `ls -l` does not list dot files)."""
        from droidtrack.sim.tree_writer import TreeWriter
        TreeWriter(self, Path(root), keep_empty_dirs).run()

    def apply_permissions(self, root: Path | str) -> None:
        apply_permissions(root, self.permissions(), self.owners())


def _chown_tree(top: Path, uid: int) -> None:
    """chown a directory and everything below it (links themselves, never their targets)."""
    os.lchown(top, uid, uid)
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            os.lchown(os.path.join(d, n), uid, uid)


def apply_permissions(root: Path | str, entries: list[tuple[int, str]] | None = None,
                      owners: list[tuple[int, str]] | None = None) -> list[str]:
    """chmod the denied paths of a written tree (entries, or `root/permissions.txt`), after
    giving each owned /proc/<pid> to its uid (`owner UID PATH` lines; only as root). Use on a
    copy: the shell user (e.g. `setpriv --reuid=2000`) then meets EACCES where a phone would.
    Returns the paths changed."""
    root = Path(root)
    if entries is None:
        entries, owners = [], []
        pf = root / "permissions.txt"
        if pf.exists():
            for line in pf.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                mode, _, path = line.partition(" ")
                if mode == "owner":
                    uid, _, path = path.partition(" ")
                    owners.append((int(uid), path))
                else:
                    entries.append((int(mode, 8), path))
    if os.geteuid() == 0:
        for uid, path in owners or ():
            if (root / path).is_dir():
                _chown_tree(root / path, uid)
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
