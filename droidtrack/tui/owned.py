"""The owners view's rows (tui/views/owners.py): one per owner of held buffers (account.owner_groups,
where the sums are), one for the kernel-only and one for the unattributed bytes (account's Totals),
with the holders' names and Δ since the first sample. Plain data, built in the feed's worker thread
with the rest of the Frame (tui/state.py)."""
from __future__ import annotations

from dataclasses import dataclass

from droidtrack.model import Snapshot
from droidtrack.model.account import Accounting, owner_groups
from droidtrack.model.owners import KERNEL, UNATTRIBUTED
from droidtrack.parse.grepout import record_builder

KINDS = ("process", "gone", "kernel", "unknown")


@dataclass(frozen=True, slots=True)
class OwnerRow:
    """One line of the owners view: an owner and what it is charged."""
    key: str                       # account.owner_key: "o:NAME", "kernel", "unknown"
    kind: str                      # KINDS: "gone" when none of its bytes is charged to a running process
    name: str                      # device-controlled: the package, or the process's label
    pids: tuple[int, ...]          # the processes charged
    bytes: int
    buffers: int | None            # None: not counted (the unattributed row)
    held_by: str                   # the holders' labels, most bytes first ("self": the owner's own processes)
    holders: tuple[int, ...]       # their pids, in that order
    rule: str                      # the rule that decided most of its bytes ("+N": N other rules too)
    delta: int | None              # bytes now minus at the first sample that had this owner


def brief(label: str) -> str:
    """A holder's label in a list of them: an AOSP HAL without its package prefix and "-service"
    suffix (android.hardware.camera.provider@2.7-service -> camera.provider@2.7)."""
    if label.startswith("android.hardware.") and len(label) > 17:
        label = label[17:]
        if label.endswith("-service") and len(label) > 8:
            label = label[:-8]
    return label


def owner_rows(snap: Snapshot, acc: Accounting, labels: dict[int, str], first_row: dict[str, tuple[str, int]],
               row_seen: dict[str, int], seq: int) -> dict[str, OwnerRow]:
    """The rows; `first_row` and `row_seen` are the timeline's (the first bytes of each row, for Δ,
    and when it was last seen, so that it is forgotten like the other rows)."""
    procs = snap.processes
    pkgs: dict[int, str | None] = {}

    def package_of(pid: int) -> str | None:       # Process.package is a regular expression's work
        if pid not in pkgs:
            p = procs.get(pid)
            pkgs[pid] = p.package if p is not None else None
        return pkgs[pid]

    rows = []
    for g in owner_groups(snap, acc).values():
        hb = g.held_by
        # the owner's own processes (its pids, its package's) are "self", first among equals
        mine = set(g.pids)
        if len(hb) == 1:
            holders = list(hb)
            if g.package and holders[0] not in mine and package_of(holders[0]) == g.package:
                mine.add(holders[0])
        else:
            if g.package:
                mine.update(p for p in hb if package_of(p) == g.package)
            holders = sorted(hb, key=lambda p: (-hb[p], p not in mine, p))
        names = ["self" if p in mine else brief(labels.get(p) or f"pid {p}") for p in holders[:4]]
        held_by = ", ".join(dict.fromkeys(names)) + (f" +{len(holders) - 4} more" if len(holders) > 4 else "")
        rules = list(g.by_rule)                      # most bytes first
        rule = rules[0] + (f" +{len(rules) - 1}" if len(rules) > 1 else "")
        # a service is named as the other views name processes (the file name of an executable's path)
        name = labels.get(g.pids[0], g.name) if g.package is None and len(g.pids) == 1 else g.name
        kind = "gone" if g.gone == g.bytes and g.bytes else "process"
        rows.append(("o:" + g.name, kind, name, g.pids, g.bytes, g.buffers, held_by, tuple(holders), rule))
    t = acc.totals
    if t.kernel_only_buffers:
        rows.append(("kernel", "kernel", "kernel", (), t.kernel_only, len(t.kernel_only_buffers), "", (), KERNEL))
    if t.unattributed:
        rows.append(("unknown", "unknown", "unknown", (), t.unattributed, None, "", (), UNATTRIBUTED))
    out = {}
    mk = _mk_row
    for r in rows:
        k, name, n = r[0], r[2], r[4]
        first = first_row.get(k)
        if first is None or first[0] != name:
            first_row[k] = first = (name, n)
        row_seen[k] = seq
        out[k] = mk(*r, n - first[1])
    return out


_mk_row = record_builder(OwnerRow)      # 2,000 rows a refresh on a large device
