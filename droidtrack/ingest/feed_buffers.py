"""The feeders of the sources that list the kernel's buffers themselves: debugfs bufinfo and the
sysfs stats. Each reads its parser's one record type (parse/bufinfo.BufinfoTable,
parse/sysfs_stats.SysfsTable), however the parser read the text, into the Builder's drafts; which
source's value a field keeps is the rank table's word (model/build.RANKS).

Used by every source that has these texts (the collector's stream, bugreports, pasted text).
"""
from __future__ import annotations

from droidtrack.model import SourceStatus
from droidtrack.model.build import EXPORTER_RANK, SIZE_RANK, Builder, BufferDraft
from droidtrack.parse.bufinfo import BufinfoTable
from droidtrack.parse.sysfs_stats import SysfsTable


def feed_bufinfo(b: Builder, t: BufinfoTable, status: str = "ok", detail: str = "") -> None:
    """bufinfo's buffers: joined on the inode where the row has one (5.3+), else each a buffer of
    its own (the snapshot then cannot join per-process references to it: identity incomplete)."""
    b.problems.extend(t.problems)
    get = b.buffers.get
    by_inode = b.buffer_by_inode
    for size, exporter, inode, name, count, attached in zip(t.sizes, t.exporters, t.inodes, t.names,
                                                            t.counts, t.attached):
        if inode is not None:
            d = get(f"ino:{inode}")
            if d is None or (d.size is not None and size != d.size):
                d = by_inode(inode, size, "bufinfo")
            else:
                d.sources.add("bufinfo")
        else:
            d = b.anonymous_buffer("bufinfo")
            b.identity_complete = False
        d.offer_fields("bufinfo", size, exporter, name, count)
        if attached:
            d.attached = attached
    if t.total_bytes is not None:
        b.reported["bufinfo.total"] = t.total_bytes
    b.sources["bufinfo"] = SourceStatus(status, f"{len(t)} buffers ({t.variant} format){detail}")


def feed_sysfs(b: Builder, t: SysfsTable, source: str = "sysfs_stats", detail: str = "") -> None:
    """The sysfs stats' buffers (every buffer of a 5.13+/ACK 5.10 kernel, by inode, with size and
    exporter). A buffer no other source has named yet is made in one step (20,000 of them on a
    large device): what buffer_by_inode and offer_fields would make of it."""
    b.problems.extend(t.problems)
    total = 0
    get = b.buffers.get
    drafts = b.buffers
    draft = BufferDraft
    r_size, r_exp = SIZE_RANK["sysfs"], EXPORTER_RANK["sysfs"]
    for inode, size, exporter in zip(t.inodes, t.sizes, t.exporters):
        key = f"ino:{inode}"
        d = get(key)
        if size is not None:
            total += size
            if d is None and exporter is not None:
                drafts[key] = draft(key, inode, size, exporter, None, None, (), {}, {}, {"sysfs"},
                                    {"size": "sysfs", "exporter": "sysfs"}, {"size": r_size, "exporter": r_exp})
                continue
        if d is None or (size is not None and d.size is not None and size != d.size):
            d = b.buffer_by_inode(inode, size, "sysfs")     # new, or an inode seen with another size
        else:
            d.sources.add("sysfs")
        d.offer_fields("sysfs", size, exporter, None, None)
    b.reported["sysfs.total"] = total
    b.sources[source] = SourceStatus("ok", f"{len(t)} buffers{detail}")
