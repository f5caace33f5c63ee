"""The collector's stream -> a Snapshot: decode frames, run each section through its parser, join.

    snapshot_from_stream(data, ...)   raw bytes as the collector printed them (capture files, adb)
    snapshot_from_frames(frames, ...) already decoded
"""
from __future__ import annotations

import time as _time
from collections import defaultdict

from droidtrack.collect import frames as _frames
from droidtrack.model import build
from droidtrack.ingest import gcpause
from droidtrack.model.build import Builder
from droidtrack.ingest.feed_buffers import feed_bufinfo, feed_sysfs
from droidtrack.model import MapRef, Snapshot, SourceStatus
from droidtrack.parse import bufinfo as p_bufinfo
from droidtrack.parse import fdinfo as p_fdinfo
from droidtrack.parse import fdinfo_heads as p_fdinfo_heads
from droidtrack.parse import fdlinks as p_fdlinks
from droidtrack.parse import fdstat as p_fdstat
from droidtrack.parse import maps as p_maps
from droidtrack.parse import procfs as p_procfs
from droidtrack.parse import stderr as p_stderr
from droidtrack.parse import sysfs_stats as p_sysfs
from droidtrack.parse.grepout import Ints, record_builder, split_grep
from droidtrack.model.problems import Problem
from droidtrack.model.tags import Rules

def snapshot_from_stream(data: bytes, *, token: str | None = None, rules: Rules | None = None,
                         time: float | None = None, origin: str = "", serial: str | None = None) -> Snapshot:
    fr = _frames.decode(data, token)
    return snapshot_from_frames(fr, rules=rules, time=time, origin=origin, serial=serial)


def snapshot_from_frames(fr: _frames.Frames, *, rules: Rules | None = None, time: float | None = None,
                         origin: str = "", serial: str | None = None) -> Snapshot:
    with gcpause.paused():
        b = Builder(rules)
        b.problems.extend(fr.problems)
        feed_frames(b, fr)
        snap = b.finish(time=_time.time() if time is None else time, origin=origin, serial=serial)
        del b       # the drafts go before the collector runs again: it need not walk them once
    return snap


def _text(fr: _frames.Frames, name: str) -> str | None:
    s = fr.sections.get(name)
    return None if s is None else s.text()


def feed_frames(b: Builder, fr: _frames.Frames) -> None:
    root = fr.root
    access: dict[str, list] = {}
    for name, sec in fr.sections.items():
        b.sources[name] = SourceStatus(sec.status, "")
        if sec.stderr:
            res = p_stderr.parse(sec.stderr_text(), root)
            access[name] = res.records
            for pr in res.problems:
                b.problems.append(pr)
    if not fr.sections:
        b.problems.append(Problem("collector", "the stream holds no sections: nothing could be read"))

    _feed_identity(b, fr, root)
    files = _demux_files(b, fr, root)
    _feed_files(b, files)
    _feed_processes(b, fr, root, access)
    _feed_buffers(b, fr, root, files)
    _feed_refs(b, fr, root, access)
    from droidtrack.ingest import dumps as secondary
    secondary.feed_memtrack_files(b, files)
    _anonymous_refs_problem(b)
    _feed_dumps(b, fr)
    _coverage(b, fr, access, files)


def _feed_dumps(b: Builder, fr: _frames.Frames) -> None:
    from droidtrack.ingest import dumps as secondary
    for name, feed in (("dumpsys_meminfo", secondary.feed_meminfo), ("dumpsys_gpu", secondary.feed_dumpsys_gpu),
                       ("dmabuf_dump", secondary.feed_dmabuf_dump)):
        sec = fr.sections.get(name)
        if sec is not None and sec.content.strip():
            feed(b, sec.text())


# ---- identity ---------------------------------------------------------------------------------
def _feed_identity(b: Builder, fr: _frames.Frames, root: str) -> None:
    props_text = _text(fr, "props")
    if props_text:
        props = p_procfs.parse_props(props_text)
        b.device.update({
            "model": props.get("ro.product.model"),
            "manufacturer": props.get("ro.product.manufacturer"),
            "fingerprint": props.get("ro.build.fingerprint"),
            "release": props.get("ro.build.version.release"),
        })
        sdk = props.get("ro.build.version.sdk", "")
        if sdk.isdigit():
            b.device["sdk"] = int(sdk)


def _demux_files(b: Builder, fr: _frames.Frames, root: str) -> dict[str, list[tuple[int, str, str]]]:
    """The `files` section, split once by which source each path belongs to. The sysfs stats'
    lines (two per buffer), when p_sysfs.block reads them as one run of lines, are left out of
    the split: "sysfs:block" then holds what it read, in place of "sysfs"."""
    out: dict[str, list] = defaultdict(list)
    text = _text(fr, "files")
    if not text:
        return out
    probs: list[Problem] = []
    blk = p_sysfs.block(text, root)
    if blk is None:
        _demux(out, split_grep(text, root, problems=probs, source="files"))
    else:
        start, end = blk[0], blk[1]
        _demux(out, split_grep(text[:start], root, problems=probs, source="files"))
        out["sysfs:block"] = blk[2]
        _demux(out, split_grep(text[end:], root, problems=probs, source="files",
                               first_line=1 + text.count("\n", 0, end)))
    b.problems.extend(probs[:20])
    if len(probs) > 20:
        b.problems.append(Problem("files", f"{len(probs) - 20} more unattributable lines skipped"))
    return out


def _demux(out: dict[str, list], lines) -> None:
    for t in lines:
        path = t[1]
        if path.startswith("/proc/"):
            rest = path[6:]
            head, _, tail = rest.partition("/")
            if head.isdigit():
                out["pid:" + tail].append(t)
            elif head == "self":
                out["self:" + tail].append(t)
            else:
                out[path].append(t)
        elif path.startswith("/sys/kernel/dmabuf/buffers/"):
            out["sysfs"].append(t)
        elif path.startswith("/sys/kernel/debug/ion/"):
            out["ion_debugfs"].append(t)
        elif path.startswith("/sys/kernel/ion/") or path.startswith("/sys/kernel/dma_heap/"):
            out["kernel_totals"].append(t)
        elif path.startswith("/sys/class/kgsl/"):
            out["kgsl"].append(t)
        elif "/mali" in path and path.endswith("/gpu_memory"):
            out["mali"].append(t)
        elif path.endswith("dmaprocs") or path.endswith("/procinfo"):
            out["dmaprocs"].append(t)
        elif path == "/sys/kernel/debug/memtrack":
            out["memtrack_debug"].append(t)
        else:
            out["other"].append(t)


def _feed_files(b: Builder, files: dict[str, list]) -> None:
    for t in files.get("/proc/sys/kernel/osrelease", ())[:1]:
        b.device["kernel"] = t[2].strip()
    for t in files.get("self:attr/current", ())[:1]:
        b.device["selinux_context"] = t[2].strip("\x00\n ")
    for key, name in (("pid:oom_score_adj", None), ("pid:dmabuf_rss", "dmabuf_rss"),
                      ("pid:dmabuf_rss_hwm", "dmabuf_rss_hwm"), ("pid:dmabuf_pss", "dmabuf_pss")):
        lines = files.get(key)
        if not lines:
            continue
        values = p_procfs.parse_pid_values(lines, key[4:])
        vals = values.records if hasattr(values, "records") else values
        if hasattr(values, "problems"):
            b.problems.extend(values.problems)
        items = vals.items() if isinstance(vals, dict) else vals
        for pid, v in items:
            p = b.process(pid)
            if name is None:
                p.oom_score_adj = v
            else:
                p.reported[name] = v
        if name:
            b.sources["proc." + name] = SourceStatus("ok", f"{len(vals)} processes")
    from droidtrack.ingest import dumps as secondary
    secondary.feed_files(b, files)


# ---- processes --------------------------------------------------------------------------------
def _feed_processes(b: Builder, fr: _frames.Frames, root: str, access: dict[str, list]) -> None:
    st = _text(fr, "status")
    fast = None if st is None else p_procfs.status_rows(st, root)
    if fast is not None:          # every process's four lines in the kernel's shape: no records
        procs = b.processes
        for pid, name, tgid, ppid, uid in fast[0]:
            p = procs.get(pid)
            if p is None:
                p = b.process(pid)
            p.name = name or p.name
            p.uid = uid
            p.ppid = ppid
            p.tgid = tgid
        if fast[1] is not None:
            b.device["uid"] = fast[1]
    elif st is not None:
        res = p_procfs.parse_status(st, root)
        b.problems.extend(res.problems)
        for s in res.records:
            p = b.process(s.pid)
            p.name = s.name or p.name
            p.uid = s.uid
            p.ppid = s.ppid
            p.tgid = s.tgid
        self_uid = getattr(res, "self_uid", None)
        if self_uid is not None:
            b.device["uid"] = self_uid
    cl = _text(fr, "cmdline")
    if cl is not None:
        res = p_procfs.parse_cmdline(cl, root)
        records = res.records if hasattr(res, "records") else list(res.items())
        if hasattr(res, "problems"):
            b.problems.extend(res.problems)
        for pid, argv in records:
            if pid in b.processes:
                b.processes[pid].cmdline = tuple(argv)


# ---- buffers: every source that lists buffers themselves ---------------------------------------
def _feed_buffers(b: Builder, fr: _frames.Frames, root: str, files: dict) -> None:
    blk = files.get("sysfs:block")
    sys_lines = files.get("sysfs")
    if blk is not None or sys_lines:
        feed_sysfs(b, blk if blk is not None else p_sysfs.read_lines(sys_lines))
    else:
        b.sources["sysfs_stats"] = SourceStatus("missing", "no /sys/kernel/dmabuf/buffers (kernel without "
                                                "CONFIG_DMABUF_SYSFS_STATS, or not readable)")
    sec = fr.sections.get("bufinfo")
    if sec is not None and sec.status in ("ok", "partial", "truncated") and sec.content:
        bi = sec.text()
        if bi:
            feed_bufinfo(b, p_bufinfo.read(bi), sec.status)


_mk_mapref = record_builder(MapRef)

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
    # BufferDraft.offer_fields("fdinfo", ...) and Builder.add_fd_ref written out (ranks: size,
    # exporter and name 2, count 1)
    for pid, fd, ino, size, count, exp, name in zip(pids, fds, rows[2::n], rows[3::n], rows[4::n], exps, rows[6::n]):
        if exp is None:
            continue      # not a dma-buf: the fd was reused for something else between ls and head
        size = dec[size]
        d = get("ino:" + ino)
        if d is None or (d.size is not None and size != d.size):
            d = by_inode(int(ino), size, "fdinfo")
        else:
            d.sources.add("fdinfo")
        d.offer_fields("fdinfo", size, strip[exp], name or None, dec[count])
        held = d.fds.get(pid)
        if held is None:
            d.fds[pid] = [fd]
        elif fd not in held:
            held.append(fd)
    return kinds


# ---- references: who holds what ---------------------------------------------------------------
def _feed_refs(b: Builder, fr: _frames.Frames, root: str, access: dict[str, list]) -> None:
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


def _anonymous_refs_problem(b: Builder) -> None:
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


# ---- coverage ---------------------------------------------------------------------------------
def _coverage(b: Builder, fr: _frames.Frames, access: dict[str, list], files: dict[str, list]) -> None:
    denied_fd: set[int] = set()
    denied_maps: set[int] = set()
    vanished: set[int] = set()
    for section, errs in access.items():
        if section == "fdstat":
            continue        # an fd link stat could not follow: said in the fdstat source's detail
        for e in errs:
            if e.pid is None:
                continue
            if e.kind == "vanished":
                vanished.add(e.pid)
            elif e.kind == "denied":
                if section in ("fdlinks", "fdinfo"):
                    denied_fd.add(e.pid)
                elif section in ("maps", "smaps"):
                    denied_maps.add(e.pid)
    for pid in denied_fd:
        if pid in b.processes:
            b.processes[pid].fds_readable = False
    for pid in denied_maps:
        if pid in b.processes:
            b.processes[pid].maps_readable = False
    n = len(b.processes)
    if vanished:
        b.problems.append(Problem("scan", f"{len(vanished)} processes or fds went away during the scan "
                                  f"(pids {', '.join(map(str, sorted(vanished)[:8]))}{'…' if len(vanished) > 8 else ''})"))
    if "fdlinks" in b.sources:
        bad = sum(1 for p in b.processes.values() if p.fds_readable is False)
        if bad:
            b.sources["fdlinks"] = SourceStatus("partial", f"fd tables of {bad} of {n} processes unreadable: "
                                                "run with root for full attribution")
        elif b.sources["fdlinks"].status == "ok":
            b.sources["fdlinks"] = SourceStatus("ok", f"fd tables of {n} processes read")
    if "maps" in b.sources:
        bad = sum(1 for p in b.processes.values() if p.maps_readable is False)
        if bad:
            b.sources["maps"] = SourceStatus("partial", f"maps of {bad} of {n} processes unreadable")
    sec = fr.sections.get("bufinfo")
    if sec is not None and sec.status == "missing":
        mounts = files.get("/proc/mounts", [])
        debugfs = any(" debugfs " in t[2] for t in mounts)
        if mounts and not debugfs:
            b.sources["bufinfo"] = SourceStatus("not-mounted", "debugfs is not mounted (usual on user builds "
                                                "since Android 12): kernel-only buffers come from sysfs stats if present")
        else:
            b.sources["bufinfo"] = SourceStatus("missing", "no dma_buf/bufinfo in debugfs")
    elif sec is not None and sec.status == "denied":
        b.sources["bufinfo"] = SourceStatus("denied", "debugfs is not readable: run with root")
