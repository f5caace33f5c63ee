"""The collector's `files` section, split by path (ingest/stream.py), handed to the feeder of
each format: ION/dma-heap totals and debugfs, Mali and KGSL, vendor dmaprocs, memtrack. This
module only decides which lines go to which feeder.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from droidtrack.ingest.dmaprocs import feed_dmaprocs
from droidtrack.ingest.gpu import feed_kgsl, feed_mali
from droidtrack.ingest.ion import feed_ion_debugfs, feed_kernel_totals, feed_proc_meminfo
from droidtrack.ingest.memtrack import feed_memtrack_texts
from droidtrack.model.build import Builder


def _texts(lines: Iterable[tuple]) -> list[str]:
    """Grep lines (lineno, path, text) -> one text per file, in the order the files came."""
    out: dict[str, list[str]] = defaultdict(list)
    for t in lines:
        out[t[1]].append(t[2])
    return ["\n".join(v) + "\n" for v in out.values()]


def feed_files(b: Builder, files: dict[str, list]) -> None:
    if files.get("kernel_totals"):
        feed_kernel_totals(b, files["kernel_totals"])
    if files.get("/proc/meminfo"):
        feed_proc_meminfo(b, files["/proc/meminfo"])
    if files.get("ion_debugfs"):
        feed_ion_debugfs(b, files["ion_debugfs"])
    for text in _texts(files.get("mali", ())):
        feed_mali(b, text)
    if files.get("kgsl"):
        feed_kgsl(b, files["kgsl"])
    for text in _texts(files.get("dmaprocs", ())):
        feed_dmaprocs(b, text)
    # memtrack (pid:memtrack, memtrack_debug) is fed by feed_memtrack_files once buffers and
    # references are in: it adopts bufinfo rows and legacy mappings


def feed_memtrack_files(b: Builder, files: dict[str, list]) -> None:
    """/proc/<pid>/memtrack and debugfs memtrack from the collector's `files` section."""
    debug = _texts(files.get("memtrack_debug", ()))
    feed_memtrack_texts(b, _texts(files.get("pid:memtrack", ())), debug[0] if debug else None)
