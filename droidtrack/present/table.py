"""The human-readable snapshot: what `droidtrack snapshot` prints by default."""
from __future__ import annotations

from droidtrack.model.account import Accounting, account, owner_groups
from droidtrack.model.coverage import coverage
from droidtrack.model import Buffer, Snapshot
from droidtrack.model.units import human_size
from droidtrack.present.text import safe


def largest_first(b: Buffer) -> tuple:
    """The order buffers are listed in (here and in reports): biggest first, then by inode as a
    number (ino:9 before ino:10), then by key."""
    return (-b.size, b.inode if b.inode is not None else 1 << 63, b.key)


def render(snap: Snapshot, acc: Accounting | None = None, *, top: int = 25, buffers: int = 10) -> str:
    acc = acc or account(snap)
    t = acc.totals
    d = snap.device
    out: list[str] = []
    ident = " ".join(x for x in (safe(d.manufacturer), safe(d.model)) if x) or "device"
    rel = f"Android {safe(d.release)}" if d.release else ""
    if d.sdk:
        rel += f" (SDK {d.sdk})"
    kern = f"kernel {safe(d.kernel)}" if d.kernel else ""
    priv = {True: "root", False: "not root", None: ""}[d.rooted]
    out.append(" · ".join(x for x in (ident, rel, kern, priv, safe(snap.origin)) if x))
    cov = coverage(snap, acc)
    out.append(f"coverage: {safe(cov.headline)}")
    out.append("")
    partial = cov.counts["exact"] < sum(cov.counts.values())
    ko = "kernel-only: none proven (not every process could be read)" if partial and not t.kernel_only \
        else f"{human_size(t.kernel_only)} kernel-only"
    out.append(f"{t.buffers} buffers, {human_size(t.bytes)} unique: {human_size(t.userspace)} held by processes, "
               f"{ko}" + (f", {human_size(t.unattributed)} unattributed" if t.unattributed else ""))
    out.append(f"  fd-only (in no RSS): {human_size(t.fd_only)}   mapped: {human_size(t.mapped)}   "
               f"ΣRSS {human_size(t.sum_rss)}   ΣPSS {human_size(t.sum_pss)}")
    if t.by_tag:
        out.append("  by tag:      " + "  ".join(f"{safe(k)} {human_size(v)}" for k, v in
                                               sorted(t.by_tag.items(), key=lambda kv: -kv[1])))
    if t.by_exporter:
        out.append("  by exporter: " + "  ".join(f"{safe(k)} {human_size(v)}" for k, v in
                                               sorted(t.by_exporter.items(), key=lambda kv: -kv[1])))
    out.append("")
    rows = sorted(acc.processes.values(), key=lambda a: (-a.pss, a.pid))
    if rows:
        out.append(f"{'PID':>7} {'PROCESS':<34} {'RSS':>9} {'PSS':>9} {'FD-ONLY':>9} {'MAPPED':>9} "
                   f"{'IN-RSS':>9} {'BUFS':>5}  TOP TAG")
        for a in rows[:top]:
            p = snap.processes.get(a.pid)
            name = safe(p.label if p else str(a.pid))
            if len(name) > 34:
                name = name[:33] + "…"
            tag = max(a.by_tag.items(), key=lambda kv: kv[1])[0] if a.by_tag else ""
            out.append(f"{a.pid:>7} {name:<34} {human_size(a.rss):>9} {human_size(a.pss):>9} {human_size(a.fd_only):>9} "
                       f"{human_size(a.mapped):>9} {human_size(a.in_rss):>9} {a.buffers:>5}  {safe(tag)}")
        if len(rows) > top:
            rest = rows[top:]
            out.append(f"{'':>7} {'… ' + str(len(rest)) + ' more processes':<34} {'':>9} "
                       f"{human_size(sum(a.pss for a in rest)):>9}")
        upper = [a.pid for a in rows[:top] if a.pid in cov.pss_upper]
        if upper:
            out.append(f"  PSS of pid {', '.join(map(str, upper))} is an upper bound: some of its buffers are shared "
                       "with processes that could not be read")
    else:
        out.append("no process holds a dma-buf that droidtrack could see")
    unj = [(p.pid, p.reported.get("unjoined_fds", 0) + p.reported.get("unjoined_maps", 0))
           for p in snap.processes.values() if p.reported.get("unjoined_fds") or p.reported.get("unjoined_maps")]
    if unj:
        out.append(f"  + {sum(n for _, n in unj)} dma-buf references in {len(unj)} processes could not be "
                   "joined to a buffer (no inode on this kernel, or unreadable fdinfo)")
    out += owner_lines(snap, acc, top=min(top, 10))
    if t.kernel_only_buffers:
        out.append("")
        out.append(f"kernel-only buffers (no process holds them): {len(t.kernel_only_buffers)}, {human_size(t.kernel_only)}")
        kb = sorted((snap.buffers[k] for k in t.kernel_only_buffers), key=largest_first)
        for b in kb[:buffers]:
            out.append(f"  {safe(b.key):<16} {human_size(b.size):>9}  {safe(b.exporter or '?'):<16} "
                       f"{safe(b.name or '(unnamed)'):<32} {', '.join(safe(a) for a in b.attached)}".rstrip())
        if len(kb) > buffers:
            out.append(f"  … {len(kb) - buffers} more")
    out.append("")
    out.append("reconciliation:")
    for r in acc.reconciliation:
        out.append(f"  {r.label:<28} {human_size(r.bytes):>9}  {safe(r.note)}")
    out.append("")
    bad = {k: v for k, v in snap.sources.items() if v.status not in ("ok",)}
    ok = [k for k, v in snap.sources.items() if v.status == "ok"]
    out.append("sources: read " + (", ".join(sorted(ok)) or "none"))
    for k, v in sorted(bad.items()):
        out.append(f"  {k}: {v.status}" + (f" — {safe(v.detail)}" if v.detail else ""))
    if snap.problems:
        out.append(f"problems ({len(snap.problems)}):")
        for pr in snap.problems[:15]:
            where = f" line {pr.line}" if pr.line else ""
            out.append(f"  [{safe(pr.source)}{where}] {safe(pr.message)}" + (f": {safe(pr.text)}" if pr.text else ""))
        if len(snap.problems) > 15:
            out.append(f"  … {len(snap.problems) - 15} more (see --format json)")
    return "\n".join(out) + "\n"


def owner_lines(snap: Snapshot, acc: Accounting, *, top: int = 10) -> list[str]:
    """The owners section: whose the bytes are (docs/owners.md), each owner's charged bytes with
    the rules that decided, then the bytes charged to nobody: an owner that exited, the kernel."""
    t = acc.totals
    groups = list(owner_groups(snap).values())
    if not groups and not t.kernel_only and not t.unattributed:
        return []
    out = ["", "owners (whose the bytes are, not who holds them; `why` per buffer: --format json):",
           f"  {'OWNER':<34} {'CHARGED':>9} {'BUFS':>5}  {'PIDS':<12} DECIDED BY"]
    for g in groups[:top]:
        name = safe(g.name) + (" (gone)" if g.gone == g.bytes else "")
        if len(name) > 34:
            name = name[:33] + "…"
        pids = ",".join(map(str, g.pids[:3])) + ("…" if len(g.pids) > 3 else "") if g.pids else "-"
        rules = ", ".join(f"{r} {human_size(v)}" if len(g.by_rule) > 1 else r for r, v in list(g.by_rule.items())[:3])
        out.append(f"  {name:<34} {human_size(g.bytes):>9} {g.buffers:>5}  {pids:<12} {rules}")
    if len(groups) > top:
        rest = groups[top:]
        out.append(f"  {'… ' + str(len(rest)) + ' more owners':<34} {human_size(sum(g.bytes for g in rest)):>9} "
                   f"{sum(g.buffers for g in rest):>5}")
    if t.owner_gone:
        out.append(f"  {'(owner exited: charged to none)':<34} {human_size(t.owner_gone):>9}")
    if t.kernel_only:
        out.append(f"  {'kernel (no process holds them)':<34} {human_size(t.kernel_only):>9} "
                   f"{len(t.kernel_only_buffers):>5}  {'-':<12} kernel-only")
    if t.unattributed:
        out.append(f"  {'unknown (holders unreadable)':<34} {human_size(t.unattributed):>9} {'':>5}  {'-':<12} unattributed")
    return out
