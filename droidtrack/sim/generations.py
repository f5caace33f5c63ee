"""Kernel generations the synthetic device can imitate: one `Generation` row per phone kind.

A row says how that kernel prints each file (bufinfo layout, fd link targets, fdinfo fields,
smaps fields) and which files exist at all (debugfs, sysfs stats, ION, dma-heap, per-process
dma-buf RSS, the memtrack RFC). `tree_writer.PARTS` decides from these fields which parts of the
tree to write, so a generation is data, not code.

  a9-4.9        Android 9, kernel 4.9: bufinfo 4.9 (no ino/name), ION debugfs heaps+clients, fd
                links and maps `anon_inode:dmabuf` (maps share one anon inode), fdinfo without
                dma-buf fields, no sysfs stats.
  a11-5.4       Android 11, ACK 5.4: bufinfo 5.3 format (ino, name; empty name leaves a trailing
                tab), fd links `/dmabuf:<name>`, fdinfo size/count/exp_name/name without `ino:`,
                ION sysfs totals; inode numbers start high and leave gaps.
  a13-5.15      Android 13, ACK 5.15: fdinfo with `ino:`, sysfs stats, bufinfo 5.3-5.18 format,
                dma-heap pool total, /dev/dma_heap/*.
  a15-6.6       Android 15, ACK 6.6: no debugfs (bufinfo 5.19+ layout, written only when a tree
                is built with `debugfs=True`), sysfs stats, fdinfo with ino,
                /proc/<pid>/dmabuf_rss, dmabuf_rss_hwm, dmabuf_pss.
  a17-7.3       a 7.x phone: no debugfs, no sysfs stats (removed in 7.0); every buffer is listed
                only by the pinned BPF dma-buf iterator (/sys/fs/bpf/dmabuf/...); otherwise as
                a15-6.6.
  memtrack-rfc  a 4.9 kernel carrying the 2016 memtrack RFC: everything a9-4.9 has plus
                /proc/<pid>/memtrack (final 4/6 format, with VMA lines) and debugfs memtrack.

Adding a generation: add a row to `TABLE` (derive it from the nearest one with `replace`). When
the new kernel has a file no row had before, add a boolean field here (default False, so every
other generation is unchanged) and one entry to `tree_writer.PARTS` that writes it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Generation:
    name: str
    kernel: str                    # uname -r
    release: str                   # ro.build.version.release
    sdk: int
    bufinfo: str = "5.3"           # bufinfo layout: "4.9" (no ino/name), "5.3" (ino, name), "5.19"
    links: str = "dmabuf"          # fd link / maps path: "anon" (anon_inode:dmabuf) or "dmabuf"
    fdinfo: str = "ino"            # "plain" (no dma-buf fields), "noino", "ino"
    smaps: str = "5"               # smaps field set: "4.9", "5", "6" (with Pss_Dirty)
    debugfs: bool = True           # /sys/kernel/debug mounted (bufinfo, ION, memtrack, mali)
    ion_debugfs: bool = False      # debugfs ion/heaps and ion/clients
    ion_sysfs: bool = False        # /sys/kernel/ion totals
    sysfs_stats: bool = True       # /sys/kernel/dmabuf/buffers/<ino>/
    dma_heap: bool = True          # /dev/dma_heap/* and the dma_heap pool total
    dmabuf_rss: bool = False       # /proc/<pid>/dmabuf_rss, dmabuf_rss_hwm, dmabuf_pss
    memtrack: bool = False         # the memtrack RFC's /proc/<pid>/memtrack and debugfs memtrack
    bpf_iter: bool = False         # the pinned BPF dma-buf iterator (6.16+, AOSP's path)
    exporter: str = "system"       # the usual exporter name
    flags: str = "00080002"        # bufinfo flags / mode columns
    mode: str = "00080007"
    binder: str = "/dev/binderfs/binder"
    heaps: tuple[str, ...] = ("system", "system-uncached")
    first_inode: int = 2           # the first dma-buf inode number
    inode_gaps: bool = False       # inode numbers skip (other anon files take some)

    def __getitem__(self, key: str):
        # tests read `tree.g["links"]`; a row reads like the dict it used to be
        return getattr(self, key)

    def get(self, key: str, default=None):
        return getattr(self, key, default)


_ION_49 = Generation(
    "a9-4.9", "4.9.186-perf+", "9", 28, bufinfo="4.9", links="anon", fdinfo="plain", smaps="4.9",
    ion_debugfs=True, sysfs_stats=False, dma_heap=False, exporter="ion", flags="00000002",
    mode="00000007", binder="/dev/binder", heaps=())
_ACK_515 = Generation("a13-5.15", "5.15.41-android13-8-00205-gf1bf82c3dacd-ab8747247", "13", 33)

TABLE: dict[str, Generation] = {g.name: g for g in (
    _ION_49,
    replace(_ION_49, name="a11-5.4", kernel="5.4.86-android11-2-00040-g29b2beadc627", release="11",
            sdk=30, bufinfo="5.3", links="dmabuf", fdinfo="noino", smaps="5", ion_debugfs=False,
            ion_sysfs=True, binder=_ACK_515.binder, first_inode=19834, inode_gaps=True),
    _ACK_515,
    replace(_ACK_515, name="a15-6.6", kernel="6.6.30-android15-8-gdd8b3d7b2b0a-ab12188323",
            release="15", sdk=35, bufinfo="5.19", smaps="6", debugfs=False, dmabuf_rss=True),
    replace(_ACK_515, name="a17-7.3", kernel="7.3.4-android17-0-g5d1f0c7a9e21", release="17", sdk=37,
            bufinfo="5.19", smaps="6", debugfs=False, sysfs_stats=False, dmabuf_rss=True, bpf_iter=True),
    replace(_ION_49, name="memtrack-rfc", kernel="4.9.0-memtrack-rfc", release="8.0.0", sdk=26,
            memtrack=True),
)}
GENERATIONS = tuple(TABLE)


def generation(name: str) -> Generation:
    try:
        return TABLE[name]
    except KeyError:
        raise ValueError(f"unknown generation {name!r}; one of {', '.join(GENERATIONS)}") from None
