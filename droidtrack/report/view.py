"""What a report shows, computed once for both the HTML page and the Markdown summary.

Nothing here formats for a medium; html.py and markdown.py do, and escape every device string.
"""
from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from typing import Sequence

from droidtrack import __version__
from droidtrack.model.account import Accounting, OwnerAccount, ProcessAccount, account, owner_groups, process_groups
from droidtrack.model.coverage import coverage
from droidtrack.model import Buffer, Holding, Snapshot
from droidtrack.present.table import largest_first

READ_STATUSES = ("ok", "partial", "truncated")


@dataclass
class ProcRow:
    pid: int
    label: str
    name: str
    package: str | None
    uid: int | None
    acct: ProcessAccount
    buffers: list[tuple[Buffer, Holding]]


@dataclass
class Point:
    time: float
    total: int
    held: int
    kernel_only: int
    by_tag: dict[str, int]
    by_proc: dict[str, int]      # process label -> PSS
    by_owner: dict[str, int] = field(default_factory=dict)    # owner name -> charged bytes


@dataclass
class Suspect:
    kind: str                    # persistent | growth | orphan (droidtrack.history.compare)
    what: str                    # what it is about
    detail: str
    bytes: int | None = None
    confidence: float | None = None
    owner: str | None = None     # the owner it is charged to


@dataclass
class ReportData:
    snap: Snapshot
    acc: Accounting
    snaps: list[Snapshot]
    procs: list[ProcRow]
    kernel_only: list[Buffer]
    unattributed: list[Buffer]
    series: list[Point]
    suspects: list[Suspect] | None      # None: no recording, or history not available
    suspects_note: str
    provenance: list[tuple[str, str]]
    sources_read: list[str]
    sources_missing: list[tuple[str, str, str]]   # key, status, detail
    notes: list[str]
    redaction: str | None
    generated: float
    title: str
    top_n: int = 25
    unknown_holdings: int = 0           # holdings whose kind (fd or mapping) no source told
    owners: list[OwnerAccount] = field(default_factory=list)   # largest first (account.owner_groups)
    extra: dict = field(default_factory=dict)


def fmt_time(t: float | None) -> str:
    if not t:
        return "unknown"
    try:
        return _time.strftime("%Y-%m-%d %H:%M:%S UTC", _time.gmtime(t))
    except (OverflowError, OSError, ValueError):
        return str(t)


def _rooted(snap: Snapshot) -> str:
    r = snap.device.rooted
    if r is None:
        return "unknown"
    return f"yes (uid {snap.device.uid})" if r else f"no (uid {snap.device.uid})"


def build(snaps: Sequence[Snapshot], *, notes: Sequence[str] = (), redaction: str | None = None,
          title: str | None = None, top_n: int = 25, generated: float | None = None,
          source_label: str = "", lifetimes=None) -> ReportData:
    if not snaps:
        raise ValueError("a report needs at least one snapshot")
    snaps = list(snaps)
    snap = snaps[-1]
    acc = account(snap)
    held: dict[int, list[tuple[Buffer, Holding]]] = {}
    for b in snap.buffers.values():
        for pid, hold in b.holders.items():
            held.setdefault(pid, []).append((b, hold))
    rows: list[ProcRow] = []
    for pid, pa in acc.processes.items():
        p = snap.processes.get(pid)
        bl = sorted(held.get(pid, []), key=lambda bh: (-bh[0].size, bh[0].key))
        rows.append(ProcRow(pid, p.label if p else f"pid {pid}", p.name if p else "",
                            p.package if p else None, p.uid if p else None, pa, bl))
    rows.sort(key=lambda r: (-r.acct.pss, -r.acct.rss, r.pid))
    ko_keys = set(acc.totals.kernel_only_buffers)
    kernel_only = sorted((b for b in snap.buffers.values() if b.key in ko_keys), key=largest_first)
    unattributed = sorted((b for b in snap.buffers.values()
                           if not b.holders and b.key not in ko_keys), key=largest_first)

    series: list[Point] = []
    if len(snaps) > 1:
        for s in snaps:
            a = acc if s is snap else account(s)
            labels = {pid: (p.label if (p := s.processes.get(pid)) else f"pid {pid}") for pid in a.processes}
            by_proc = {k: g.pss for k, g in process_groups(s, a, labels).items()}
            series.append(Point(s.time, a.totals.bytes, a.totals.userspace, a.totals.kernel_only,
                                dict(a.totals.by_tag), by_proc, dict(a.totals.by_owner)))
    suspects, snote = _suspects(snaps, lifetimes)

    read = sorted(k for k, v in snap.sources.items() if v.status in READ_STATUSES)
    missing = sorted((k, v.status, v.detail) for k, v in snap.sources.items()
                     if v.status not in READ_STATUSES)
    gen = _time.time() if generated is None else generated
    d = snap.device
    prov = [
        ("droidtrack", __version__),
        ("report generated", fmt_time(gen)),
        ("snapshot taken", fmt_time(snap.time) + (f" (last of {len(snaps)})" if len(snaps) > 1 else "")),
        ("source", source_label or snap.origin or "unknown"),
        ("origin", snap.origin or "unknown"),
        ("device model", " ".join(x for x in (d.manufacturer, d.model) if x) or "unknown"),
        ("build fingerprint", d.fingerprint or "unknown"),
        ("Android version", (d.release or "unknown") + (f" (SDK {d.sdk})" if d.sdk else "")),
        ("kernel", d.kernel or "unknown"),
        ("serial", d.serial or "unknown"),
        ("root", _rooted(snap)),
        ("coverage", coverage(snap, acc).headline),
        ("SELinux context", d.selinux_context or "unknown"),
        ("sources read", ", ".join(read) or "none"),
        ("sources missing", ", ".join(f"{k} ({st})" for k, st, _ in missing) or "none"),
        ("redaction", redaction or "none: names are as the device reported them"),
    ]
    if title is None:
        title = "droidtrack report: " + (" ".join(x for x in (d.manufacturer, d.model) if x)
                                         or snap.origin or "device")
    return ReportData(snap=snap, acc=acc, snaps=snaps, procs=rows, kernel_only=kernel_only,
                      unattributed=unattributed, series=series, suspects=suspects,
                      suspects_note=snote, provenance=prov, sources_read=read,
                      sources_missing=missing, notes=list(notes), redaction=redaction,
                      generated=gen, title=title, top_n=top_n,
                      unknown_holdings=sum(1 for b in snap.buffers.values() for hd in b.holders.values()
                                           if hd.by == "unknown"),
                      owners=list(owner_groups(snap).values()))


def _suspects(snaps: list[Snapshot], lifetimes=None) -> tuple[list[Suspect] | None, str]:
    if len(snaps) < 2:
        return None, "one snapshot: leak suspects need a recording (droidtrack record)"
    try:
        from droidtrack.history import compare as history  # type: ignore[attr-defined]
    except ImportError:
        return None, "leak suspects need droidtrack.history.compare, which this build does not have"
    fn = getattr(history, "leak_suspects", None)
    if fn is None:
        return None, "droidtrack.history.compare has no leak_suspects()"
    try:
        found = fn(snaps, lifetimes=lifetimes) if lifetimes is not None else fn(snaps)
    except Exception as e:  # noqa: BLE001 - a report is still worth writing without this part
        return None, f"leak suspects could not be computed: {e.__class__.__name__}: {e}"
    out = [Suspect(kind=str(getattr(s, "kind", "")), what=str(getattr(s, "subject", s)),
                   detail=str(getattr(s, "detail", "")), bytes=getattr(s, "bytes", None),
                   confidence=getattr(s, "confidence", None), owner=getattr(s, "owner", None))
           for s in found or ()]
    return out, (f"from droidtrack.history.compare over {len(snaps)} snapshots"
                 + (" and the recording's dma_buf events" if lifetimes is not None else ""))
