"""The feeder of AOSP `dmabuf_dump` output (every mode: default, -a, -b, csv) -> Builder.

Whoever has the text (the collector's `dmabuf_dump` section, a bug report's "Dmabuf dump" and
"dmabuf_dump -b" sections, a pasted output) calls `feed_dmabuf_dump`; nothing else turns
dmabuf_dump records into buffers, holders or `reported` keys.

What it gives (keys documented in docs/formats.md):
  buffers   by inode: sizes from the per-process rows are whole kB (a lower bound, said so in
            the provenance) and rank below every kernel list; the -b rows are the sysfs stats
            themselves (source "sysfs", exact bytes)
  holders   per process, `Holding(by="unknown")` from the default mode (fd or mapping is not
            said), fd / map / fd+map from the -a table where it says so
  reported  dmabuf_dump.total, .kernel_rss, .userspace_rss, .userspace_pss, .userspace_unique;
            sysfs.total (from -b); per process dmabuf_dump.rss and dmabuf_dump.pss
"""
from __future__ import annotations

from droidtrack.model import Holding, SourceStatus
from droidtrack.model.build import Builder
from droidtrack.parse import dmabuf_dump as p_dump

_TOTAL_KEYS = (("dmabuf_total", "dmabuf_dump.total"), ("kernel_rss", "dmabuf_dump.kernel_rss"),
               ("userspace_rss", "dmabuf_dump.userspace_rss"), ("userspace_pss", "dmabuf_dump.userspace_pss"),
               ("userspace_unique", "dmabuf_dump.userspace_unique"))


def kb_buffer(b: Builder, inode: int, source: str, size: int, exporter: str | None, name: str | None):
    """The draft of a buffer a per-process list names with its size in whole kB (dmabuf_dump,
    dmaprocs): joined on the inode, ranked by the table, the size's provenance saying it is short."""
    d = b.buffer_by_inode(inode, None, source)
    size_from = d.provenance.get("size")
    d.offer_fields(source, size, exporter, name, None)
    if d.provenance.get("size") == source and size_from != source:
        d.provenance["size"] = f"{source} (whole kB: up to 1023 bytes short)"
    return d


def feed_dmabuf_dump(b: Builder, text: str, *, where: str = "") -> int:
    """Feed one dmabuf_dump output. Returns how many (buffer, process) holdings it named, or -1
    when the output named none and did not say that no process holds a buffer."""
    return feed_dump_records(b, p_dump.parse(text), text, where=where)


def feed_dump_records(b: Builder, res: p_dump.DmabufDumpResult, text: str = "", *, where: str = "") -> int:
    """feed_dmabuf_dump of records already parsed (pasted text adds rows condensed by hand)."""
    b.problems.extend(res.problems)
    holders: dict[str, dict[int, str]] = {}
    procs: set[int] = set()
    sysfs_rows = 0
    for r in res.records:
        if isinstance(r, p_dump.DumpBuffer):
            d = kb_buffer(b, r.inode, "dmabuf_dump", r.rss, r.exporter, r.name)
            holders.setdefault(d.key, {}).setdefault(r.pid, "unknown")
            procs.add(r.pid)
            p = b.process(r.pid)
            if not p.name:
                p.name = r.comm
        elif isinstance(r, p_dump.DumpBufferRefs):
            d = b.buffer_by_inode(r.inode, None, "dmabuf_dump")
            if d.size is None:
                d.offer_fields("dmabuf_dump", r.size, None, None, None)
                d.provenance["size"] = "dmabuf_dump (whole kB: up to 1023 bytes short)"
            hs = holders.setdefault(d.key, {})
            for pid in set(r.fd_refs) | set(r.map_refs):
                how = "unknown" if r.combined else \
                    "+".join(k for k, refs in (("fd", r.fd_refs), ("map", r.map_refs)) if refs.get(pid))
                hs[pid] = how or "unknown"
                procs.add(pid)
                b.process(pid)
        elif isinstance(r, p_dump.DumpSysfsBuffer):
            d = b.buffer_by_inode(r.inode, r.size, "sysfs")
            d.offer_fields("sysfs", r.size, r.exporter, None, None)
            sysfs_rows += 1
        elif isinstance(r, p_dump.DumpSysfsTotal):
            b.reported["sysfs.total"] = r.size
        elif isinstance(r, p_dump.DumpTotals):
            for attr, key in _TOTAL_KEYS:
                v = getattr(r, attr)
                if v is not None:
                    b.reported[key] = v
        elif isinstance(r, p_dump.DumpProcessTotal):
            p = b.process(r.pid)
            if not p.name:
                p.name = r.comm
            p.reported["dmabuf_dump.rss"] = r.rss
            if r.pss is not None:
                p.reported["dmabuf_dump.pss"] = r.pss
    n = 0
    for key, hs in holders.items():
        d = b.buffers[key]
        explicit = b.explicit_holdings.setdefault(key, {})
        for pid, how in hs.items():
            explicit[pid] = Holding(by=how)
            n += 1
        d.provenance.setdefault("holders", "dmabuf_dump (" + ("fd or mapping not known" if all(
            h == "unknown" for h in hs.values()) else "-a table: fd and map references") + ")")
    key = "dmabuf_dump_b" if res.mode == "per-buffer" else "dmabuf_dump"
    at = f", {where}" if where else ""
    if n or res.not_found:
        b.sources[key] = SourceStatus("ok", (f"{n} buffer references of {len(procs)} processes" if n else
                                             "no process holds a dma-buf") + f" ({res.mode} output){at}")
    elif sysfs_rows or "sysfs.total" in b.reported:
        b.sources[key] = SourceStatus("ok", f"{sysfs_rows} buffers from sysfs stats{at}")
    elif any(isinstance(r, p_dump.DumpTotals) for r in res.records):
        b.sources[key] = SourceStatus("partial", f"totals only ({res.mode} output){at}")
    else:
        first = (text.strip().splitlines() or ["(empty)"])[0][:100]
        b.sources[key] = SourceStatus("error", f"dmabuf_dump printed nothing droidtrack reads: {first}")
    return n if (n or res.not_found) else -1
