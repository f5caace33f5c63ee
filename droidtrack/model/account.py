"""Exact accounting over a Snapshot: every byte once, integer arithmetic only.

Per process:
  rss      bytes of the buffers it holds by fd or by mapping (each buffer once per process)
  pss      each held buffer's size divided among its holders; the remainder of the division is
           handed out one byte at a time to the lowest pids, so the sum of pss over all processes
           equals the bytes of held buffers exactly
  fd_only  bytes of buffers it holds by fd and does not map: in no kernel counter at all
  mapped   bytes of buffers it maps (the whole buffer, whether the VMA covers all of it or not)
  in_rss   bytes smaps actually counts in Rss for its dma-buf VMAs (usually 0: dma-buf exporters
           map with VM_PFNMAP/VM_IO, so "mapped" does not mean "in RSS")
  by_tag   rss split by buffer tag; pss_by_tag the same for pss
  charged  bytes of the buffers it owns (model/owners.py: the process each buffer was made for),
           each buffer's whole size charged to exactly one owner
Totals: unique bytes, userspace (held) bytes, kernel-only bytes (buffers nobody holds), per tag and
per exporter, per owner (by_owner: owner name -> bytes, owner_gone: bytes whose owner runs no
process any more), and a reconciliation against every total the device reported itself.
Σ charged over processes + owner_gone + kernel_only + unattributed = bytes, exactly.

Groups (below): processes grouped by package or pattern, buffers by tag, and held buffers by
owner (owner_groups: every held buffer in exactly one owner's group; with the kernel-only and
unattributed bytes of Totals they add up to every byte).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from droidtrack.model import Owner, Snapshot
from droidtrack.model.owners import KERNEL, UNATTRIBUTED, owners_of
from droidtrack.model.units import human_size
from droidtrack.parse.grepout import record_builder


@dataclass(frozen=True, slots=True)
class ProcessAccount:
    pid: int
    buffers: int = 0
    rss: int = 0
    pss: int = 0
    fd_only: int = 0
    mapped: int = 0
    in_rss: int = 0
    fds: int = 0
    maps: int = 0
    by_tag: dict[str, int] = field(default_factory=dict)
    pss_by_tag: dict[str, int] = field(default_factory=dict)
    by_exporter: dict[str, int] = field(default_factory=dict)
    charged: int = 0


@dataclass(frozen=True, slots=True)
class ReconLine:
    label: str
    bytes: int | None
    source: str            # "droidtrack" for our own sums, else the source key that reported it
    note: str = ""


@dataclass(frozen=True, slots=True)
class Totals:
    buffers: int
    bytes: int             # unique bytes of every buffer seen
    userspace: int         # bytes of buffers at least one process holds
    kernel_only: int       # bytes of buffers no process holds
    kernel_only_buffers: tuple[str, ...]   # their keys, largest first (then by key)
    unattributed: int      # bytes of unheld buffers whose holders could not all be read
    fd_only: int           # unique bytes of held buffers that no holder maps
    mapped: int            # unique bytes of buffers mapped by at least one process
    sum_rss: int
    sum_pss: int
    by_tag: dict[str, int]
    by_exporter: dict[str, int]
    buffers_by_tag: dict[str, int]
    buffers_by_exporter: dict[str, int] = field(default_factory=dict)
    by_owner: dict[str, int] = field(default_factory=dict)    # held bytes per owner name
    owner_gone: int = 0    # held bytes whose owner is no running process (an exited last app holder)
    charged: int = 0       # held bytes charged to running processes: Σ charged = userspace - owner_gone


@dataclass(frozen=True, slots=True)
class Accounting:
    processes: dict[int, ProcessAccount]
    totals: Totals
    reconciliation: tuple[ReconLine, ...]
    owners: dict[str, Owner] = field(default_factory=dict)   # buffer key -> the owner charged it


def _add(d: dict[str, int], k: str, v: int) -> None:
    d[k] = d.get(k, 0) + v


# per-process row while accounting: the ProcessAccount fields after pid, in order
_BUFFERS, _RSS, _PSS, _FD_ONLY, _MAPPED, _IN_RSS, _FDS, _MAPS, _BY_TAG, _PSS_BY_TAG, _BY_EXP, _CHARGED = range(12)
_mk_process_account = record_builder(ProcessAccount)


def account(snap: Snapshot) -> Accounting:
    acc: dict[int, list] = {}
    total_bytes = userspace = kernel_only = fd_only_u = mapped_u = unattributed = 0
    ko: list[str] = []
    by_tag: dict[str, int] = {}
    by_exp: dict[str, int] = {}
    n_by_tag: dict[str, int] = {}
    n_by_exp: dict[str, int] = {}
    by_owner: dict[str, int] = {}
    owner_gone = 0
    owners = owners_of(snap)
    for b in snap.buffers.values():
        size = b.size
        total_bytes += size
        tag = b.tag
        exp = b.exporter or "<unknown>"
        by_tag[tag] = by_tag.get(tag, 0) + size
        by_exp[exp] = by_exp.get(exp, 0) + size
        n_by_tag[tag] = n_by_tag.get(tag, 0) + 1
        n_by_exp[exp] = n_by_exp.get(exp, 0) + 1
        holders = b.holders
        if not holders:
            if b.holders_known:
                kernel_only += size
                ko.append(b.key)
            else:
                unattributed += size
            continue
        userspace += size
        o = owners[b.key]
        by_owner[o.name] = by_owner.get(o.name, 0) + size
        if o.pid is None:
            owner_gone += size
        else:
            r = acc.get(o.pid)
            if r is None:           # an owner need not hold it (named by the buffer, last app holder)
                r = acc[o.pid] = [0, 0, 0, 0, 0, 0, 0, 0, {}, {}, {}, 0]
            r[_CHARGED] += size
        pids = sorted(holders) if len(holders) > 1 else holders
        share, rem = divmod(size, len(holders))
        any_map = unknown_how = False
        i = 0
        for pid in pids:
            h = holders[pid]
            r = acc.get(pid)
            if r is None:
                r = acc[pid] = [0, 0, 0, 0, 0, 0, 0, 0, {}, {}, {}, 0]
            p = share + 1 if i < rem else share
            i += 1
            r[_BUFFERS] += 1
            r[_RSS] += size
            r[_PSS] += p
            maps = h.maps
            r[_FDS] += len(h.fds)
            r[_MAPS] += len(maps)
            by = h.by
            if maps if by is None else "map" in by:          # Holding.by_map
                any_map = True
                r[_MAPPED] += size
                for m in maps:
                    if m.rss:
                        r[_IN_RSS] += m.rss
            elif by != "unknown":                               # Holding.known
                r[_FD_ONLY] += size
            else:
                unknown_how = True
            d = r[_BY_TAG]
            d[tag] = d.get(tag, 0) + size
            d = r[_PSS_BY_TAG]
            d[tag] = d.get(tag, 0) + p
            d = r[_BY_EXP]
            d[exp] = d.get(exp, 0) + size
        if any_map:
            mapped_u += size
        elif not unknown_how:
            fd_only_u += size
    mk = _mk_process_account
    procs = {pid: mk(pid, *r) for pid, r in acc.items()}
    sum_rss = sum(r[_RSS] for r in acc.values())
    sum_pss = sum(r[_PSS] for r in acc.values())
    totals = Totals(
        buffers=len(snap.buffers), bytes=total_bytes, userspace=userspace, kernel_only=kernel_only,
        kernel_only_buffers=_largest_first(snap, ko), unattributed=unattributed, fd_only=fd_only_u, mapped=mapped_u, sum_rss=sum_rss,
        sum_pss=sum_pss, by_tag=by_tag, by_exporter=by_exp, buffers_by_tag=n_by_tag,
        buffers_by_exporter=n_by_exp, by_owner=by_owner, owner_gone=owner_gone,
        charged=sum(r[_CHARGED] for r in acc.values()))
    return Accounting(procs, totals, reconcile(snap, totals), owners)


def _largest_first(snap: Snapshot, keys: list[str]) -> tuple[str, ...]:
    """Buffer keys in the order the JSON lists buffers: a reloaded snapshot gives the same list."""
    bufs = snap.buffers
    return tuple(sorted(keys, key=lambda k: (-bufs[k].size, k))) if len(keys) > 1 else tuple(keys)


# what each reported total means, for the reconciliation's notes
_REPORTED_NOTES = {
    "bufinfo.total": "debugfs bufinfo 'Total … bytes': every buffer the kernel has",
    "sysfs.total": "sum of /sys/kernel/dmabuf/buffers sizes: every exported buffer",
    "dmabuf_iter.total": "sum of the BPF dma-buf iterator's sizes: every buffer the kernel has",
    "ion.total_heaps": "ION heaps in use (/sys/kernel/ion/total_heaps_kb)",
    "ion.total_pools": "ION page pools, free memory kept for reuse: not buffers",
    "dma_heap.total_pools": "dma-heap page pools: free memory kept for reuse, not buffers",
    "ion.debugfs.total": "sum of ION debugfs heap totals",
    "proc_meminfo.ion_used": "/proc/meminfo 'IonTotalUsed' (a vendor line: dma-buf heap pages in use)",
    "proc_meminfo.ion_cache": "/proc/meminfo 'IonTotalCache' (a vendor line: heap pools, free memory kept for reuse)",
    "proc_meminfo.gpu_used": "/proc/meminfo 'GPUTotalUsed' (a vendor line: the GPU driver's pages)",
    "proc_meminfo.gpu_total": "/proc/meminfo 'GpuTotal' (a vendor line: the GPU driver's pages)",
    "dumpsys.dmabuf": "dumpsys meminfo 'DMA-BUF:' (framework's view of exported dma-bufs)",
    "dumpsys.dmabuf_mapped": "dumpsys meminfo 'DMA-BUF: … mapped'",
    "dumpsys.dmabuf_unmapped": "dumpsys meminfo 'DMA-BUF: … unmapped'",
    "dumpsys.dmabuf_heaps": "dumpsys meminfo 'DMA-BUF Heaps:'",
    "dumpsys.ion": "dumpsys meminfo 'ION:'",
    "dumpsys.gpu": "dumpsys meminfo 'GPU:' (includes GPU-imported dma-bufs)",
    "dmabuf_dump.total": "dmabuf_dump 'dmabuf total'",
    "dmabuf_dump.userspace_rss": "dmabuf_dump 'userspace_rss'",
    "dmabuf_dump.kernel_rss": "dmabuf_dump 'kernel_rss'",
    "gpu.mali.device": "Mali gpu_memory device line: pages the GPU driver holds (its own and imported)",
    "gpu.gpu_mem.global": "dumpsys gpu 'Global total' (gpu_mem eBPF: GPU memory of every process)",
    "surfaceflinger.gralloc_allocated": "dumpsys SurfaceFlinger 'Total allocated by GraphicBufferAllocator' "
                                        "(stride × height estimate of SurfaceFlinger's own allocations)",
    "surfaceflinger.gralloc_imported": "dumpsys SurfaceFlinger 'Total imported by gralloc' (buffers it imported)",
    "memcg.kernel": "memory.stat 'kernel' of the root cgroup: dma_heap.mem_accounting=1 charges system-heap "
                    "pages there, with other kernel memory: an upper bound",
    "memcg.kernel_top": "Σ memory.stat 'kernel' of the top-level cgroups: dma_heap.mem_accounting=1 charges "
                        "system-heap pages there (not those allocated from the root cgroup), with other kernel "
                        "memory: an upper bound",
}


def reconcile(snap: Snapshot, t: Totals) -> tuple[ReconLine, ...]:
    lines = [
        ReconLine("unique buffers", t.bytes, "droidtrack", f"{t.buffers} buffers, each counted once"),
        ReconLine("held by processes", t.userspace, "droidtrack", "= Σ PSS over processes"),
        ReconLine("Σ RSS over processes", t.sum_rss, "droidtrack",
                  "a buffer shared by N processes counts N times"),
        ReconLine("Σ PSS over processes", t.sum_pss, "droidtrack", "each buffer split among its holders"),
        ReconLine("kernel-only", t.kernel_only, "droidtrack",
                  f"{len(t.kernel_only_buffers)} buffers no process holds by fd or mapping")
        if t.kernel_only or all(p.fds_readable is not False and p.maps_readable is not False
                                for p in snap.processes.values()) else
        ReconLine("kernel-only", None, "droidtrack",
                  "not known: some processes could not be read, so no buffer is proven kernel-only"),
        ReconLine("unattributed", t.unattributed, "droidtrack",
                  "no visible holder, but some processes could not be read: not proven kernel-only"),
        ReconLine("fd-only (in no RSS)", t.fd_only, "droidtrack",
                  "held by fd and mapped by nobody: invisible to every per-process kernel counter"),
    ]
    for key in sorted(snap.reported):
        val = snap.reported[key]
        note = _REPORTED_NOTES.get(key, "")
        if key in ("bufinfo.total", "sysfs.total", "dmabuf_iter.total", "dumpsys.dmabuf", "dmabuf_dump.total"):
            diff = val - t.bytes
            if diff:
                note += f" ({human_size(diff, signed=True)} vs droidtrack's unique total)"
            else:
                note += " (matches droidtrack's unique total)"
        elif key in _MEMCG:
            sysb = system_heap_bytes(snap)
            # more is no contradiction: what processes in the root cgroup allocate is charged to no
            # cgroup (measured on 7.3: the root's 'kernel' stays 0 with every process in it)
            note += (f"; system-heap buffers: {human_size(sysb)}" + (
                " (more than the bound: those allocated from the root cgroup are charged to no cgroup)"
                if sysb > val else ""))
        lines.append(ReconLine(key, val, key, note))
    return tuple(lines)


# ---- memory cgroups (dma_heap.mem_accounting, Linux 7.0+): an upper bound of the system heap --
SYSTEM_HEAP = "system"        # the system heap's exporter name (drivers/dma-buf/heaps/system_heap.c)
_MEMCG = ("memcg.kernel", "memcg.kernel_top")


def memcg_kernel_total(figures: dict[str, int]) -> tuple[str | None, int, int]:
    """(reported key, bytes, cgroups summed) from memory.stat 'kernel' figures by cgroup ("" the
    root): the root's alone where read (it covers every cgroup), else Σ of the top-level ones."""
    if "" in figures:
        return "memcg.kernel", figures[""], 1
    if not figures:
        return None, 0, 0
    return "memcg.kernel_top", sum(figures.values()), len(figures)


def system_heap_bytes(snap: Snapshot) -> int:
    """Bytes of every system-heap buffer seen, held or kernel-only."""
    return sum(b.size for b in snap.buffers.values() if b.exporter == SYSTEM_HEAP)



def matching(bytes_by: dict[str, int], match) -> tuple[int, tuple[str, ...]]:
    """The bytes of the keys `match` selects in one of Totals' splits by a key every buffer has
    exactly one of (by_tag, by_exporter, by_owner), so that a buffer is counted once; and those
    keys, sorted. For budgets over globs of exporters or owners."""
    keys = tuple(sorted(k for k in bytes_by if match(k)))
    return sum(bytes_by[k] for k in keys), keys


# ---- groups: packages, tags, process patterns (the TUI's rows, budgets, reports) ------------

@dataclass(frozen=True, slots=True)
class GroupAccount:
    """What a group holds, each buffer once per group (a buffer two members share counts once).

    rss/fd_only/mapped follow the per-process rules over the group's holdings of a buffer: mapped
    when a member maps it; fd-only when members hold it by fd only; neither when some member's
    holding is of unknown kind and none maps it. pss is the members' PSS (of the group's tag, for
    a tag group), so groups that split the processes add up to Σ PSS exactly; charged likewise
    adds up to Totals.charged. A group whose members hold nothing but are charged (a buffer its
    name gives them, held by a service) is there too, with its charged bytes."""
    key: str
    pids: tuple[int, ...]          # the members holding or charged something, ascending
    buffers: int = 0
    rss: int = 0
    pss: int = 0
    fd_only: int = 0
    mapped: int = 0
    in_rss: int = 0
    by_tag: dict[str, int] = field(default_factory=dict)
    charged: int = 0               # Σ charged of the members (a tag group: its held bytes, = rss)
    by_exporter: dict[str, int] = field(default_factory=dict)   # rss split by exporter


def process_groups(snap: Snapshot, acc: Accounting, group_of: dict[int, str]) -> dict[str, GroupAccount]:
    """Processes grouped as `group_of` says (pid -> group name: a package, a budget's pattern, an
    owner); holders missing from it are left out."""
    return _groups(snap, acc, group_of)


def package_group(snap: Snapshot, acc: Accounting, packages) -> GroupAccount:
    """The processes of these Android packages (Process.package: the app's main process, its
    `pkg:service` processes and its isolated ones) as one group, each buffer once: what
    `check --package` budgets. Empty (no pids) when none of them runs or holds anything."""
    want = set(packages)
    key = ", ".join(packages)
    group_of = {pid: key for pid, p in snap.processes.items() if p.package in want}
    return _groups(snap, acc, group_of).get(key) or GroupAccount(key, ())


def tag_groups(snap: Snapshot, acc: Accounting) -> dict[str, GroupAccount]:
    """Held buffers grouped by tag, with the processes holding them (kernel-only ones are in totals)."""
    return _groups(snap, acc, None)


def _groups(snap: Snapshot, acc: Accounting, group_of: dict[int, str] | None) -> dict[str, GroupAccount]:
    rows: dict[str, list] = {}      # group -> [pids, buffers, rss, fd_only, mapped, in_rss, by_tag, by_exporter]
    how: dict[str, int] = {}        # this buffer: group -> 1 (a member maps it) | 2 (unknown kind) | 0
    get = None if group_of is None else group_of.get
    for b in snap.buffers.values():
        hs = b.holders
        if not hs:
            continue
        tag = b.tag
        exp = b.exporter or "<unknown>"
        size = b.size
        how.clear()
        for pid, h in hs.items():
            g = tag if get is None else get(pid)
            if g is None:
                continue
            r = rows.get(g)
            if r is None:
                r = rows[g] = [set(), 0, 0, 0, 0, 0, {}, {}]
            if get is None:
                r[0].add(pid)
            by = h.by
            if h.maps if by is None else "map" in by:
                how[g] = how.get(g, 0) | 1
                for m in h.maps:
                    if m.rss:
                        r[5] += m.rss
            else:
                how[g] = how.get(g, 0) | (2 if by == "unknown" else 0)
        for g, k in how.items():
            r = rows[g]
            r[1] += 1
            r[2] += size
            if k & 1:
                r[4] += size
            elif not k & 2:
                r[3] += size
            d = r[6]
            d[tag] = d.get(tag, 0) + size
            d = r[7]
            d[exp] = d.get(exp, 0) + size
    procs = acc.processes
    if group_of is not None:                 # members: the grouped processes holding or charged something
        for pid, a in procs.items():
            g = group_of.get(pid)
            if g is not None and (g in rows or a.charged):
                r = rows.get(g)
                if r is None:                # charged what none of them holds (a buffer named for it)
                    r = rows[g] = [set(), 0, 0, 0, 0, 0, {}, {}]
                r[0].add(pid)
    out = {}
    for g, (pids, n, rss, fdo, mp, inr, bt, be) in rows.items():
        ps = tuple(sorted(pids))
        if group_of is None:
            pss = sum(procs[p].pss_by_tag.get(g, 0) for p in ps if p in procs)
            charged = rss                    # each held buffer of the tag, once, to its one owner
        else:
            pss = sum(procs[p].pss for p in ps if p in procs)
            charged = sum(procs[p].charged for p in ps if p in procs)
        out[g] = GroupAccount(g, ps, n, rss, pss, fdo, mp, inr, dict(sorted(bt.items())), charged,
                              dict(sorted(be.items())))
    return out


# ---- owners: whose the held bytes are (the snapshot table, the TUI, reports, exports, diffs) --

@dataclass(frozen=True, slots=True)
class OwnerAccount:
    """One owner's share of the held bytes (Totals.by_owner, with how it was decided): every held
    buffer's whole size is in exactly one owner's `bytes`."""
    name: str                      # Owner.name: a package, a process label
    bytes: int = 0
    buffers: int = 0
    gone: int = 0                  # of `bytes`, those whose owner runs no process (charged to none)
    pids: tuple[int, ...] = ()     # the processes charged, ascending
    by_rule: dict[str, int] = field(default_factory=dict)   # bytes per deciding rule, most first
    by_tag: dict[str, int] = field(default_factory=dict)
    package: str | None = None     # the owner's Android package, where it has one
    held_by: dict[int, int] = field(default_factory=dict)   # holder pid -> bytes of these buffers it holds


def owner_key(o: Owner) -> str:
    """Which owner a buffer's bytes go to, as one string: "o:NAME" for a held buffer (an
    owner_groups name), "kernel" (nobody holds it) or "unknown" (no visible holder, some processes
    unreadable). Device text follows a fixed prefix: a process named "kernel" is never the kernel."""
    if o.rule == KERNEL:
        return "kernel"
    if o.rule == UNATTRIBUTED:
        return "unknown"
    return "o:" + o.name


def owner_groups(snap: Snapshot, acc: Accounting | None = None) -> dict[str, OwnerAccount]:
    """Held buffers grouped by owner name, largest first (then by name). Σ bytes = Totals.userspace,
    Σ gone = Totals.owner_gone; kernel-only and unattributed bytes are in Totals. With `acc`, the
    owners it charged (no second inference where the snapshot carries none)."""
    rows: dict[str, list] = {}     # name -> [bytes, buffers, gone, pids, by_rule, by_tag, package, held_by]
    owners = acc.owners if acc is not None and acc.owners else owners_of(snap)
    for b in snap.buffers.values():
        hs = b.holders
        if not hs:
            continue
        o = owners[b.key]
        r = rows.get(o.name)
        if r is None:
            r = rows[o.name] = [0, 0, 0, set(), {}, {}, o.package, {}]
        size = b.size
        r[0] += size
        r[1] += 1
        if o.pid is None:
            r[2] += size
        else:
            r[3].add(o.pid)
        d = r[4]
        d[o.rule] = d.get(o.rule, 0) + size
        d = r[5]
        d[b.tag] = d.get(b.tag, 0) + size
        d = r[7]
        for pid in hs:
            d[pid] = d.get(pid, 0) + size
    order = sorted(rows.items(), key=lambda kv: (-kv[1][0], kv[0]))
    mk = _mk_owner_account
    return {n: mk(n, r[0], r[1], r[2], tuple(sorted(r[3])),
                  dict(sorted(r[4].items(), key=lambda kv: (-kv[1], kv[0]))) if len(r[4]) > 1 else r[4],
                  dict(sorted(r[5].items())) if len(r[5]) > 1 else r[5], r[6], r[7]) for n, r in order}


_mk_owner_account = record_builder(OwnerAccount)


# the device's own dma-buf totals a person can name, best first (for coverage's headline)
_DEVICE_TOTALS = (("sysfs.total", "sysfs stats"), ("bufinfo.total", "debugfs bufinfo"),
                  ("dmabuf_iter.total", "the BPF dma-buf iterator"), ("dmabuf_dump.total", "dmabuf_dump"),
                  ("dumpsys.dmabuf", "dumpsys meminfo"))


def unattributed_bytes(snap: Snapshot, t: Totals) -> tuple[int | None, int | None, str | None]:
    """(bytes no process was seen holding, of which device total, said by whom): with a complete
    kernel list of buffers, the unheld ones whose holders could not all be read; otherwise the
    device's reported total less what processes were seen holding and what is proven kernel-only.
    (None, None, None) when nothing says how many bytes there are (a user build without dumpsys)."""
    for key, label in _DEVICE_TOTALS:
        total = snap.reported.get(key)
        if total is None:
            continue
        listed = key in ("sysfs.total", "bufinfo.total", "dmabuf_iter.total")
        if listed:
            return t.unattributed, total, label
        return max(0, total - t.userspace - t.kernel_only), total, label
    src = snap.sources
    if any(src.get(k) is not None and src[k].status == "ok" for k in ("sysfs_stats", "bufinfo", "dmabuf_iter")):
        return t.unattributed, t.bytes, "listed buffers"
    return None, None, None
