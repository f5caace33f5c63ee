"""The feeder of the mappings: the maps and smaps sections (v1: both as grep lines; v2: the smaps
groups alone, whose VMA lines are the maps lines of the dma-buf mappings), read by parse/maps.py
into one VmaTable either way. A mapping joins its buffer by
inode; without identity (anon_inode:dmabuf) it is counted per process.

Ranks of the fields mappings offer (a name, a size lower bound): model/build.RANKS.
"""
from __future__ import annotations

from droidtrack.collect import frames as _frames
from droidtrack.model import MapRef
from droidtrack.model.build import Builder
from droidtrack.parse import maps as p_maps
from droidtrack.parse.grepout import record_builder

_mk_mapref = record_builder(MapRef)


def feed_maps(b: Builder, fr: _frames.Frames, root: str) -> None:
    maps, smaps = fr.sections.get("maps"), fr.sections.get("smaps")
    if maps is not None and maps.form == "names":         # v2: the mappings are smaps' groups
        t = p_maps.read_smaps(smaps.text(), root) if smaps is not None else None
    elif maps is not None or smaps is not None:
        t = p_maps.read(None if maps is None else maps.text(), None if smaps is None else smaps.text(), root)
    else:
        t = None
    if t is not None:
        feed_vmas(b, t)
    if maps is not None and maps.status != "skipped":      # skipped (--focus): nothing was tried
        for p in b.processes.values():
            if p.maps_readable is None:
                p.maps_readable = True


def feed_vmas(b: Builder, t: p_maps.VmaTable) -> None:
    """Each dma-buf mapping: a MapRef of its buffer (joined by inode), or, without identity
    (anon_inode:dmabuf), a mapping counted per process and kept for memtrack to name. A pid of None
    (a pasted maps file whose process is not known) feeds the buffer and no reference."""
    b.problems.extend(t.problems)
    mk_ref = _mk_mapref
    get = b.buffers.get
    by_inode = b.buffer_by_inode
    for pid, start, end, offset, perms, inode, name, legacy, rss, pss in zip(
            t.pids, t.starts, t.ends, t.offsets, t.perms, t.inodes, t.names, t.legacy, t.rss, t.pss):
        ref = mk_ref(start, end, offset, perms, rss, pss)
        if legacy:
            if pid is None:
                continue
            b.legacy_maps[(pid, start)] = ref
            b.anon_pids.add(pid)
            b.unjoined_ref(pid, "maps", end - start)
            b.identity_complete = False
            continue
        d = get(f"ino:{inode}")
        if d is None:
            d = by_inode(inode, None, "maps")
        else:
            d.sources.add("maps")
        if d.size is None:
            # only a mapping knows this buffer: its VMA length is a lower bound of the size
            d.offer("size", max(end - start + offset, 0), "maps")
            d.provenance["size"] = "maps (VMA length + offset: a lower bound)"
        if name is not None:
            d.offer_fields("maps", None, None, name, None)
        if pid is None:
            continue
        vmas = d.maps.get(pid)
        if vmas is None:
            d.maps[pid] = [ref]
        elif all(v.start != start for v in vmas):
            vmas.append(ref)
