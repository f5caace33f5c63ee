"""How much of a snapshot is exact: a grade per process and one headline a person can read.

Per process (the headline's counts leave out kernel threads, which hold no dma-buf: no
cmdline and nothing read):
  exact      its fds and maps were read (by the collector, or as its own app by run-as on a
             user build: `Process.read_as`), so its buffers and holdings are known
  estimated  they could not be read, but a source the shell may read reports a figure for it
             (dumpsys meminfo's memtrack rows, dumpsys gpu, dmabuf_rss, memtrack, GPU drivers)
  unknown    neither

An exact process's PSS is still an upper bound where one of its buffers is referenced by
processes that could not be read (the kernel's count exceeds the references seen): `pss_note`.

The headline, e.g. "com.example.camera exact (run-as); 6 other processes estimated from dumpsys
gpu; 12 unknown; 62.0 MiB unattributed (of 109.0 MiB, dumpsys meminfo)". The bytes are
account.unattributed_bytes's (every sum is in account.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from droidtrack.model import Process, Snapshot
from droidtrack.model.units import human_size

GRADES = ("exact", "estimated", "unknown")

# reported-figure prefixes a shell-readable source gives per process -> how a person calls it
_ESTIMATES = (("meminfo.", "dumpsys meminfo"), ("gpu_mem.", "dumpsys gpu"), ("dmabuf_rss", "dmabuf_rss"),
              ("dmabuf_pss", "dmabuf_rss"), ("memtrack", "memtrack"), ("mali.", "the GPU driver"),
              ("kgsl.", "the GPU driver"), ("gpu.drm.", "DRM fdinfo"), ("dmabuf_dump.", "dmabuf_dump"),
              ("ion.", "ION"), ("dmaprocs", "dmaprocs"))


def grade(p: Process) -> str:
    if p.fds_readable and p.maps_readable is not False:
        return "exact"
    if estimated_from(p):
        return "estimated"
    return "unknown"


def estimated_from(p: Process) -> list[str]:
    """The shell-readable sources that report a figure for this process, in _ESTIMATES' order."""
    out: list[str] = []
    for prefix, name in _ESTIMATES:
        if name not in out and any(k.startswith(prefix) for k in p.reported):
            out.append(name)
    return out


@dataclass(frozen=True, slots=True)
class Coverage:
    grades: dict[int, str]                  # pid -> exact | estimated | unknown
    counts: dict[str, int]                  # grade -> processes
    pss_upper: dict[int, int] = field(default_factory=dict)   # exact pid -> its buffers others also hold
    unattributed: int | None = None         # bytes the device reports that no process was seen holding
    device_total: int | None = None
    device_total_source: str | None = None
    headline: str = ""


def coverage(snap: Snapshot, acc) -> Coverage:
    from droidtrack.model.account import unattributed_bytes
    grades = {pid: grade(p) for pid, p in snap.processes.items()}
    # the headline counts userspace processes: a kernel thread (no cmdline) holds no dma-buf fd
    counted = [pid for pid, p in snap.processes.items() if p.cmdline or grades[pid] != "unknown"]
    counts = {g: sum(1 for pid in counted if grades[pid] == g) for g in GRADES}
    upper = _pss_upper(snap, grades)
    unatt, total, source = unattributed_bytes(snap, acc.totals)
    parts: list[str] = []
    runas: dict[str, int] = {}
    for p in snap.processes.values():
        if p.read_as and grades[p.pid] == "exact":
            runas[p.read_as] = runas.get(p.read_as, 0) + 1
    for who in sorted(runas):
        parts.append(f"{who.split(' ', 1)[-1]} exact (run-as)")
    exact_other = counts["exact"] - sum(runas.values())
    how = "root" if snap.device.rooted else "shell"
    n = len(counted)
    if counts["exact"] == n and n:
        parts = [f"all {n} processes exact ({how})"] if not runas else parts
    else:
        other = " other" if runas else ""
        if exact_other:
            parts.append(f"{exact_other}{other} processes exact ({how})")
        est = [pid for pid, g in grades.items() if g == "estimated"]
        if est:
            names: list[str] = []
            for pid in est:
                for s in estimated_from(snap.processes[pid]):
                    if s not in names:
                        names.append(s)
            parts.append(f"{len(est)}{other} processes estimated from {', '.join(names)}")
        if counts["unknown"]:
            parts.append(f"{counts['unknown']} unknown")
    if unatt is not None and (unatt or counts["exact"] != n):
        parts.append(f"{human_size(unatt)} unattributed" + (f" (of {human_size(total)}, {source})" if total is not None else ""))
    elif unatt is None and counts["exact"] != n:
        parts.append("unattributed bytes unknown (the device reports no dma-buf total the shell may read)")
    return Coverage(grades, counts, upper, unatt, total, source, "; ".join(parts))


def _pss_upper(snap: Snapshot, grades: dict[int, str]) -> dict[int, int]:
    """Exact processes holding buffers that unreadable processes may share (the kernel's count
    is above the references seen, and some process could not be read): pid -> such buffers."""
    if all(g == "exact" for g in grades.values()):
        return {}
    out: dict[int, int] = {}
    for b in snap.buffers.values():
        if b.count is None or not b.holders:
            continue
        seen = sum(len(h.fds) + len(h.maps) for h in b.holders.values())
        if b.count > seen:
            for pid in b.holders:
                if grades.get(pid) == "exact":
                    out[pid] = out.get(pid, 0) + 1
    return out


def pss_note(cov: Coverage, pid: int) -> str | None:
    n = cov.pss_upper.get(pid)
    if not n:
        return None
    return (f"pss is an upper bound: {n} of its buffers have more references than the readable "
            "processes hold (shared with processes that could not be read, or the kernel)")


def package_lines(snap: Snapshot, packages) -> tuple[list[str], bool]:
    """For --package: a line for each app that could not be read exactly (refused by run-as, not
    installed, no running process), and whether nothing at all was measured (no app read and no
    buffer seen: the command then exits 2)."""
    lines: list[str] = []
    read_any = False
    for pkg in packages:
        src = snap.sources.get(f"run-as:{pkg}")
        procs = [p for p in snap.processes.values() if p.package == pkg]
        exact = [p for p in procs if grade(p) == "exact"]
        if exact:
            read_any = True
            if src is not None and src.status not in ("ok", "missing"):
                lines.append(f"{pkg}: {src.detail}")
            continue
        if src is not None and src.status != "ok":
            lines.append(f"{pkg}: {src.detail}" if not src.detail.startswith(pkg) else src.detail)
        elif not procs:
            lines.append(f"{pkg} has no running process: nothing to read")
        else:
            lines.append(f"{pkg}: its processes could not be read (estimates only)")
    return lines, bool(packages) and not read_any and not snap.buffers
