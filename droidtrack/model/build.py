"""Records -> one Snapshot: join every source on buffer identity, decide which source wins for each
field, record provenance, and never attribute a reference it cannot place.

Identity: a buffer is its inode wherever the kernel gives one (fdinfo `ino:`, the maps inode
column, the sysfs stats directory, bufinfo's ino column). Two records that share an inode but
disagree on size are two buffers (32-bit inode reuse on old kernels) and a problem says so.
Without inodes (4.9-era kernels: `anon_inode:dmabuf` everywhere) per-process references cannot be
joined to buffers at all; they are counted per process, and the buffers' holders are marked
unknown rather than guessed.

Which source wins, per field:
  size      BPF iterator > sysfs stats > bufinfo > fdinfo > the VMA length (a lower bound, said so)
  exporter  BPF iterator > sysfs stats > bufinfo > fdinfo
  name      bufinfo > fdinfo > the fd link / maps path ("/dmabuf:<name>") = BPF iterator (which
            prints a newline in a name as a space; fed first, so it wins that tie)
  count     bufinfo (the file's raw refcount) > fdinfo
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from operator import attrgetter

from droidtrack.model import Buffer, DeviceInfo, Holding, MapRef, Process, Snapshot, SourceStatus
from droidtrack.parse.grepout import record_builder
from droidtrack.model import owners
from droidtrack.model.problems import Problem, ProblemLog
from droidtrack.model.tags import Rules, load_rules

# Which source wins each field: the one rank table. A field keeps the value of the source with
# the highest rank that offered one (the first of equal ranks). Sources not listed for a field rank
# 0. A name with a dot ("dmabuf_dump.rss") is a way of reading a source that is trusted less or
# more than its plain name: pass it as `rank_as` with the source's plain name as provenance.
RANKS: dict[str, dict[str, int]] = {
    "size": {"dmabuf_iter": 5, "sysfs": 4, "bufinfo": 3, "dmabuf_dump.sysfs": 3, "fdinfo": 2, "dmabuf_dump": 2,
             "dmabuf_dump.refs": 2, "dmabuf_dump.rss": 1, "dmaprocs": 1, "memtrack": 1, "maps": -1},
    "exporter": {"dmabuf_iter": 5, "sysfs": 4, "bufinfo": 3, "dmabuf_dump.sysfs": 3, "fdinfo": 2, "dmabuf_dump": 2,
                 "dmabuf_dump.rss": 1, "dmaprocs": 1},
    "name": {"bufinfo": 3, "fdinfo": 2, "dmaprocs": 2, "fdlink": 1, "maps": 1, "memtrack": 1,
             "dmabuf_dump.rss": 1, "dmabuf_iter": 1},
    "count": {"bufinfo": 2, "fdinfo": 1},
}
SIZE_RANK, EXPORTER_RANK, NAME_RANK, COUNT_RANK = (RANKS[f] for f in ("size", "exporter", "name", "count"))


def rank(fieldname: str, source: str) -> int:
    """The rank table's word on how far `source` is trusted for `fieldname`."""
    return RANKS[fieldname].get(source, 0)


# the model's frozen records, built without a frozen dataclass's per-field object.__setattr__
# (the same objects: see record_builder); every field is given, in declaration order
_mk_buffer = record_builder(Buffer)
_mk_holding = record_builder(Holding)
_mk_process = record_builder(Process)
_by_start = attrgetter("start")


@dataclass(slots=True)
class BufferDraft:
    key: str
    inode: int | None = None
    size: int | None = None
    exporter: str | None = None
    name: str | None = None
    count: int | None = None
    attached: tuple[str, ...] = ()
    fds: dict[int, list[int]] = field(default_factory=dict)          # pid -> fds
    maps: dict[int, list[MapRef]] = field(default_factory=dict)      # pid -> VMAs
    sources: set[str] = field(default_factory=set)
    provenance: dict[str, str] = field(default_factory=dict)
    rank: dict[str, int] = field(default_factory=dict)            # field -> rank of its value

    def offer(self, fieldname: str, value, source: str, *, rank_as: str | None = None) -> None:
        """Take `value` for `fieldname` if `source` outranks what gave the current value (RANKS;
        `rank_as`: the table's row to rank by, when it is not `source`)."""
        if value is None:
            return
        r = RANKS[fieldname].get(source if rank_as is None else rank_as, 0)
        old = self.rank.get(fieldname)
        if old is None or r > old:
            setattr(self, fieldname, value)
            self.rank[fieldname] = r
            self.provenance[fieldname] = source

    def offer_fields(self, source: str, size: int | None, exporter: str | None, name: str | None,
                     count: int | None) -> None:
        """offer() of size, exporter, name and count (in that order) by the rank table: one call per
        record for the sources that say several fields at once."""
        rank = self.rank
        if size is not None:
            r = SIZE_RANK.get(source, 0)
            old = rank.get("size")
            if old is None or r > old:
                self.size = size
                rank["size"] = r
                self.provenance["size"] = source
        if exporter is not None:
            r = EXPORTER_RANK.get(source, 0)
            old = rank.get("exporter")
            if old is None or r > old:
                self.exporter = exporter
                rank["exporter"] = r
                self.provenance["exporter"] = source
        if name is not None:
            r = NAME_RANK.get(source, 0)
            old = rank.get("name")
            if old is None or r > old:
                self.name = name
                rank["name"] = r
                self.provenance["name"] = source
        if count is not None:
            r = COUNT_RANK.get(source, 0)
            old = rank.get("count")
            if old is None or r > old:
                self.count = count
                rank["count"] = r
                self.provenance["count"] = source


@dataclass(slots=True)
class ProcessDraft:
    pid: int
    name: str = ""
    cmdline: tuple[str, ...] = ()
    uid: int | None = None
    ppid: int | None = None
    tgid: int | None = None
    oom_score_adj: int | None = None
    fds_readable: bool | None = None
    maps_readable: bool | None = None
    reported: dict[str, int] = field(default_factory=dict)
    read_as: str | None = None


class Builder:
    """Collects records from any number of sources, then `finish()` makes the Snapshot."""

    def __init__(self, rules: Rules | None = None, owner_rules: owners.OwnerRules | None = None) -> None:
        self.rules = rules or load_rules()
        self.owner_rules = owner_rules or getattr(rules, "owners", None) or owners.load_owner_rules()
        self.buffers: dict[str, BufferDraft] = {}
        self.processes: dict[int, ProcessDraft] = {}
        self.sources: dict[str, SourceStatus] = {}
        self.problems: ProblemLog = ProblemLog()     # capped per kind: see model/problems.py
        self.reported: dict[str, int] = {}
        self.device: dict = {}
        # per-process references that could not be joined to a buffer: pid -> {"fds": n, "bytes": b}
        self.unjoined: dict[int, dict[str, int]] = {}
        self.identity_complete = True    # False when some references had no identity to join on
        # mappings of buffers without identity (anon_inode:dmabuf): (pid, start) -> MapRef, for a
        # source that names them later (memtrack lists its VMAs)
        self.legacy_maps: dict[tuple[int, int], MapRef] = {}
        self.anon_pids: set[int] = set()   # processes with such references (fd links or maps)
        # holdings known only by kind, from processed dumps: buffer key -> {pid: Holding(by=...)}
        self.explicit_holdings: dict[str, dict[int, Holding]] = {}
        self._anon = 0
        # SurfaceFlinger's gralloc rows (ingest/surfaceflinger.py): joined to buffers in finish()
        self.gralloc_rows: list = []

    # ---- buffers ---------------------------------------------------------------------------
    def records(self, res) -> list:
        """A parse's records, its problems kept as the snapshot's (what every feeder does first)."""
        self.problems.extend(res.problems)
        return res.records

    def buffer_by_inode(self, inode: int, size: int | None, source: str) -> BufferDraft:
        key = f"ino:{inode}"
        b = self.buffers.get(key)
        if b is None:
            b = self.buffers[key] = BufferDraft(key, inode=inode)
        elif size is not None and b.size is not None and size != b.size and source != "maps":
            # same inode, different size: a reused 32-bit inode, or a buffer freed and replaced
            # between two reads. Keep them apart rather than merge two buffers into one.
            alt = f"ino:{inode}:{size}"
            if alt not in self.buffers:
                self.problems.append(Problem(source, f"inode {inode} seen with sizes {b.size} "
                                             f"({b.provenance.get('size')}) and {size} ({source}): kept as two buffers"))
                self.buffers[alt] = BufferDraft(alt, inode=inode)
            b = self.buffers[alt]
        b.sources.add(source)
        return b

    def anonymous_buffer(self, source: str) -> BufferDraft:
        self._anon += 1
        key = f"{source}:{self._anon}"
        b = self.buffers[key] = BufferDraft(key)
        b.sources.add(source)
        return b

    def process(self, pid: int) -> ProcessDraft:
        p = self.processes.get(pid)
        if p is None:
            p = self.processes[pid] = ProcessDraft(pid)
        return p

    def add_fd_ref(self, b: BufferDraft, pid: int, fd: int) -> None:
        fds = b.fds.setdefault(pid, [])
        if fd not in fds:
            fds.append(fd)

    def add_map_ref(self, b: BufferDraft, pid: int, m: MapRef) -> None:
        vmas = b.maps.setdefault(pid, [])
        if all(v.start != m.start for v in vmas):
            vmas.append(m)

    def unjoined_ref(self, pid: int, kind: str, nbytes: int | None) -> None:
        u = self.unjoined.setdefault(pid, {"fds": 0, "maps": 0, "bytes": 0})
        u[kind] += 1
        if nbytes:
            u["bytes"] += nbytes

    # ---- finish ----------------------------------------------------------------------------
    def finish(self, *, time: float, origin: str = "", serial: str | None = None,
               previous_owners: dict | None = None) -> Snapshot:
        """The Snapshot, with every buffer's owner (model/owners.py); `previous_owners`: the
        previous snapshot's of the same device, where a source has one (a last app holder)."""
        # fold threads into their thread-group leader
        tg = {pid: p.tgid for pid, p in self.processes.items() if p.tgid and p.tgid != pid}
        if tg:
            for b in self.buffers.values():
                for table in (b.fds, b.maps):
                    for tid in [t for t in table if t in tg]:
                        refs = table.pop(tid)
                        dst = table.setdefault(tg[tid], [])
                        dst.extend(r for r in refs if r not in dst)
            for tid, leader in tg.items():
                src = self.processes.pop(tid)
                dst = self.process(leader)
                for k, v in src.reported.items():
                    dst.reported.setdefault(k, v)

        coverage_complete = self.identity_complete and all(
            p.fds_readable is not False and p.maps_readable is not False for p in self.processes.values())
        procs: dict[int, Process] = {}
        mk_proc = _mk_process
        for pid, p in self.processes.items():
            u = self.unjoined.get(pid)
            rep = dict(p.reported)
            if u:
                rep["unjoined_fds"] = u["fds"]
                rep["unjoined_maps"] = u["maps"]
                if u["bytes"]:
                    rep["unjoined_bytes"] = u["bytes"]
            procs[pid] = mk_proc(pid, p.name, p.cmdline, p.uid, p.ppid, p.oom_score_adj, p.fds_readable,
                                 p.maps_readable, rep, p.read_as)

        # what the tag rules see of each process (its names, and its package) as bit masks of the
        # rules they match: a buffer's holders are folded by OR-ing their masks (Rules.tag_by_masks)
        rules = self.rules
        masks: dict[int, tuple[int, int]] = {}
        for pid, pr in procs.items():
            pkg = pr.package
            masks[pid] = (rules.holder_mask(x for x in (pr.name, pr.cmdline[0] if pr.cmdline else "") if x),
                          rules.package_mask((pkg,)) if pkg else 0)
        tag_by_masks = rules.tag_by_masks
        mk_buffer = _mk_buffer
        mk_holding = _mk_holding
        by_start = _by_start
        explicit = self.explicit_holdings
        buffers: dict[str, Buffer] = {}
        # the model's records are immutable, so equal ones are made once and shared: a holding by
        # one fd and no mapping (most holdings: fd numbers repeat across processes), a sources tuple
        # (a handful of combinations). Fewer objects to make, and for the cyclic GC to walk.
        by_fd: dict[int, Holding] = {}
        source_sets: dict[tuple, tuple] = {}
        for key, d in self.buffers.items():
            if d.size is None:
                self.problems.append(Problem("build", f"buffer {key}: no source gave its size: left out"))
                continue
            holders: dict[int, Holding] = {}
            fds, maps = d.fds, d.maps
            hm = pm = 0
            if fds or maps:
                for pid in set(fds) | set(maps):
                    f = fds.get(pid)
                    m = maps.get(pid)
                    if not m:
                        if f and len(f) == 1 and type(f[0]) is int:
                            h = by_fd.get(f[0])
                            if h is None:
                                h = by_fd[f[0]] = mk_holding((f[0],), (), None)
                        else:
                            h = mk_holding(tuple(sorted(f)) if f else (), (), None)
                    else:
                        if not f:
                            f = ()
                        elif len(f) == 1:
                            f = (f[0],)
                        else:
                            f = tuple(sorted(f))
                        h = mk_holding(f, (m[0],) if len(m) == 1 else tuple(sorted(m, key=by_start)), None)
                    holders[pid] = h
                    mm = masks.get(pid)
                    if mm is not None:
                        hm |= mm[0]
                        pm |= mm[1]
            if key in explicit:
                for pid, h in explicit[key].items():
                    holders.setdefault(pid, h)
                    mm = masks.get(pid)
                    if mm is not None:
                        hm |= mm[0]
                        pm |= mm[1]
            tag, rule = tag_by_masks(d.exporter, d.name, bool(holders), hm, pm)
            src = tuple(sorted(d.sources))
            src = source_sets.setdefault(src, src)
            buffers[key] = mk_buffer(key, d.size, d.inode, d.exporter, d.name, d.count, d.attached, holders,
                                     tag, rule, src, dict(d.provenance), coverage_complete)
        for pid in {pid for b in buffers.values() for pid in b.holders} - set(procs):
            procs[pid] = Process(pid=pid)
            self.problems.append(Problem("build", f"pid {pid} holds buffers but its status was not read "
                                         "(it may have exited during the scan)"))
        dev = self.device
        device = DeviceInfo(serial=serial, model=dev.get("model"), manufacturer=dev.get("manufacturer"),
                            fingerprint=dev.get("fingerprint"), release=dev.get("release"),
                            sdk=dev.get("sdk"), kernel=dev.get("kernel"), uid=dev.get("uid"),
                            selinux_context=dev.get("selinux_context"))
        snap = Snapshot(time=time, device=device, buffers=buffers, processes=procs,
                        sources=dict(self.sources), problems=(), reported=dict(self.reported), origin=origin)
        names = None
        if self.gralloc_rows:
            names, join_problems = owners.gralloc_names(snap, self.gralloc_rows)
            self.problems.extend(join_problems)
        found = owners.infer(snap, self.owner_rules, previous_owners, names)     # reads the snapshot's processes
        self.problems.extend(found.problems)
        return replace(snap, owners=found.owners, problems=tuple(self.problems.summarized()))
