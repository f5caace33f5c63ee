"""History: diffs between two snapshots and leak suspects over a sequence of them.

Identity across snapshots:
  buffer   its inode when the kernel gave one (stable while the buffer lives). Buffers without an
           inode (e.g. seen only in a pasted bufinfo) are compared as a multiset of
           (exporter, name, size): appeared/vanished counts stay right, individual identity is not claimed.
  process  (pid, label): a pid reused by a different program is a different process.

Leak suspects (docs/ci.md, "Leak suspects", is the reference):
  persistent  buffers that appeared after the first sample and were never freed, grouped by
              (holders, tag, exporter); confidence = the fraction of sample intervals in which the
              group gained a buffer it kept to the end (a pool allocated once scores low, a buffer
              leaked per frame or per test scores close to 1)
  growth      processes, tags and owners whose bytes never decrease and grow overall over >= 3 samples;
              slope by least squares in bytes/second; confidence = the fraction of intervals in
              which they strictly grew
  orphan      buffers no process holds now that a process held earlier, with their last holder;
              confidence 1.0 once kernel-only in >= 2 consecutive samples, else 0.5
  exported    (recordings with dma_buf events) buffers exported during the recording and alive at
              its end, by exporting process: history/trace_leaks.py; they replace the persistent
              groups they cover
Every suspect names the owner its bytes are charged to (model/owners.py; `owner`): a persistent
group's owner (groups are split by owner), an orphan's owner when it was last held, a growing
process's owner of most of the bytes it gained, a growing owner itself; none for a tag.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from droidtrack.model.account import Accounting, account
from droidtrack.model import Buffer, Process, Snapshot
from droidtrack.model.units import human_size
from droidtrack.model.owners import owners_of


class LoadError(Exception):
    exit_code = 2


# ---- loading one snapshot from a file spec -------------------------------------------------

def split_spec(spec: str) -> tuple[str, int | None]:
    """'rec.dtr@3' -> ('rec.dtr', 3); a path that exists as written is taken whole."""
    if os.path.exists(spec) or "@" not in spec:
        return spec, None
    path, _, idx = spec.rpartition("@")
    try:
        return path, int(idx)
    except ValueError:
        return spec, None


def load_snapshot(spec: str, rules=None, *, default_index: int = -1) -> Snapshot:
    """A snapshot from a capture file, a snapshot JSON file, or a recording (`FILE@N`, N may be
    negative; without @N the sample `default_index`)."""
    from droidtrack.history import recording
    path, idx = split_spec(spec)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        raise LoadError(f"cannot read {path}: {e.strerror}") from None
    if recording.is_recording(path):
        rec = recording.open_recording(path)
        return rec.snapshot(default_index if idx is None else idx, rules)
    if idx is not None:
        raise LoadError(f"{path}: '@{idx}' picks a sample of a recording, and this is not one")
    if head.lstrip()[:1] == b"{":
        from droidtrack.model import schema
        try:
            with open(path, "rb") as f:
                snap = schema.loads(f.read(), path)
        except OSError as e:
            raise LoadError(f"cannot read {path}: {e.strerror}") from None
        except schema.SchemaError as e:
            raise LoadError(str(e)) from None
        snap = recording.retag(snap, rules) if rules is not None else snap
        return snap if snap.origin else _origin(snap, f"json:{path}")
    from droidtrack.collect.frames import sniff_token
    if sniff_token(head) is not None:
        from droidtrack.sources.capture import CaptureSource
        src = CaptureSource(path, rules=rules)
        try:
            return src.collect().snapshot
        finally:
            src.close()
    raise LoadError(f"{path}: not a capture, a snapshot JSON or a recording")


def _origin(snap: Snapshot, origin: str) -> Snapshot:
    from dataclasses import replace
    return replace(snap, origin=origin)


# ---- diff ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Change:
    key: str
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class BufferRef:
    """A buffer as a diff or a suspect names it."""
    key: str
    size: int
    exporter: str | None
    name: str | None
    tag: str
    holders: tuple[str, ...]
    owner: str | None = None        # the owner's name (model/owners.py)


@dataclass
class Diff:
    a: str
    b: str
    seconds: float | None
    appeared: list[BufferRef]
    vanished: list[BufferRef]
    total: Change
    by_tag: list[Change]
    by_exporter: list[Change]
    by_process: list[Change]        # key: "label (pid N)"; rss before/after
    pss_by_process: list[Change]
    by_owner: list[Change] = field(default_factory=list)    # charged bytes per owner name (Totals.by_owner)

    @property
    def appeared_bytes(self) -> int:
        return sum(b.size for b in self.appeared)

    @property
    def vanished_bytes(self) -> int:
        return sum(b.size for b in self.vanished)


def holder_labels(snap: Snapshot, b: Buffer) -> tuple[str, ...]:
    out = []
    for pid in sorted(b.holders):
        p = snap.processes.get(pid)
        out.append(f"{p.label if p else '?'} ({pid})")
    return tuple(out)


def _ref(snap: Snapshot, b: Buffer, owners: dict) -> BufferRef:
    o = owners.get(b.key)
    return BufferRef(b.key, b.size, b.exporter, b.name, b.tag, holder_labels(snap, b), o.name if o else None)


def _identity(b: Buffer) -> tuple:
    if b.inode is not None:
        return ("ino", b.inode, b.size)
    return ("sig", b.exporter, b.name, b.size)


def _proc_key(p: Process) -> str:
    return f"{p.label} (pid {p.pid})"


def _changes(a: dict[str, int], b: dict[str, int]) -> list[Change]:
    keys = set(a) | set(b)
    out = [Change(k, a.get(k, 0), b.get(k, 0)) for k in keys]
    out = [c for c in out if c.delta or c.before or c.after]
    out.sort(key=lambda c: (-abs(c.delta), c.key))
    return out


def diff(a: Snapshot, b: Snapshot, acc_a: Accounting | None = None, acc_b: Accounting | None = None,
         *, a_label: str | None = None, b_label: str | None = None) -> Diff:
    acc_a = acc_a or account(a)
    acc_b = acc_b or account(b)
    ids_a: dict[tuple, list[Buffer]] = {}
    ids_b: dict[tuple, list[Buffer]] = {}
    for buf in a.buffers.values():
        ids_a.setdefault(_identity(buf), []).append(buf)
    for buf in b.buffers.values():
        ids_b.setdefault(_identity(buf), []).append(buf)
    appeared: list[BufferRef] = []
    vanished: list[BufferRef] = []
    own_a, own_b = owners_of(a), owners_of(b)
    for k in set(ids_a) | set(ids_b):
        la, lb = ids_a.get(k, []), ids_b.get(k, [])
        if len(lb) > len(la):
            appeared += [_ref(b, x, own_b) for x in sorted(lb, key=lambda x: x.key)[len(la):]]
        elif len(la) > len(lb):
            vanished += [_ref(a, x, own_a) for x in sorted(la, key=lambda x: x.key)[len(lb):]]
    appeared.sort(key=lambda r: (-r.size, r.key))
    vanished.sort(key=lambda r: (-r.size, r.key))

    def per_proc(s: Snapshot, acc: Accounting, metric: str) -> dict[str, int]:
        d = {}
        for pid, pa in acc.processes.items():
            p = s.processes.get(pid) or Process(pid)
            d[_proc_key(p)] = getattr(pa, metric)
        return d

    secs = (b.time - a.time) if (a.time and b.time) else None
    return Diff(
        a=a_label or a.origin, b=b_label or b.origin, seconds=secs,
        appeared=appeared, vanished=vanished,
        total=Change("total", acc_a.totals.bytes, acc_b.totals.bytes),
        by_tag=_changes(acc_a.totals.by_tag, acc_b.totals.by_tag),
        by_exporter=_changes(acc_a.totals.by_exporter, acc_b.totals.by_exporter),
        by_process=_changes(per_proc(a, acc_a, "rss"), per_proc(b, acc_b, "rss")),
        pss_by_process=_changes(per_proc(a, acc_a, "pss"), per_proc(b, acc_b, "pss")),
        by_owner=_changes(acc_a.totals.by_owner, acc_b.totals.by_owner),
    )


def diff_to_dict(d: Diff) -> dict:
    def ch(c: Change) -> dict:
        return {"key": c.key, "before": c.before, "after": c.after, "delta": c.delta}

    def br(r: BufferRef) -> dict:
        return {"key": r.key, "size": r.size, "exporter": r.exporter, "name": r.name, "tag": r.tag,
                "holders": list(r.holders), "owner": r.owner}
    return {
        "schema": "droidtrack.diff/1", "a": d.a, "b": d.b, "seconds": d.seconds,
        "total": ch(d.total),
        "appeared": [br(r) for r in d.appeared], "vanished": [br(r) for r in d.vanished],
        "by_tag": [ch(c) for c in d.by_tag], "by_exporter": [ch(c) for c in d.by_exporter],
        "by_process": [ch(c) for c in d.by_process],
        "pss_by_process": [ch(c) for c in d.pss_by_process],
        "by_owner": [ch(c) for c in d.by_owner],
    }


# ---- leak suspects -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Suspect:
    kind: str                  # persistent | growth | orphan | exported
    subject: str               # what it is about, for humans
    bytes: int                 # bytes at stake: kept buffers, growth, orphaned size
    confidence: float          # 0..1, see the module docstring
    detail: str
    slope: float | None = None          # bytes per second (growth)
    first_sample: int | None = None
    last_holder: str | None = None       # orphan: who held it last
    buffers: tuple[str, ...] = ()
    owner: str | None = None             # the owner its bytes are charged to (the module docstring)


def _series_slope(xs: list[float], ys: list[int]) -> float:
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def leak_suspects(snaps: list[Snapshot], accs: list[Accounting] | None = None, lifetimes=None) -> list[Suspect]:
    """lifetimes: the recording's dma_buf lifetimes (model/lifetimes.Lifetimes, `record --trace`):
    buffers it saw exported become `exported` suspects (history/trace_leaks.py)."""
    out = _leak_suspects(snaps, accs)
    if lifetimes is not None and len(snaps) >= 2:
        from droidtrack.history.trace_leaks import with_lifetimes
        out = with_lifetimes(out, snaps, lifetimes, Suspect)
    return out


def _leak_suspects(snaps: list[Snapshot], accs: list[Accounting] | None) -> list[Suspect]:
    n = len(snaps)
    if n < 2:
        return []
    accs = accs or [account(s) for s in snaps]
    out: list[Suspect] = []
    times = [s.time for s in snaps]
    per_sec = all(times) and len(set(times)) == n
    xs = [float(t) for t in times] if per_sec else [float(i) for i in range(n)]

    # persistent: stable identity (inode) only
    present: list[dict[int, Buffer]] = [{b.inode: b for b in s.buffers.values() if b.inode is not None}
                                        for s in snaps]
    last = present[-1]
    last_owners = owners_of(snaps[-1])
    groups: dict[tuple, list[tuple[int, Buffer]]] = {}
    for ino, b in last.items():
        if ino in present[0]:
            continue
        first = n - 1
        while first > 0 and ino in present[first - 1]:
            first -= 1
        # it must have stayed from its first appearance to the end (it did, by the loop) and be
        # the same buffer (same size) throughout
        if any(present[i][ino].size != b.size for i in range(first, n)):
            continue
        o = last_owners.get(b.key)
        key = (holder_labels_names(snaps[-1], b), b.tag, b.exporter or "<unknown>", o.name if o else None)
        groups.setdefault(key, []).append((first, b))
    for (holders, tag, exp, owner), items in groups.items():
        firsts = {f for f, _ in items}
        conf = len(firsts) / (n - 1)
        total = sum(b.size for _, b in items)
        who = ", ".join(holders) if holders else "no process (kernel-only)"
        out.append(Suspect(
            "persistent", f"{tag} buffers from {exp} held by {who}" + _charged(owner, holders), total, round(conf, 3),
            f"{len(items)} buffer(s) appeared after the first sample and were never freed; "
            f"they appeared in {len(firsts)} of {n - 1} intervals",
            first_sample=min(firsts), buffers=tuple(sorted(b.key for _, b in items)), owner=owner))

    # growth: per process (pid, label) and per tag
    def grow(subject: str, pts: list[tuple[int, int]], owner=None) -> None:
        if len(pts) < 3:
            return
        ys = [v for _, v in pts]
        steps = list(zip(ys, ys[1:]))
        if any(b < a for a, b in steps) or ys[-1] <= ys[0]:
            return
        inc = sum(1 for a, b in steps if b > a)
        slope = _series_slope([xs[i] for i, _ in pts], ys)
        unit = "/s" if per_sec else "/sample"
        out.append(Suspect("growth", subject, ys[-1] - ys[0], round(inc / len(steps), 3),
                           f"never decreased over {len(pts)} samples, grew in {inc} of {len(steps)} intervals, "
                           f"{human_size(ys[0])} -> {human_size(ys[-1])}, slope {human_size(slope)}{unit}",
                           slope=slope if per_sec else None, first_sample=pts[0][0],
                           owner=owner(pts[0][0]) if callable(owner) else owner))

    proc_series: dict[str, list[tuple[int, int]]] = {}
    proc_pid: dict[str, int] = {}
    for i, (s, a) in enumerate(zip(snaps, accs)):
        for pid, pa in a.processes.items():
            p = s.processes.get(pid) or Process(pid)
            k = f"process {_proc_key(p)}"
            proc_series.setdefault(k, []).append((i, pa.rss))
            proc_pid[k] = pid
    for subj, pts in proc_series.items():
        # a process must be seen in consecutive samples to the end (a gap means it let go of all)
        if pts[-1][0] != n - 1 or any(b[0] != a[0] + 1 for a, b in zip(pts, pts[1:])):
            continue
        pid = proc_pid[subj]
        grow(subj, pts, lambda first, pid=pid: _gained_owner(snaps[first], snaps[-1], last_owners, pid))
    tags = set().union(*(a.totals.by_tag for a in accs))
    for t in sorted(tags):
        grow(f"tag {t}", [(i, a.totals.by_tag.get(t, 0)) for i, a in enumerate(accs)])
    for name in sorted(set().union(*(a.totals.by_owner for a in accs))):
        grow(f"owner {name}", [(i, a.totals.by_owner.get(name, 0)) for i, a in enumerate(accs)], name)

    # orphans: kernel-only now, held by someone in an earlier sample
    for ino, b in last.items():
        if b.holders:
            continue
        held_at = None
        for i in range(n - 2, -1, -1):
            prev = present[i].get(ino)
            if prev is None or prev.size != b.size:
                break
            if prev.holders:
                held_at = i
                break
        if held_at is None:
            continue
        holder = ", ".join(holder_labels(snaps[held_at], present[held_at][ino]))
        o = owners_of(snaps[held_at]).get(present[held_at][ino].key)
        since = n - 1 - held_at
        out.append(Suspect(
            "orphan", f"buffer {b.key} ({b.tag}, {b.exporter or '<unknown>'}{', ' + repr(b.name) if b.name else ''})",
            b.size, 1.0 if since >= 2 else 0.5,
            f"no process holds it since sample {held_at + 1}; last held by {holder}"
            + (f", and charged to {o.name} ({o.rule})" if o else ""),
            first_sample=held_at + 1, last_holder=holder, buffers=(b.key,), owner=o.name if o else None))
    out.sort(key=lambda s: (-s.confidence, -s.bytes, s.kind, s.subject))
    return out


def _charged(owner: str | None, holders: tuple[str, ...]) -> str:
    """', charged to X' where the owner is not the buffers' only holder (nor the kernel)."""
    if not owner or owner in ("kernel", "unknown") or holders == (owner,):
        return ""
    return f", charged to {owner}"


def _gained_owner(first: Snapshot, last: Snapshot, owners: dict, pid: int) -> str | None:
    """The owner of most of the bytes process `pid` holds in `last` that were not in `first`."""
    before = {_identity(b) for b in first.buffers.values() if pid in b.holders}
    by: dict[str, int] = {}
    for b in last.buffers.values():
        if pid in b.holders and _identity(b) not in before:
            o = owners.get(b.key)
            if o is not None:
                by[o.name] = by.get(o.name, 0) + b.size
    return min(by.items(), key=lambda kv: (-kv[1], kv[0]))[0] if by else None


def holder_labels_names(snap: Snapshot, b: Buffer) -> tuple[str, ...]:
    """Holders by label only (pids change between runs; labels group the same program)."""
    return tuple(sorted({(snap.processes[p].label if p in snap.processes else f"pid {p}") for p in b.holders}))


def suspect_to_dict(s: Suspect) -> dict:
    return {"kind": s.kind, "subject": s.subject, "bytes": s.bytes, "confidence": s.confidence,
            "detail": s.detail, "slope": s.slope, "first_sample": s.first_sample,
            "last_holder": s.last_holder, "buffers": list(s.buffers), "owner": s.owner}
