"""The feeder of vendor per-process dma-buf lists ("dmaprocs", "procinfo") -> Builder.

Per process: its total (`reported["dmaprocs"]`, bytes as kB * 1024) and the buffers it holds, by
inode, with size (whole kB), exporter and name. The lists do not say fd or mapping: each holding
is `Holding(by="unknown")`; a real fd or map reference from /proc, where read, wins in the build.
"""
from __future__ import annotations

from droidtrack.ingest.dmabuf_dump import kb_buffer
from droidtrack.model import Holding, SourceStatus
from droidtrack.model.build import Builder
from droidtrack.parse import dmaprocs as p_dmaprocs


def feed_dmaprocs(b: Builder, text: str, *, where: str = "") -> int:
    """Feed one dmaprocs text; returns how many (buffer, process) holdings it named."""
    n = procs = 0
    for r in b.records(p_dmaprocs.parse(text)):
        if isinstance(r, p_dmaprocs.DmaprocsBuffer):
            d = kb_buffer(b, r.inode, "dmaprocs", r.size, r.exporter, r.name)
            hs = b.explicit_holdings.setdefault(d.key, {})
            if r.pid not in hs:
                hs[r.pid] = Holding(by="unknown")
                n += 1
            d.provenance.setdefault("holders", "dmaprocs (fd or mapping not known)")
            b.process(r.pid)
        elif isinstance(r, p_dmaprocs.DmaprocsProcess):
            p = b.process(r.pid)
            p.reported["dmaprocs"] = r.total
            if not p.name:
                p.name = r.comm
            procs += 1
    at = f", {where}" if where else ""
    b.sources["dmaprocs"] = SourceStatus("ok", f"{n} buffer references of {procs} processes{at}")
    return n
