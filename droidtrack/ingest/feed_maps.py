"""The feeder of the mappings: the maps and smaps sections (v1: both as grep lines; v2: smaps
groups, whose VMA lines are the maps lines of dma-buf mappings). A mapping joins its buffer by
inode; without identity (anon_inode:dmabuf) it is counted per process.

Ranks of the fields mappings offer (a name, a size lower bound): model/build.RANKS.
"""
from __future__ import annotations

from droidtrack.collect import frames as _frames
from droidtrack.model import MapRef
from droidtrack.model.build import Builder
from droidtrack.parse import maps as p_maps
from droidtrack.parse.grepout import Ints, record_builder

_mk_mapref = record_builder(MapRef)


def _text(fr: _frames.Frames, name: str) -> str | None:
    s = fr.sections.get(name)
    return None if s is None else s.text()


def feed_maps(b: Builder, fr: _frames.Frames, root: str) -> None:
    if not _join_maps_fast(b, fr, root):
        _join_maps(b, fr, root)
    if "maps" in fr.sections:
        for p in b.processes.values():
            if p.maps_readable is None:
                p.maps_readable = True


def _join_maps(b: Builder, fr: _frames.Frames, root: str) -> None:
    """Mappings: the maps section's dma-buf VMAs, with Rss/Pss from smaps."""
    mt = _text(fr, "maps")
    smaps: dict[tuple[int, int], object] = {}
    st = _text(fr, "smaps")
    if st is not None:
        res = p_maps.parse_smaps(st, root)
        b.problems.extend(res.problems)
        for v in res.records:
            smaps[(v.pid, v.start)] = v
    if mt is not None:
        res = p_maps.parse_maps(mt, root)
        b.problems.extend(res.problems)
        mk_ref = _mk_mapref
        get = b.buffers.get
        for m in res.records:
            start = m.start
            sv = smaps.get((m.pid, start))
            ref = mk_ref(start, m.end, m.offset, m.perms, None if sv is None else sv.rss,
                         None if sv is None else sv.pss)
            if m.legacy:
                b.legacy_maps[(m.pid, start)] = ref
                b.anon_pids.add(m.pid)
                b.unjoined_ref(m.pid, "maps", m.end - start)
                b.identity_complete = False
                continue
            d = get(f"ino:{m.inode}")
            if d is None:
                d = b.buffer_by_inode(m.inode, None, "maps")
            else:
                d.sources.add("maps")
            if d.size is None:
                # only a mapping knows this buffer: its VMA length is a lower bound of the size
                d.offer("size", max(m.end - start + m.offset, 0), "maps")
                d.provenance["size"] = "maps (VMA length + offset: a lower bound)"
            if m.name is not None:
                d.offer_fields("maps", None, None, m.name, None)
            vmas = d.maps.get(m.pid)
            if vmas is None:
                d.maps[m.pid] = [ref]
            elif all(v.start != start for v in vmas):
                vmas.append(ref)


def _join_maps_fast(b: Builder, fr: _frames.Frames, root: str) -> bool:
    """_join_maps for a v2 stream whose smaps groups p_maps.vma_rows reads: v2's maps section is
    those groups' VMA lines (frames.VmaLines), so one pass over smaps gives every mapping with its
    Rss and Pss, without the maps lines, DmabufMap or SmapsVma records (20,000 VMAs on a large
    device). False (nothing done) for anything else."""
    sec = fr.sections.get("maps")
    ssec = fr.sections.get("smaps")
    if not isinstance(sec, _frames.VmaLines) or ssec is None or sec.smaps is not ssec.content:
        return False
    rows = p_maps.vma_rows(ssec.text(), root)
    if rows is None:
        return False
    n = p_maps.VMA_FIELDS
    dec = Ints()
    hexa = Ints(16)
    mk_ref = _mk_mapref
    get = b.buffers.get
    by_inode = b.buffer_by_inode
    for pid, s, e, perms, off, ino, name, anon, rss, pss in zip(
            rows[::n], rows[1::n], rows[2::n], rows[3::n], rows[4::n], rows[6::n], rows[7::n], rows[9::n],
            rows[10::n], rows[11::n]):
        pid = dec[pid]
        start = int(s, 16)
        end = int(e, 16)
        offset = hexa[off]
        ref = mk_ref(start, end, offset, perms, dec[rss] * 1024, dec[pss] * 1024)
        if anon is not None:
            b.legacy_maps[(pid, start)] = ref
            b.anon_pids.add(pid)
            b.unjoined_ref(pid, "maps", end - start)
            b.identity_complete = False
            continue
        inode = int(ino)
        d = get(f"ino:{inode}")
        if d is None:
            d = by_inode(inode, None, "maps")
        else:
            d.sources.add("maps")
        if d.size is None:
            d.offer("size", max(end - start + offset, 0), "maps")
            d.provenance["size"] = "maps (VMA length + offset: a lower bound)"
        if name is not None:
            if "\\" in name:
                name = name.replace("\\012", "\n")
            if name:
                d.offer_fields("maps", None, None, name, None)
        vmas = d.maps.get(pid)
        if vmas is None:
            d.maps[pid] = [ref]
        elif all(v.start != start for v in vmas):
            vmas.append(ref)
    return True
