"""The feeders of the sources that say which process holds which buffer by fd: the fd links
(fdlinks), the fdinfo files (v1's grep lines or v2's head output) and, where fdinfo has no inode
(5.4-era kernels), stat(2) of the fds (fdstat). Mappings are ingest/feed_maps.py's.

Ranks of the fields each source offers: model/build.RANKS.
"""
from __future__ import annotations

from collections import defaultdict

from droidtrack.collect import frames as _frames
from droidtrack.ingest.feed_maps import feed_maps
from droidtrack.model import SourceStatus
from droidtrack.model.build import RANKS, Builder
from droidtrack.model.problems import Problem
from droidtrack.parse import fdinfo as p_fdinfo
from droidtrack.parse import fdinfo_heads as p_fdinfo_heads
from droidtrack.parse import fdlinks as p_fdlinks
from droidtrack.parse import fdstat as p_fdstat
from droidtrack.parse.grepout import Ints


def _text(fr: _frames.Frames, name: str) -> str | None:
    s = fr.sections.get(name)
    return None if s is None else s.text()


# ---- references: who holds what ---------------------------------------------------------------
def feed_refs(b: Builder, fr: _frames.Frames, root: str, access: dict[str, list]) -> None:
    links_by_pid: dict[int, dict[int, bool]] = defaultdict(dict)      # pid -> dma-buf fd -> legacy
    lt = _text(fr, "fdlinks")
    if lt is not None:
        dirs = p_fdlinks.dmabuf_fds(lt, root)
        if dirs is not None:      # every directory in the common shape: its dma-buf fds, no records
            for pid, links in dirs:
                if links:
                    links_by_pid[pid] = links
            listed = {pid for pid, _ in dirs}
        else:
            res = p_fdlinks.parse(lt, root)
            b.problems.extend(res.problems)
            for l in res.records:
                links_by_pid[l.pid][l.fd] = l.legacy
            listed = res.listed_pids
        for pid in listed:
            if pid in b.processes or pid in links_by_pid:
                b.process(pid).fds_readable = True
    fdinfos: dict[tuple[int, int], object] = {}
    no_inode: list = []
    kinds = _join_fdinfo_fast(b, fr)
    if kinds is None:
        _join_fdinfo(b, fr, root, fdinfos, no_inode)
        kinds = {k: r.exporter is not None for k, r in fdinfos.items()}
    # dma-buf fd links whose fdinfo we do not have (unreadable, vanished, or a pre-5.3 kernel whose
    # fdinfo says nothing about dma-bufs): the process holds something we cannot identify
    for pid, links in links_by_pid.items():
        for fd, legacy in links.items():
            k = kinds.get((pid, fd))     # True: a dma-buf's fdinfo, False: another file's
            if k is not None and (k or not legacy):
                continue  # joined above, or fdinfo says it is no dma-buf (any more): the fd was reused
            b.unjoined_ref(pid, "fds", None)
            b.identity_complete = False
            if legacy:
                b.anon_pids.add(pid)
    stat = _fd_inodes(b, fr, root, fdinfos, access.get("fdstat", ()))
    if no_inode:
        _join_without_inode(b, no_inode, stat)

    feed_maps(b, fr, root)


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


def _fd_inodes(b: Builder, fr: _frames.Frames, root: str, fdinfos: dict, errors) -> dict:
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
    differ = [k for k, r in fdinfos.items() if r.inode is not None and k in stat and stat[k].inode != r.inode]
    if differ:
        b.problems.append(Problem("fdstat", f"{len(differ)} fds have another inode by stat than in fdinfo "
                                  f"(first: pid {differ[0][0]} fd {differ[0][1]}): reused between the reads; "
                                  "fdinfo's inode kept"))
    dmabufs = sum(1 for r in fdinfos.values() if r.exporter is not None and (r.pid, r.fd) in stat)
    nowhere = res.unresolved + sum(1 for e in errors if e.pid is not None)
    b.sources["fdstat"] = SourceStatus(sec.status, f"{len(stat)} fds stat'ed, {dmabufs} of them dma-bufs"
                                       + (f"; {nowhere} fd links could not be followed" if nowhere else ""))
    return stat


def _join_without_inode(b: Builder, recs: list, stat: dict) -> None:
    """fdinfo without `ino:` (5.4-era kernels): the inode stat(2) gave for the fd (the collector's
    `fdstat`, when it ran) where its size agrees with fdinfo's; otherwise join on
    size+exporter+name only where exactly one buffer in a complete kernel list fits, and count
    the reference as unjoined where none or several do."""
    if stat:
        rest = []
        for r in recs:
            st = stat.get((r.pid, r.fd))
            if st is None or (r.size is not None and st.size is not None and st.size != r.size):
                rest.append(r)       # no inode, or another file by now (the fd was reused)
                continue
            d = b.buffer_by_inode(st.inode, r.size, "fdinfo")
            d.offer_fields("fdinfo", r.size, r.exporter, r.name or None, r.count)
            b.add_fd_ref(d, r.pid, r.fd)
            d.provenance.setdefault("fd_join", "fdinfo has no ino: inode by stat(/proc/PID/fd/N)")
        recs = rest
        if not recs:
            return
    index: dict[tuple, list] = defaultdict(list)
    complete_list = b.sources.get("bufinfo", SourceStatus("missing")).status == "ok" or \
        b.sources.get("sysfs_stats", SourceStatus("missing")).status == "ok"
    for d in b.buffers.values():
        index[(d.size, d.exporter, d.name)].append(d)
        index[(d.size, d.exporter, "*")].append(d)
    ambiguous = 0
    for r in recs:
        cands = index.get((r.size, r.exporter, r.name if r.name is not None else None), [])
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


def _join_fdinfo(b: Builder, fr: _frames.Frames, root: str, fdinfos: dict, no_inode: list) -> None:
    """The fdinfo section record by record: fdinfos gets (pid, fd) -> FdInfo, no_inode the dma-buf
    fds whose fdinfo has no inode."""
    ft = _text(fr, "fdinfo")
    if ft is not None:
        if fr.sections["fdinfo"].form == "head":     # v2 streams: files after head's headers
            res = p_fdinfo_heads.parse(ft, fr.proc, root)
        else:
            res = p_fdinfo.parse_grep(ft, root)
        b.problems.extend(res.problems)
        for r in res.records:
            if r.pid is not None and r.fd is not None:
                fdinfos[(r.pid, r.fd)] = r
    # the loop below is Builder.buffer_by_inode, BufferDraft.offer and Builder.add_fd_ref written
    # out: a draft already known under its inode, with no size conflict, is used directly;
    # anything else goes through buffer_by_inode, which creates it or keeps a
    # same-inode-other-size buffer apart
    get = b.buffers.get
    for (pid, fd), r in fdinfos.items():
        exporter = r.exporter
        if exporter is None:
            continue      # not a dma-buf: the fd was reused for something else between ls and grep
        inode = r.inode
        if inode is None:
            no_inode.append(r)
            continue
        size = r.size
        d = get(f"ino:{inode}")
        if d is None or (size is not None and d.size is not None and size != d.size):
            d = b.buffer_by_inode(inode, size, "fdinfo")
        else:
            d.sources.add("fdinfo")
        d.offer_fields("fdinfo", size, exporter, r.name or None, r.count)
        fds = d.fds.get(pid)
        if fds is None:
            d.fds[pid] = [fd]
        elif fd not in fds:
            fds.append(fd)


class _Stripped(dict):
    """exp_name as fdinfo.parse keeps it (spaces and tabs around it stripped), per distinct value."""

    def __missing__(self, k: str) -> str:
        v = self[k] = k.strip(" \t")
        return v


def _join_fdinfo_fast(b: Builder, fr: _frames.Frames) -> dict[tuple[int, int], bool] | None:
    """_join_fdinfo for a v2 section in which every file is in the kernel's exact shape with an
    inode (p_fdinfo_heads.rows), with no fdstat section to check the inodes against: the fields
    go into the drafts with no FdInfo record in between (40,000 files on a large device). Returns
    (pid, fd) -> whether the file is a dma-buf's, or None (nothing done) for any other section."""
    sec = fr.sections.get("fdinfo")
    if sec is None or sec.form != "head" or "fdstat" in fr.sections:
        return None
    rows = p_fdinfo_heads.rows(sec.text(), fr.proc)
    if rows is None:
        return None
    n = p_fdinfo_heads.ROW_FIELDS
    dec = Ints()
    pids = list(map(dec.__getitem__, rows[::n]))
    fds = list(map(dec.__getitem__, rows[1::n]))
    exps = rows[5::n]
    kinds = dict(zip(zip(pids, fds), [e is not None for e in exps]))
    get = b.buffers.get
    by_inode = b.buffer_by_inode
    strip = _Stripped()
    r_size, r_exp, r_name, r_count = (RANKS[f]["fdinfo"] for f in ("size", "exporter", "name", "count"))
    # Builder.add_fd_ref written out below, and offer_fields with fdinfo's ranks from RANKS
    for pid, fd, ino, size, count, exp, name in zip(pids, fds, rows[2::n], rows[3::n], rows[4::n], exps, rows[6::n]):
        if exp is None:
            continue      # not a dma-buf: the fd was reused for something else between ls and head
        size = dec[size]
        d = get("ino:" + ino)
        if d is None or (d.size is not None and size != d.size):
            d = by_inode(int(ino), size, "fdinfo")
        else:
            d.sources.add("fdinfo")
        # d.offer_fields("fdinfo", size, strip[exp], name or None, dec[count]) written out:
        # 40,000 calls on a large device
        rank = d.rank
        prov = d.provenance
        r = rank.get("size")
        if r is None or r < r_size:
            d.size = size
            rank["size"] = r_size
            prov["size"] = "fdinfo"
        r = rank.get("exporter")
        if r is None or r < r_exp:
            d.exporter = strip[exp]
            rank["exporter"] = r_exp
            prov["exporter"] = "fdinfo"
        if name:
            r = rank.get("name")
            if r is None or r < r_name:
                d.name = name
                rank["name"] = r_name
                prov["name"] = "fdinfo"
        r = rank.get("count")
        if r is None or r < r_count:
            d.count = dec[count]
            rank["count"] = r_count
            prov["count"] = "fdinfo"
        held = d.fds.get(pid)
        if held is None:
            d.fds[pid] = [fd]
        elif fd not in held:
            held.append(fd)
    return kinds
