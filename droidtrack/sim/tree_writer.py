"""Write a DeviceTree below a root directory: the table of parts and when each is written.

`PARTS` is the per-generation table: each row names a part (a method of the writer) and the
condition, read from the tree's `Generation` row (and the tree's own options such as `gpu`), under
which that kernel has it. A new kernel generation is a new `generations.TABLE` row; a new kind
of file is one method in tree_proc/tree_sys plus one row here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from droidtrack.sim.tree_proc import ProcParts
from droidtrack.sim.tree_sys import SysParts

if TYPE_CHECKING:
    from droidtrack.sim.synth import DeviceTree


def _always(t: "DeviceTree") -> bool:
    return True


# (part, when): written in this order
PARTS: tuple[tuple[str, Callable[["DeviceTree"], bool]], ...] = (
    ("proc", _always),
    ("props", _always),
    ("sys_dirs", _always),
    ("debugfs_bufinfo", lambda t: t.g.debugfs),
    ("sysfs_stats", lambda t: t.g.sysfs_stats),
    ("bpf_dmabuf_iter", lambda t: t.g.bpf_iter),
    ("ion_sysfs", lambda t: t.g.ion_sysfs),
    ("dma_heap_pools", lambda t: t.g.dma_heap),
    ("ion_debugfs", lambda t: t.g.ion_debugfs and t.g.debugfs),
    ("memtrack_debugfs", lambda t: t.g.memtrack and t.g.debugfs),
    ("mali_debugfs", lambda t: t.gpu == "mali" and t.g.debugfs),
    ("kgsl_sysfs", lambda t: t.gpu == "kgsl"),
    ("dev_heaps", lambda t: t.g.dma_heap),
    ("dumpsys", lambda t: bool(t.dumpsys)),
    ("permissions", lambda t: bool(t.permissions() or t.owners())),
)


class TreeWriter(ProcParts, SysParts):
    def __init__(self, tree: "DeviceTree", root: Path, keep: bool) -> None:
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
        for part, when in PARTS:
            if when(self.t):
                getattr(self, part)()

    def props(self) -> None:
        d = self.root / "system"
        d.mkdir(exist_ok=True)
        self._w(str(d / "build.prop"), "# synthetic build.prop (droidtrack.synth)\n"
                + "".join(f"{k}={v}\n" for k, v in self.t.props.items()))

    def dumpsys(self) -> None:
        d = self.root / "dumpsys"
        d.mkdir(exist_ok=True)
        for args, text in self.t.dumpsys.items():
            self._w(str(d / (args.replace(" ", "_").replace("/", "_") + ".txt")), text)

    def permissions(self) -> None:
        self._w(str(self.root / "permissions.txt"),
                "# mode path: what the shell user cannot read (apply with synth.apply_permissions)\n"
                + "".join(f"owner {uid} {path}\n" for uid, path in self.t.owners())
                + "".join(f"{mode:04o} {path}\n" for mode, path in self.t.permissions()))
