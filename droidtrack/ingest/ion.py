"""The feeder of ION figures -> Builder: ION debugfs heaps and clients files, and the ION /
dma-heap totals in sysfs (`/sys/kernel/ion/total_*_kb`, `/sys/kernel/dma_heap/total_pools_kb`).

Also the dma-buf / GPU lines vendor kernels add to /proc/meminfo (proc_meminfo.ion_used,
proc_meminfo.ion_cache, proc_meminfo.gpu_used, proc_meminfo.gpu_total: parse/ion.py).

Keys (docs/formats.md): device ion.total_heaps, ion.total_pools, dma_heap.total_pools,
ion.<heap>.total, ion.<heap>.orphaned_listed, ion.debugfs.total; per process ion.<heap>.
"""
from __future__ import annotations

from collections import defaultdict

from droidtrack.model import SourceStatus
from droidtrack.model.build import Builder
from droidtrack.parse import ion as p_ion

_TOTAL_KEYS = {"ion_total_heaps": "ion.total_heaps", "ion_total_pools": "ion.total_pools",
               "dma_heap_total_pools": "dma_heap.total_pools"}
DEBUGFS = "/sys/kernel/debug/ion/"


def feed_kernel_totals(b: Builder, lines) -> int:
    """The sysfs totals: grep lines (lineno, path, text) or the text of one file."""
    keys = []
    for r in b.records(p_ion.parse_totals(lines)):
        key = _TOTAL_KEYS.get(r.key, r.key)
        b.reported[key] = r.bytes
        keys.append(key)
    b.sources["kernel_totals"] = SourceStatus("ok", ", ".join(keys))
    return len(keys)


def feed_proc_meminfo(b: Builder, lines) -> int:
    """/proc/meminfo's grep lines: its vendor dma-buf / GPU totals, if the kernel prints any."""
    keys = []
    for r in b.records(p_ion.parse_proc_meminfo(lines)):
        key = "proc_meminfo." + r.key.partition("_")[2]
        b.reported[key] = r.bytes
        keys.append(key)
    if keys:            # most kernels print none: no source then, as before
        b.sources["proc_meminfo"] = SourceStatus("ok", ", ".join(keys))
    return len(keys)


def feed_ion_debugfs(b: Builder, lines: list[tuple]) -> int:
    """ION debugfs files as grep lines (lineno, path, text), paths under DEBUGFS."""
    by_path: dict[str, list[str]] = defaultdict(list)
    for t in lines:
        by_path[t[1]].append(t[2])
    heaps = clients = 0
    total = 0
    for path, pl in by_path.items():
        kind, _, name = path[len(DEBUGFS):].partition("/")
        text = "\n".join(pl) + "\n"
        if kind == "heaps" and name and not name.endswith("_shrink"):
            res = p_ion.parse_heap(text, name)
            heaps += 1
        elif kind == "clients" and name:
            res = p_ion.parse_client(text, name)
            clients += 1
        else:
            continue
        for r in b.records(res):
            if isinstance(r, p_ion.IonClientUsage) and r.pid:
                if kind == "heaps":   # the clients files repeat the heaps' numbers: count once
                    rep = b.process(r.pid).reported
                    rep[f"ion.{r.heap}"] = rep.get(f"ion.{r.heap}", 0) + r.bytes
            elif isinstance(r, p_ion.IonOrphan):
                key = f"ion.{r.heap}.orphaned_listed"
                b.reported[key] = b.reported.get(key, 0) + r.bytes
            elif isinstance(r, p_ion.IonHeapTotal) and r.total is not None:
                b.reported[f"ion.{r.heap}.total"] = r.total
                total += r.total
    if heaps:
        b.reported["ion.debugfs.total"] = total
    b.sources["ion_debugfs"] = SourceStatus("ok", f"{heaps} heaps, {clients} clients")
    return heaps + clients
