"""What the TUI knows about one device: a bounded history of its snapshots, and for each new
snapshot a `Frame` with every aggregation the screens show, computed once (in the feed's worker
thread, off the UI thread) and then only read.

Nothing here imports Textual; it is plain data and tested as such.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

from droidtrack.ingest import gcpause
from droidtrack.model.account import Accounting, account, owner_key, process_groups, tag_groups
from droidtrack.model.owners import owners_of
from droidtrack.tui.owned import OwnerRow, owner_rows
from droidtrack.model import Buffer, Owner, Process, Snapshot

GROUPINGS = ("process", "package", "tag")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the processes view: a process, or a group of them (package, tag)."""
    key: str
    pids: tuple[int, ...]
    ident: str                     # the pid, or "3 procs"
    name: str                      # device-controlled: render with text.lit()
    rss: int
    pss: int
    fd_only: int
    mapped: int
    in_rss: int
    count: int
    by_tag: tuple[tuple[str, int], ...]   # widest first
    delta: int | None              # rss now minus rss at the first sample that had this row
    unreadable: bool = False       # some member's fds could not be read
    sort_ident: int = 0
    charged: int = 0               # bytes of the buffers it owns (model/owners.py), whoever holds them


@dataclass(frozen=True, slots=True)
class Coverage:
    sources: tuple[tuple[str, str, str], ...]   # (source, status, detail), sorted
    processes: int
    fds_unreadable: int
    maps_unreadable: int
    rooted: bool | None
    problems: int
    problem_samples: tuple[str, ...] = ()
    headline: str = ""          # model.coverage's: how much is exact ("com.example.camera exact (run-as); ...")


@dataclass(frozen=True, slots=True)
class TotalRow:
    """A tag or exporter with its bytes now and its recent history."""
    key: str
    bytes: int
    buffers: int
    spark: tuple[int, ...]
    delta: int | None


@dataclass(frozen=True, slots=True)
class KernelOnlyRow:
    key: str
    inode: int | None
    size: int
    exporter: str | None
    name: str | None
    tag: str
    age: float | None
    last_holder: str | None        # "label (pid N)", device-controlled
    last_held: float | None        # when it was last seen held


@dataclass(frozen=True, slots=True)
class LeakProc:
    key: str
    pid: int
    name: str
    base: int
    now: int
    samples: int


@dataclass(frozen=True, slots=True)
class LeakBuffer:
    key: str
    inode: int | None
    size: int
    exporter: str | None
    name: str | None
    tag: str
    age: float | None
    holders: str


@dataclass(frozen=True, slots=True)
class BaselineInfo:
    seq: int
    time: float
    auto: bool                     # True: the first sample (nobody pressed `b` yet)


@dataclass(slots=True)
class Frame:
    """Everything the screens show for one snapshot. Built once, read many times."""
    seq: int
    snapshot: Snapshot
    raw: bytes | None
    acc: Accounting
    rows: dict[str, dict[str, Row]]          # grouping -> row key -> Row
    owners: dict[str, OwnerRow]              # owner key -> OwnerRow
    coverage: Coverage
    tags: tuple[TotalRow, ...]
    exporters: tuple[TotalRow, ...]
    total_spark: tuple[int, ...]
    kernel_only: tuple[KernelOnlyRow, ...]
    leak_procs: tuple[LeakProc, ...]
    leak_buffers: tuple[LeakBuffer, ...]
    baseline: BaselineInfo | None
    first_seen: dict[str, tuple[float, int]]          # history's, read-only here
    last_holders: dict[str, tuple[float, tuple[int, ...], tuple[str, ...]]]
    labels: dict[int, str]
    _cache: dict = field(default_factory=dict)

    @property
    def time(self) -> float:
        return self.snapshot.time

    def first_seen_of(self, b: Buffer) -> float | None:
        fs = self.first_seen.get(b.key)
        if fs is None or fs[1] != b.size:
            return None
        return fs[0]

    def label(self, pid: int) -> str:
        return self.labels.get(pid) or f"pid {pid}"

    def owner_of(self, b: Buffer) -> Owner | None:
        return (self.acc.owners or owners_of(self.snapshot)).get(b.key)

    def buffers_owned(self, key: str) -> tuple[Buffer, ...]:
        """The buffers of owner `key` (an OwnerRow key), biggest first (memoized per frame)."""
        by = self._cache.get("owned")
        if by is None:
            owners = self.acc.owners or owners_of(self.snapshot)
            by = {}
            for b in self.snapshot.buffers.values():
                by.setdefault(owner_key(owners[b.key]), []).append(b)
            by = self._cache["owned"] = {k: tuple(sorted(v, key=lambda b: (-b.size, b.key))) for k, v in by.items()}
        return by.get(key, ())

    def buffers_of(self, pids: Iterable[int]) -> tuple[Buffer, ...]:
        """Buffers any of `pids` holds, biggest first (memoized per frame)."""
        pids = tuple(sorted(set(pids)))
        ck = ("buffers_of", pids)
        hit = self._cache.get(ck)
        if hit is None:
            ps = set(pids)
            if len(ps) == 1:
                (pid,) = ps
                hit = [b for b in self.snapshot.buffers.values() if pid in b.holders]
            else:
                hit = [b for b in self.snapshot.buffers.values() if not ps.isdisjoint(b.holders)]
            hit.sort(key=lambda b: (-b.size, b.key))
            hit = tuple(hit)
            self._cache[ck] = hit
        return hit


class Baseline:
    def __init__(self, seq: int, time: float, rss: dict[str, int], buffers: Iterable[str], auto: bool):
        self.info = BaselineInfo(seq, time, auto)
        self.base = dict(rss)              # process-row key -> rss when first seen since baseline
        self.last = dict(rss)
        self.grow_only = {k: True for k in rss}
        self.samples = {k: 1 for k in rss}
        self.buffers = frozenset(buffers)

    @classmethod
    def from_frame(cls, f: Frame, auto: bool = False) -> "Baseline":
        return cls(f.seq, f.time, {k: r.rss for k, r in f.rows["process"].items()},
                   f.snapshot.buffers.keys(), auto)


def short_label(p: Process) -> str:
    """The process's label, without the directory when it is an executable's path
    (/vendor/bin/hw/android.hardware.camera.provider@2.7-service -> the file name)."""
    lab = p.label
    if lab.startswith("/") and "/" in lab[1:]:
        base = lab.rsplit("/", 1)[1]
        return base or lab
    return lab


def _sorted_tags(d: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(((k, v) for k, v in d.items() if v), key=lambda kv: (-kv[1], kv[0])))


class DeviceTimeline:
    """Per-device memory across samples, bounded however long the session runs:

    - per-buffer first-seen time and last known holders, forgotten `forget_after` samples after the
      buffer was last seen, and never more than `max_tracked` entries;
    - per-row first value (for Δ), the same rule;
    - per-tag / per-exporter / total series: the last `recent` samples at full resolution (the
      sparklines) plus a downsampled long series (`Series`);
    - the leak baseline: one value per process row.
    """

    def __init__(self, *, recent: int = 60, forget_after: int = 600, max_tracked: int = 400_000,
                 max_series: int = 64) -> None:
        self.seq = 0
        self.recent = recent
        self.forget_after = forget_after
        self.max_tracked = max_tracked
        self.max_series = max_series
        self.first_seen: dict[str, tuple[float, int]] = {}
        self.last_holders: dict[str, tuple[float, tuple[int, ...], tuple[str, ...]]] = {}
        self.buf_seen: dict[str, int] = {}        # buffer key -> seq last seen
        self.first_row: dict[str, tuple[str, int]] = {}   # row key -> (name, rss at first sample)
        self.row_seen: dict[str, int] = {}
        self.tag_series: dict[str, deque] = {}
        self.exp_series: dict[str, deque] = {}
        self.total_series: deque = deque(maxlen=recent)
        self.long_total = Series()
        self.baseline: Baseline | None = None
        self.pending_baseline: Baseline | None = None
        self.first_tag: dict[str, int] = {}
        self.first_exp: dict[str, int] = {}

    def set_baseline(self, frame: Frame) -> None:
        """Called from the UI thread: the next ingest adopts it (a reference swap, no lock)."""
        self.pending_baseline = Baseline.from_frame(frame)

    # -- ingest ------------------------------------------------------------------------------
    def ingest(self, snap: Snapshot, raw: bytes | None = None, acc: Accounting | None = None) -> Frame:
        with gcpause.paused():          # the accounting and rows of a large device: no cycles
            return self._ingest(snap, raw, acc)

    def _ingest(self, snap: Snapshot, raw: bytes | None, acc: Accounting | None) -> Frame:
        self.seq += 1
        seq = self.seq
        now = snap.time
        acc = acc or account(snap)
        procs = snap.processes
        labels = {pid: short_label(p) for pid, p in procs.items()}

        # buffers: first seen, last holders
        first_seen = self.first_seen
        last_holders = self.last_holders
        buf_seen = self.buf_seen
        for key, b in snap.buffers.items():
            fs = first_seen.get(key)
            if fs is None or fs[1] != b.size:
                first_seen[key] = (now, b.size)
            buf_seen[key] = seq
            hs = b.holders
            if hs:
                pids = tuple(hs)
                old = last_holders.get(key)
                if old is not None and old[1] == pids:
                    last_holders[key] = (now, pids, old[2])
                else:
                    last_holders[key] = (now, pids, tuple(labels.get(p) or f"pid {p}" for p in pids))

        rows = {"process": self._process_rows(snap, acc, labels),
                "package": self._package_rows(snap, acc, labels),
                "tag": self._tag_rows(snap, acc)}
        for grouping in rows.values():
            for k, r in grouping.items():
                self.row_seen[k] = seq
        # Δ: rows are frozen, so fill delta by rebuilding the few fields
        for g, grouping in rows.items():
            for k, r in list(grouping.items()):
                first = self.first_row.get(k)
                if first is None or first[0] != r.name:
                    self.first_row[k] = first = (r.name, r.rss)
                grouping[k] = _with_delta(r, r.rss - first[1])

        t = acc.totals
        self.total_series.append(t.bytes)
        self.long_total.add(t.bytes)
        tags = self._totals(self.tag_series, self.first_tag, t.by_tag, t.buffers_by_tag)
        exporters = self._totals(self.exp_series, self.first_exp, t.by_exporter, t.buffers_by_exporter)

        kernel_only = []
        for key in t.kernel_only_buffers:
            b = snap.buffers[key]
            lh = last_holders.get(key)
            holder = held = None
            if lh is not None:
                held = lh[0]
                holder = ", ".join(f"{lab} ({pid})" for pid, lab in zip(lh[1], lh[2]))
            fs = first_seen.get(key)
            kernel_only.append(KernelOnlyRow(key, b.inode, b.size, b.exporter, b.name, b.tag,
                                             now - fs[0] if fs else None, holder, held))
        kernel_only.sort(key=lambda r: (-r.size, r.key))

        coverage = _coverage(snap, acc)

        owners = owner_rows(snap, acc, labels, self.first_row, self.row_seen, seq)
        frame = Frame(seq=seq, snapshot=snap, raw=raw, acc=acc, rows=rows, owners=owners, coverage=coverage,
                      tags=tags, exporters=exporters, total_spark=tuple(self.total_series),
                      kernel_only=tuple(kernel_only), leak_procs=(), leak_buffers=(), baseline=None,
                      first_seen=first_seen, last_holders=last_holders, labels=labels)

        # leaks against the baseline (the first sample unless the user set one)
        if self.pending_baseline is not None:
            self.baseline, self.pending_baseline = self.pending_baseline, None
        if self.baseline is None:
            self.baseline = Baseline.from_frame(frame, auto=True)
        frame.leak_procs, frame.leak_buffers = self._leaks(frame)
        frame.baseline = self.baseline.info

        if seq % 50 == 0 or len(buf_seen) > self.max_tracked:
            self._forget(seq)
        return frame

    def _process_rows(self, snap: Snapshot, acc: Accounting, labels: dict[int, str]) -> dict[str, Row]:
        out = {}
        procs = snap.processes
        for pid, a in acc.processes.items():
            p = procs.get(pid)
            key = f"p:{pid}"
            out[key] = Row(key, (pid,), str(pid), labels.get(pid) or f"pid {pid}", a.rss, a.pss,
                           a.fd_only, a.mapped, a.in_rss, a.buffers, _sorted_tags(a.by_tag), None,
                           bool(p is not None and p.fds_readable is False), pid, a.charged)
        return out

    def _package_rows(self, snap: Snapshot, acc: Accounting, labels: dict[int, str]) -> dict[str, Row]:
        procs = snap.processes
        group_of = {}
        for pid in acc.processes:
            p = procs.get(pid)
            group_of[pid] = (p.package or short_label(p)) if p is not None else f"pid {pid}"
        out = {}
        for g, a in process_groups(snap, acc, group_of).items():
            pids = a.pids
            unread = any(procs.get(p) is not None and procs[p].fds_readable is False for p in pids)
            ident = str(pids[0]) if len(pids) == 1 else f"{len(pids)} procs"
            out[f"k:{g}"] = Row(f"k:{g}", pids, ident, g, a.rss, a.pss, a.fd_only, a.mapped, a.in_rss, a.buffers,
                                _sorted_tags(a.by_tag), None, unread, len(pids), a.charged)
        return out

    def _tag_rows(self, snap: Snapshot, acc: Accounting) -> dict[str, Row]:
        out = {}
        for tag, a in tag_groups(snap, acc).items():
            ps = a.pids
            ident = f"{len(ps)} procs" if len(ps) != 1 else str(ps[0])
            out[f"t:{tag}"] = Row(f"t:{tag}", ps, ident, tag, a.rss, a.pss, a.fd_only, a.mapped, a.in_rss, a.buffers,
                                  ((tag, a.rss),), None, False, len(ps), a.charged)
        return out

    def _totals(self, series: dict[str, deque], first: dict[str, int], by: dict[str, int],
                counts: dict[str, int]) -> tuple[TotalRow, ...]:
        for k in set(series) - set(by):
            series[k].append(0)
        for k, v in by.items():
            s = series.get(k)
            if s is None:
                if len(series) >= self.max_series:
                    continue
                s = series[k] = deque(maxlen=self.recent)
            s.append(v)
            first.setdefault(k, v)
        rows = [TotalRow(k, v, counts.get(k, 0), tuple(series[k]) if k in series else (v,),
                         v - first.get(k, v)) for k, v in by.items()]
        rows.sort(key=lambda r: (-r.bytes, r.key))
        return tuple(rows)

    def _leaks(self, f: Frame) -> tuple[tuple[LeakProc, ...], tuple[LeakBuffer, ...]]:
        bl = self.baseline
        assert bl is not None
        procs = []
        if f.seq != bl.info.seq:
            for k, r in f.rows["process"].items():
                last = bl.last.get(k)
                if last is None:
                    bl.base[k] = bl.last[k] = r.rss
                    bl.grow_only[k] = True
                    bl.samples[k] = 1
                    continue
                if r.rss < last:
                    bl.grow_only[k] = False
                bl.last[k] = r.rss
                bl.samples[k] += 1
                if bl.grow_only[k] and r.rss > bl.base[k]:
                    procs.append(LeakProc(k, r.pids[0], r.name, bl.base[k], r.rss, bl.samples[k]))
        procs.sort(key=lambda p: (-(p.now - p.base), p.pid))
        bufs = []
        if f.seq != bl.info.seq:
            for key, b in f.snapshot.buffers.items():
                if key in bl.buffers:
                    continue
                fs = f.first_seen.get(key)
                holders = ", ".join(f"{f.label(p)} ({p})" for p in sorted(b.holders)) or "kernel only"
                bufs.append(LeakBuffer(key, b.inode, b.size, b.exporter, b.name, b.tag,
                                       f.time - fs[0] if fs else None, holders))
        bufs.sort(key=lambda b: (-b.size, b.key))
        return tuple(procs), tuple(bufs)

    def _forget(self, seq: int) -> None:
        """Drop what has not been seen for `forget_after` samples; then, if still too many, the
        longest unseen."""
        horizon = seq - self.forget_after
        stale = [k for k, s in self.buf_seen.items() if s < horizon]
        over = len(self.buf_seen) - len(stale) - self.max_tracked
        if over > 0:
            alive = sorted((s, k) for k, s in self.buf_seen.items() if s >= horizon)
            stale.extend(k for _, k in alive[:over])
        for k in stale:
            self.buf_seen.pop(k, None)
            self.first_seen.pop(k, None)
            self.last_holders.pop(k, None)
        for k in [k for k, s in self.row_seen.items() if s < horizon]:
            del self.row_seen[k]
            self.first_row.pop(k, None)
            if self.baseline is not None:
                for d in (self.baseline.base, self.baseline.last, self.baseline.grow_only,
                          self.baseline.samples):
                    d.pop(k, None)

    def tracked(self) -> int:
        """How many per-buffer entries the history holds (for tests of its bound)."""
        return len(self.buf_seen)


class Series:
    """A long time series in bounded memory: at most `cap` points; when full, neighbouring points
    merge (keeping the larger, so spikes survive) and each point then covers twice the samples."""

    def __init__(self, cap: int = 256) -> None:
        self.cap = cap
        self.points: list[int] = []
        self.step = 1
        self._pending: int | None = None
        self._n = 0

    def add(self, v: int) -> None:
        self._pending = v if self._pending is None else max(self._pending, v)
        self._n += 1
        if self._n < self.step:
            return
        self.points.append(self._pending)
        self._pending, self._n = None, 0
        if len(self.points) >= self.cap:
            p = self.points
            self.points = [max(p[i:i + 2]) for i in range(0, len(p), 2)]
            self.step *= 2


def _with_delta(r: Row, delta: int) -> Row:
    return Row(r.key, r.pids, r.ident, r.name, r.rss, r.pss, r.fd_only, r.mapped, r.in_rss, r.count,
               r.by_tag, delta, r.unreadable, r.sort_ident, r.charged)


def _coverage(snap: Snapshot, acc) -> Coverage:
    from droidtrack.model.coverage import coverage
    fds_un = maps_un = 0
    for p in snap.processes.values():
        if p.fds_readable is False:
            fds_un += 1
        if p.maps_readable is False:
            maps_un += 1
    srcs = tuple(sorted((k, v.status, v.detail) for k, v in snap.sources.items()))
    samples = tuple(f"{p.source}: {p.message}" for p in snap.problems[:5])
    return Coverage(srcs, len(snap.processes), fds_un, maps_un, snap.device.rooted,
                    len(snap.problems), samples, coverage(snap, acc).headline)
