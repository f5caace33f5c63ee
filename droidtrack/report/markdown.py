"""The report's Markdown summary: short enough to paste into a bug tracker's comment box.

GitHub/GitLab-flavoured Markdown (CommonMark + tables). Every device string goes through
escape.md(), which backslash-escapes what could start syntax, so a name can open no link, image,
code span, HTML tag or table cell. Numbers and our own words are written as they are (and say
nothing a Markdown renderer would take for syntax).
"""
from __future__ import annotations

from droidtrack.model.units import human_size
from droidtrack.report.escape import md
from droidtrack.report.view import ReportData, fmt_time

TOP = 10


def _b(n: int | None) -> str:
    return md(human_size(n, none="–"))


def render(d: ReportData, *, html_name: str = "report.html") -> str:
    snap, t = d.snap, d.acc.totals
    o: list[str] = []
    add = o.append
    add(f"### {md(d.title)}" + (" (redacted)" if d.redaction else ""))
    add("")
    dev = snap.device
    add(f"- **device:** {md(' '.join(x for x in (dev.manufacturer, dev.model) if x) or 'unknown')}, "
        f"Android {md(dev.release or '?')}" + (f" (SDK {dev.sdk})" if dev.sdk else "")
        + f", kernel {md(dev.kernel or '?')}")
    add(f"- **build:** {md(dev.fingerprint or 'unknown')}")
    root = {None: "unknown", True: "yes", False: "no"}[dev.rooted]
    add(f"- **snapshot:** {fmt_time(snap.time)}, root: {root}, source: {md(snap.origin or 'unknown')}"
        + (f", {len(d.snaps)} snapshots recorded" if len(d.snaps) > 1 else ""))
    add(f"- **coverage:** {md(dict(d.provenance).get('coverage') or 'unknown')}")
    add(f"- **sources read:** {md(', '.join(d.sources_read) or 'none')}")
    if d.sources_missing:
        add(f"- **sources missing:** {md(', '.join(f'{k} ({st})' for k, st, _ in d.sources_missing))}")
    for n in d.notes:
        add(f"- **note:** {md(n)}")
    add("")
    add("| | bytes |")
    add("|---|---:|")
    add(f"| unique dma-buf bytes ({t.buffers} buffers) | {_b(t.bytes)} |")
    add(f"| held by processes (Σ PSS) | {_b(t.userspace)} |")
    add(f"| kernel-only ({len(t.kernel_only_buffers)} buffers) | {_b(t.kernel_only)} |")
    if t.unattributed:
        add(f"| unattributed (holders not all readable) | {_b(t.unattributed)} |")
    if d.unknown_holdings:
        add("| fd-only (in no RSS) | not known: the source cannot tell fd from mapping |")
    else:
        add(f"| fd-only (in no RSS) | {_b(t.fd_only)} |")
    add("")
    tags = sorted(t.by_tag.items(), key=lambda kv: (-kv[1], kv[0]))
    add("**Per tag:** " + ", ".join(f"{md(k)} {_b(v)}" for k, v in tags))
    add("")
    exps = sorted(t.by_exporter.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    add("**Per exporter:** " + ", ".join(f"{md(k)} {_b(v)}" for k, v in exps))
    add("")
    if d.owners:
        add("**Owners** (whose the bytes are: each held buffer charged to the process it was made for)")
        add("")
        add("| owner | charged | buffers | decided by |")
        add("|---|---:|---:|---|")
        for g in d.owners[:TOP]:
            rules = ", ".join(g.by_rule)
            gone = " (exited)" if g.gone == g.bytes else ""
            add(f"| {md(g.name, 60)}{gone} | {_b(g.bytes)} | {g.buffers} | {md(rules)} |")
        if len(d.owners) > TOP:
            add(f"| {len(d.owners) - TOP} more owners | {_b(sum(g.bytes for g in d.owners[TOP:]))} | | |")
        if t.kernel_only:
            add(f"| kernel (no process holds them) | {_b(t.kernel_only)} | {len(t.kernel_only_buffers)} | kernel-only |")
        add("")
    if d.procs:
        add(f"**Top processes** (of {len(d.procs)} holding dma-bufs)")
        add("")
        add("| pid | process | PSS | RSS | fd-only | buffers |")
        add("|---:|---|---:|---:|---:|---:|")
        for r in d.procs[:TOP]:
            a = r.acct
            add(f"| {r.pid} | {md(r.label, 60)} | {_b(a.pss)} | {_b(a.rss)} | {_b(a.fd_only)} | {a.buffers} |")
        add("")
    if d.kernel_only:
        add(f"**Largest kernel-only buffers** ({len(d.kernel_only)})")
        add("")
        add("| buffer | name | exporter | size |")
        add("|---|---|---|---:|")
        for b in d.kernel_only[:5]:
            add(f"| {md(b.key)} | {md(b.name or '', 40)} | {md(b.exporter or '?')} | {_b(b.size)} |")
        add("")
    if d.suspects:
        add("**Leak suspects**")
        add("")
        for s in d.suspects[:10]:
            add(f"- {md(s.kind)}: {md(s.what, 80)}: {md(s.detail, 160)}" + (f" ({_b(s.bytes)})" if s.bytes else "")
                + (f"; owner {md(s.owner, 60)}" if s.owner and s.owner not in s.what else ""))
        add("")
    reported = [r for r in d.acc.reconciliation if r.source != "droidtrack"]
    if reported:
        add("**Reported by the device:** " + "; ".join(f"{md(r.label)} {_b(r.bytes)}" for r in reported))
        add("")
    if snap.problems:
        n = len(snap.problems)
        add(f"{n} problem{'s' if n != 1 else ''} while reading (see the HTML page).")
        add("")
    add(f"_Full report: {md(html_name)} in the attached zip (droidtrack)._")
    return "\n".join(o) + "\n"
