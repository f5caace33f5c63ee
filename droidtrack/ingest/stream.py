"""The collector's stream -> a Snapshot: decode frames, hand each section to its feeder, finish.

    snapshot_from_stream(data, ...)   raw bytes as the collector printed them (capture files, adb)
    snapshot_from_frames(frames, ...) already decoded

This module only decides which text goes to which feeder (and splits the `files` section by
path once); the feeders are ingest/feed_buffers.py (bufinfo, sysfs stats), feed_refs.py (fd
links, fdinfo, fdstat), feed_maps.py (maps, smaps), device_files.py (the `files` section: ION,
GPU, dmaprocs, memtrack) and the dumps' feeders (dmabuf_dump.py, meminfo.py, gpu.py).
Per-process files (status, cmdline, pid values, props) and coverage are read here.
"""
from __future__ import annotations

import time as _time
from collections import defaultdict

from droidtrack.collect import frames as _frames
from droidtrack.ingest import dmabuf_iter, drm_clients, gcpause, memcg
from droidtrack.model.build import Builder
from droidtrack.ingest import device_files
from droidtrack.ingest.dmabuf_dump import feed_dmabuf_dump
from droidtrack.ingest.gpu import feed_dumpsys_gpu
from droidtrack.ingest.surfaceflinger import feed_surfaceflinger
from droidtrack.ingest.meminfo import feed_meminfo
from droidtrack.ingest import feed_buffers, feed_refs
from droidtrack.model import Snapshot, SourceStatus
from droidtrack.parse import bufinfo as p_bufinfo
from droidtrack.parse import procfs as p_procfs
from droidtrack.parse import runas as p_runas
from droidtrack.parse import stderr as p_stderr
from droidtrack.parse import sysfs_stats as p_sysfs
from droidtrack.parse.grepout import split_grep
from droidtrack.model.problems import Problem
from droidtrack.model.tags import Rules

def snapshot_from_stream(data: bytes, *, token: str | None = None, rules: Rules | None = None,
                         time: float | None = None, origin: str = "", serial: str | None = None) -> Snapshot:
    fr = _frames.decode(data, token)
    return snapshot_from_frames(fr, rules=rules, time=time, origin=origin, serial=serial)


def snapshot_from_frames(fr: _frames.Frames, *, rules: Rules | None = None, time: float | None = None,
                         origin: str = "", serial: str | None = None, previous_owners: dict | None = None) -> Snapshot:
    """`previous_owners`: the previous snapshot's owners of the same device (Builder.finish)."""
    with gcpause.paused():
        b = Builder(rules)
        b.problems.extend(fr.problems)
        feed_frames(b, fr)
        snap = b.finish(time=_time.time() if time is None else time, origin=origin, serial=serial,
                        previous_owners=previous_owners)
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
    dmabuf_iter.feed(b, fr)           # the BPF iterator first: every buffer, by inode (7.x kernels)
    _feed_buffers(b, fr, root, files)
    feed_refs.feed_refs(b, fr, root, access)
    drm_clients.feed(b, fr)           # GPU memory per DRM client, from the same fdinfo files
    device_files.feed_memtrack_files(b, files)
    feed_refs.anonymous_refs_problem(b)
    _feed_dumps(b, fr)
    memcg.feed(b, fr)                # memory cgroups' kernel memory, where dma-heap charges them
    _coverage(b, fr, access, files)
    for p in fr.passes:
        feed_pass(b, p)


def _feed_dumps(b: Builder, fr: _frames.Frames) -> None:
    for name, feed in (("dumpsys_meminfo", feed_meminfo), ("dumpsys_gpu", feed_dumpsys_gpu),
                       ("dumpsys_surfaceflinger", feed_surfaceflinger), ("dmabuf_dump", feed_dmabuf_dump)):
        sec = fr.sections.get(name)
        if sec is not None and sec.content.strip():
            feed(b, sec.text())
    for name, sec in fr.sections.items():
        # `dumpsys meminfo PKG` of each --package: its memtrack rows (the whole dump's status stays)
        if name.startswith("dumpsys_meminfo:") and sec.content.strip():
            whole = b.sources.get("dumpsys_meminfo")
            feed_meminfo(b, sec.text(), where=name.partition(":")[2])
            b.sources[name] = b.sources.pop("dumpsys_meminfo")
            if whole is not None:
                b.sources["dumpsys_meminfo"] = whole


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
    _feed_pid_values(b, files)
    device_files.feed_files(b, files)


def _feed_pid_values(b: Builder, files: dict[str, list]) -> None:
    for key, name in (("pid:oom_score_adj", None), ("pid:dmabuf_rss", "dmabuf_rss"),
                      ("pid:dmabuf_rss_hwm", "dmabuf_rss_hwm"), ("pid:dmabuf_pss", "dmabuf_pss")):
        lines = files.get(key)
        if not lines:
            continue
        values = p_procfs.parse_pid_values(lines, key[4:])
        b.problems.extend(values.problems)
        for pid, v in values.records:
            p = b.process(pid)
            if name is None:
                p.oom_score_adj = v
            else:
                p.reported[name] = v
        if name:
            b.sources["proc." + name] = SourceStatus("ok", f"{len(values)} processes")


# ---- processes --------------------------------------------------------------------------------
def _feed_processes(b: Builder, fr: _frames.Frames, root: str, access: dict[str, list]) -> None:
    sec = fr.sections.get("status")
    if sec is not None:
        feed_status(b, p_procfs.read_status_files(sec.files) if sec.files is not None
                    else p_procfs.read_status(sec.text(), root))
    sec = fr.sections.get("cmdline")
    if sec is not None:
        res = p_procfs.read_cmdline_files(sec.files) if sec.files is not None \
            else p_procfs.parse_cmdline(sec.text(), root)
        b.problems.extend(res.problems)
        for pid, argv in res.records:
            if pid in b.processes:
                b.processes[pid].cmdline = tuple(argv)


def feed_status(b: Builder, t: p_procfs.StatusTable) -> None:
    """Each process's name, tgid, ppid and uid; the collector's own uid as the device's `uid`."""
    b.problems.extend(t.problems)
    procs = b.processes
    for pid, name, tgid, ppid, uid in zip(t.pids, t.names, t.tgids, t.ppids, t.uids):
        p = procs.get(pid)
        if p is None:
            p = b.process(pid)
        p.name = name or p.name
        p.uid = uid
        p.ppid = ppid
        p.tgid = tgid
    if t.self_uid is not None:
        b.device["uid"] = t.self_uid


# ---- buffers: every source that lists buffers themselves ---------------------------------------
def _feed_buffers(b: Builder, fr: _frames.Frames, root: str, files: dict) -> None:
    blk = files.get("sysfs:block")
    sys_lines = files.get("sysfs")
    if blk is not None or sys_lines:
        feed_buffers.feed_sysfs(b, blk if blk is not None else p_sysfs.read_lines(sys_lines))
    else:
        b.sources["sysfs_stats"] = SourceStatus("missing", "no /sys/kernel/dmabuf/buffers (kernel without "
                                                "CONFIG_DMABUF_SYSFS_STATS, or not readable)")
    sec = fr.sections.get("bufinfo")
    if sec is not None and sec.status in ("ok", "partial", "truncated") and sec.content:
        bi = sec.text()
        if bi:
            feed_buffers.feed_bufinfo(b, p_bufinfo.read(bi), sec.status)


# ---- run-as passes (user builds) ----------------------------------------------------------------
def feed_pass(b: Builder, ps: _frames.Pass) -> None:
    """A run-as pass: the per-process sections as one app read them, for the processes it owns.
    Their records join the shell's (which could read none of those processes' fds and maps) and
    the processes are marked read by it; a refusal is recognised (parse/runas.py), said once in
    the pass's source line and a problem, and never read as data."""
    key = f"run-as:{ps.package}"
    outcome = p_runas.read(ps.stderr.decode("utf-8", "backslashreplace"), ps.package)
    fr = ps.frames
    if fr is None or not fr.sections:
        if outcome.kind == "ok":
            why = "the run-as pass printed nothing" + ("" if ps.complete else " (the stream was cut)")
            b.sources[key] = SourceStatus("error" if ps.complete else "truncated", why)
        else:
            status = "missing" if outcome.kind in ("unknown-package", "no-run-as") else "denied"
            b.sources[key] = SourceStatus(status, outcome.message + (
                "" if outcome.kind == "unknown-package" else
                ": its processes are estimated from what the shell may read"))
        b.problems.append(Problem("run-as", b.sources[key].detail, text=outcome.text or None))
        return
    b.problems.extend(fr.problems)
    access: dict[str, list] = {}
    for name, sec in fr.sections.items():
        if sec.stderr:
            res = p_stderr.parse(sec.stderr_text(), fr.root)
            access[name] = res.records
            b.problems.extend(res.problems)
    status = fr.sections.get("status")
    pids: list[int] = []
    if status is not None:
        t = p_procfs.read_status_files(status.files) if status.files is not None \
            else p_procfs.read_status(status.text(), fr.root)
        pids = list(t.pids)
        feed_status(b, t)
    _feed_processes(b, _frames.Frames(sections={k: v for k, v in fr.sections.items() if k == "cmdline"}),
                    fr.root, {})
    _feed_pid_values(b, _demux_files(b, fr, fr.root))
    _forget_shell_records(b, set(pids))
    # feed_maps takes a maps section for every process's; this one covers the pass's own only
    others = {pid: p.maps_readable for pid, p in b.processes.items() if pid not in set(pids)}
    feed_refs.feed_refs(b, fr, fr.root, access)
    for pid, v in others.items():
        b.processes[pid].maps_readable = v
    denied = {e.pid for errs in access.values() for e in errs if e.pid is not None and e.kind == "denied"}
    who = f"run-as {ps.package}"
    read = 0
    for pid in pids:
        p = b.processes.get(pid)
        if p is None or pid in denied:
            continue
        p.fds_readable = fr.sections.get("fdlinks") is not None and fr.sections["fdlinks"].status in ("ok", "partial")
        p.maps_readable = fr.sections.get("maps") is not None and fr.sections["maps"].status in ("ok", "partial")
        if p.fds_readable and p.maps_readable:
            p.read_as = who
            read += 1
    uids = sorted({b.processes[pid].uid for pid in pids if pid in b.processes and b.processes[pid].uid is not None})
    if not pids:
        b.sources[key] = SourceStatus("missing", f"{ps.package} has no running process: nothing to read as it")
        b.problems.append(Problem("run-as", b.sources[key].detail))
    else:
        b.sources[key] = SourceStatus("ok" if read == len(pids) else "partial",
                                      f"{read} of {len(pids)} processes of {ps.package} read exactly as its uid "
                                      f"{', '.join(map(str, uids))}")
    _recount(b)


def _forget_shell_records(b: Builder, pids: set[int]) -> None:
    """The run-as pass's records win for its processes: drop what the shell's pass said of their
    fds and maps (where it could read some of it, e.g. fd links without their fdinfo, whose
    references it had counted as unjoined)."""
    if not pids:
        return
    for pid in pids:
        b.unjoined.pop(pid, None)
        b.anon_pids.discard(pid)
    for d in b.buffers.values():
        for held in (d.fds, d.maps):
            for pid in pids & held.keys():
                del held[pid]


def _recount(b: Builder) -> None:
    """The fdlinks/maps source lines from which processes' fds and maps could be read (after the
    shell's pass, and again after each run-as pass)."""
    n = len(b.processes)
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
    _recount(b)
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
