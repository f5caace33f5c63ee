"""The feeders of the sources that say which process holds which buffer by fd: the fd links
(fdlinks), the fdinfo files (v1's grep lines or v2's head output) and, where fdinfo has no inode
(5.4-era kernels), stat(2) of the fds (fdstat). Mappings are ingest/feed_maps.py's.

Ranks of the fields each source offers: model/build.RANKS.
"""
from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from droidtrack.collect import frames as _frames
from droidtrack.ingest.feed_maps import feed_maps
from droidtrack.model import SourceStatus
from droidtrack.model.build import RANKS, Builder
from droidtrack.model.problems import Problem
from droidtrack.parse import fdinfo as p_fdinfo
from droidtrack.parse import fdinfo_heads as p_fdinfo_heads
from droidtrack.parse import fdlinks as p_fdlinks
from droidtrack.parse import fdstat as p_fdstat


# ---- references: who holds what ---------------------------------------------------------------
def feed_refs(b: Builder, fr: _frames.Frames, root: str, access: dict[str, list]) -> None:
    sec = fr.sections.get("fdlinks")
    links: dict[int, dict[int, bool]] = {}
    if sec is not None:
        lt = p_fdlinks.read(sec.text(), root)
        feed_fdlinks(b, lt)
        links = lt.links
    sec = fr.sections.get("fdinfo")
    if sec is None:
        t = p_fdinfo.FdinfoTable([], [], [], [], [], [], [])
    elif sec.form == "head":        # v2: the files after head's headers
        t = p_fdinfo_heads.read(sec.text(), fr.proc, root)
    else:
        t = p_fdinfo.read_grep(sec.text(), root)
    no_inode = feed_fdinfo(b, t)
    kinds = dict(zip(zip(t.pids, t.fds), [e is not None for e in t.exporters]))
    # dma-buf fd links whose fdinfo we do not have (unreadable, vanished, or a pre-5.3 kernel whose
    # fdinfo says nothing about dma-bufs): the process holds something we cannot identify
    for pid, held in links.items():
        for fd, legacy in held.items():
            k = kinds.get((pid, fd))     # True: a dma-buf's fdinfo, False: another file's
            if k is not None and (k or not legacy):
                continue  # joined above, or fdinfo says it is no dma-buf (any more): the fd was reused
            b.unjoined_ref(pid, "fds", None)
            b.identity_complete = False
            if legacy:
                b.anon_pids.add(pid)
    stat = _fd_inodes(b, fr, root, t, access.get("fdstat", ()))
    if no_inode:
        join_without_inode(b, no_inode, stat)
    feed_maps(b, fr, root)


def feed_fdlinks(b: Builder, t: p_fdlinks.FdLinksTable) -> None:
    """The fd links say whose fd table was read; which fds are dma-bufs is joined with fdinfo."""
    b.problems.extend(t.problems)
    for pid in t.listed:
        if pid in b.processes or pid in t.links:
            b.process(pid).fds_readable = True


class FdRef(NamedTuple):
    """A dma-buf fd whose fdinfo has no inode (5.4-era kernels): joined by fdstat or by its fields."""
    pid: int
    fd: int
    size: int | None
    exporter: str
    name: str | None
    count: int | None


def feed_fdinfo(b: Builder, t: p_fdinfo.FdinfoTable) -> list[FdRef]:
    """fdinfo's dma-buf files, joined to their buffers by inode: the buffer's fields (by the rank
    table) and the (pid, fd) reference (none where the pid is None: a pasted file whose process is
    not known). Returns the dma-buf files that have no inode (and a pid)."""
    b.problems.extend(t.problems)
    no_inode: list[FdRef] = []
    get = b.buffers.get
    by_inode = b.buffer_by_inode
    r_size, r_exp, r_name, r_count = (RANKS[f]["fdinfo"] for f in ("size", "exporter", "name", "count"))
    for pid, fd, inode, size, count, exp, name in zip(t.pids, t.fds, t.inodes, t.sizes, t.counts,
                                                       t.exporters, t.names):
        if exp is None:
            continue      # not a dma-buf: the fd was reused for something else between ls and the read
        if inode is None:
            if pid is not None:
                no_inode.append(FdRef(pid, fd, size, exp, name, count))
            continue
        d = get(f"ino:{inode}")
        if d is None or (size is not None and d.size is not None and size != d.size):
            d = by_inode(inode, size, "fdinfo")
        else:
            d.sources.add("fdinfo")
        # d.offer_fields("fdinfo", size, exp, name, count) written out: 40,000 calls on a large device
        rank = d.rank
        prov = d.provenance
        if size is not None:
            r = rank.get("size")
            if r is None or r < r_size:
                d.size = size
                rank["size"] = r_size
                prov["size"] = "fdinfo"
        r = rank.get("exporter")
        if r is None or r < r_exp:
            d.exporter = exp
            rank["exporter"] = r_exp
            prov["exporter"] = "fdinfo"
        if name is not None:
            r = rank.get("name")
            if r is None or r < r_name:
                d.name = name
                rank["name"] = r_name
                prov["name"] = "fdinfo"
        if count is not None:
            r = rank.get("count")
            if r is None or r < r_count:
                d.count = count
                rank["count"] = r_count
                prov["count"] = "fdinfo"
        if pid is None:
            continue
        held = d.fds.get(pid)
        if held is None:
            d.fds[pid] = [fd]
        elif fd not in held:
            held.append(fd)
    return no_inode


def anonymous_refs_problem(b: Builder) -> None:
    """Say once, in plain words, what a kernel without dma-buf identity (before 5.3: every fd
    link and mapping says anon_inode:dmabuf) leaves unjoined, once memtrack had its chance."""
    left = {pid: b.unjoined[pid] for pid in b.anon_pids if pid in b.unjoined}
    fds = sum(u["fds"] for u in left.values())
    maps = sum(u["maps"] for u in left.values())
    if fds or maps:
        b.problems.append(Problem("identity", f"dma-buf fds and mappings carry no identity on this kernel "
                                  f"(anon_inode:dmabuf, before 5.3): {fds} fds and {maps} mappings in "
                                  f"{len(left)} processes are counted per process (reported.unjoined_*), "
                                  "not joined to buffers; buffers nobody is seen holding are unattributed, "
                                  "not kernel-only"))


def _fd_inodes(b: Builder, fr: _frames.Frames, root: str, t: p_fdinfo.FdinfoTable, errors) -> dict:
    """The `fdstat` section (stat of every fd; only where fdinfo prints no `ino:`): (pid, fd) ->
    FdStat. Where fdinfo does print an inode the two must agree; a disagreement (the fd was closed
    and reused between the reads) is reported, and fdinfo's inode is kept. `errors`: the section's
    STDERR as feed_frames read it (links busybox could not follow)."""
    sec = fr.sections.get("fdstat")
    if sec is None:
        return {}
    res = p_fdstat.parse(sec.text(), root)
    b.problems.extend(res.problems)
    stat = {(r.pid, r.fd): r for r in res.records}
    keys = list(zip(t.pids, t.fds))
    differ = [k for k, ino in zip(keys, t.inodes) if ino is not None and k in stat and stat[k].inode != ino]
    if differ:
        b.problems.append(Problem("fdstat", f"{len(differ)} fds have another inode by stat than in fdinfo "
                                  f"(first: pid {differ[0][0]} fd {differ[0][1]}): reused between the reads; "
                                  "fdinfo's inode kept"))
    dmabufs = sum(1 for k, e in zip(keys, t.exporters) if e is not None and k in stat)
    nowhere = res.unresolved + sum(1 for e in errors if e.pid is not None)
    b.sources["fdstat"] = SourceStatus(sec.status, f"{len(stat)} fds stat'ed, {dmabufs} of them dma-bufs"
                                       + (f"; {nowhere} fd links could not be followed" if nowhere else ""))
    return stat


def join_without_inode(b: Builder, recs: list[FdRef], stat: dict) -> None:
    """fdinfo without `ino:` (5.4-era kernels): the inode stat(2) gave for the fd (the collector's
    `fdstat`, when it ran) where its size agrees with fdinfo's; otherwise join on
    size+exporter+name only where exactly one buffer in a complete kernel list fits (bufinfo,
    sysfs stats or the BPF iterator, read whole), and count the reference as unjoined where none
    or several do."""
    if stat:
        rest = []
        for r in recs:
            st = stat.get((r.pid, r.fd))
            if st is None or (r.size is not None and st.size is not None and st.size != r.size):
                rest.append(r)       # no inode, or another file by now (the fd was reused)
                continue
            d = b.buffer_by_inode(st.inode, r.size, "fdinfo")
            d.offer_fields("fdinfo", r.size, r.exporter, r.name, r.count)
            b.add_fd_ref(d, r.pid, r.fd)
            d.provenance.setdefault("fd_join", "fdinfo has no ino: inode by stat(/proc/PID/fd/N)")
        recs = rest
        if not recs:
            return
    index: dict[tuple, list] = defaultdict(list)
    complete_list = any(b.sources.get(s, SourceStatus("missing")).status == "ok"
                        for s in ("bufinfo", "sysfs_stats", "dmabuf_iter"))
    for d in b.buffers.values():
        index[(d.size, d.exporter, d.name)].append(d)
        index[(d.size, d.exporter, "*")].append(d)
    ambiguous = 0
    for r in recs:
        cands = index.get((r.size, r.exporter, r.name), [])
        if complete_list and len(cands) == 1:
            d = cands[0]
            b.add_fd_ref(d, r.pid, r.fd)
            d.provenance.setdefault("fd_join", "fdinfo has no ino: joined on size+exporter+name (unique)")
        else:
            ambiguous += 1
            b.unjoined_ref(r.pid, "fds", r.size)
            b.identity_complete = False
    if ambiguous:
        b.problems.append(Problem("fdinfo", f"{ambiguous} dma-buf fds have no inode in fdinfo and match "
                                  "several buffers (or none): counted per process, not joined to a buffer"))
