"""Feed the collector's `dmabuf_iter` section (the pinned BPF dma-buf iterator, parse/bpf_iter.py)
into the Builder: every buffer the kernel has, by inode, with its size, exporter and name.

It is the first buffer source fed: on a 7.x kernel (no sysfs stats, usually no debugfs) it is
the only list of every buffer, so the buffers no process holds (kernel-only) come from it alone.
Where sysfs stats or bufinfo are read too, each field keeps the best source's value (model/build.py's
rank tables: the iterator's size and exporter first; for the name, bufinfo and fdinfo first, as the
iterator turns a newline in a name into a space) and says which source gave it (provenance).
"""
from __future__ import annotations

from droidtrack.collect import frames as _frames
from droidtrack.model import SourceStatus
from droidtrack.model.build import Builder
from droidtrack.parse import bpf_iter as p_iter

SOURCE = "dmabuf_iter"


def feed(b: Builder, fr: _frames.Frames) -> None:
    sec = fr.sections.get(SOURCE)
    if sec is None:
        return           # an older collector: nothing said either way
    if sec.status in ("missing", "denied") and not sec.content.strip():
        why = ("no pinned BPF dma-buf iterator at " + p_iter.PATH + " (kernels before 6.16, or no "
               "program pinned there)") if sec.status == "missing" else \
            "the pinned BPF dma-buf iterator is not readable: run with root"
        b.sources[SOURCE] = SourceStatus(sec.status, why)
        return
    res = p_iter.parse(sec.text())
    b.problems.extend(res.problems)
    by_inode = b.buffer_by_inode
    for r in res.records:
        d = by_inode(r.inode, r.size, SOURCE)
        d.offer_fields(SOURCE, r.size, r.exporter, r.name, None)
    if res.records or sec.status == "ok":
        b.reported["dmabuf_iter.total"] = res.total_bytes
    detail = f"{len(res.records)} buffers"
    if res.problems:
        detail += f", {len(res.problems)} problems"
    status = sec.status
    if status == "ok" and res.skipped_lines:
        status = "partial"
    b.sources[SOURCE] = SourceStatus(status, detail)
