"""The report as one self-contained HTML page: inline CSS, a little inline JS, inline SVG charts.

Nothing is fetched: the page's Content-Security-Policy allows no network at all, inline styles,
and only the one script below (by its hash), so even a string that escaped escaping could not
run. Every device string goes through escape.h(); numbers are formatted here.
"""
from __future__ import annotations

import base64
import hashlib

from droidtrack.model import Buffer
from droidtrack.model.units import human_size
from droidtrack.report.escape import h
from droidtrack.report.view import ReportData, fmt_time

TAG_COLORS = {
    "camera": "#d9534f", "gl": "#5b8def", "graphics": "#2fa37c", "multimedia": "#b36ae2",
    "display": "#e3a21a", "other": "#8a8f98",
}
_EXTRA_COLORS = ("#17becf", "#bcbd22", "#8c564b", "#e377c2", "#7f7f7f", "#1f77b4", "#ff7f0e")

CSS = """
:root{--fg:#1d2430;--mute:#5d6675;--line:#d9dee6;--bg:#fff;--soft:#f4f6f9}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);
 background:var(--bg);margin:0;padding:24px 32px 64px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:32px 0 8px;border-bottom:1px solid var(--line);
 padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.sub{color:var(--mute);margin:0 0 16px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;background:#fde7c8;color:#7a4a00;
 font-size:12px;margin-left:8px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:150px;background:var(--soft)}
.card b{display:block;font-size:20px}.card span{color:var(--mute);font-size:12px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);position:sticky;top:0}
table.sortable th{cursor:pointer}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
td.what{overflow-wrap:break-word}
details{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:4px 10px}
summary{cursor:pointer}summary .n{float:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:middle}
.mute{color:var(--mute)}.warn{color:#a4000f}
dl.prov{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:8px 0}
dl.prov dt{color:var(--mute)}dl.prov dd{margin:0;word-break:break-all}
input#filter{padding:4px 8px;border:1px solid var(--line);border-radius:4px;width:280px}
svg text{font:11px system-ui,sans-serif;fill:var(--fg)}
"""

# sorts tables by a clicked header (numbers by their data-v), filters the process list
JS = """
(function(){
  function key(td){var v=td.getAttribute('data-v');return v===null?td.textContent.toLowerCase():parseFloat(v);}
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){
      th.addEventListener('click',function(){
        var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        var dir=th.getAttribute('data-dir')==='asc'?-1:1;th.setAttribute('data-dir',dir>0?'asc':'desc');
        rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);return x<y?-dir:x>y?dir:0;});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  var f=document.getElementById('filter');
  if(f){f.addEventListener('input',function(){
    var q=f.value.toLowerCase();
    document.querySelectorAll('#procs details').forEach(function(d){
      d.style.display=d.getAttribute('data-q').indexOf(q)>=0?'':'none';});
  });}
  document.body.setAttribute('data-ready','1');
})();
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
            "img-src data:; base-uri 'none'; form-action 'none'")


def _color(tag: str, i: int = 0) -> str:
    return TAG_COLORS.get(tag) or _EXTRA_COLORS[i % len(_EXTRA_COLORS)]


def _num(n: int | None) -> str:
    """A byte count cell: human-readable, exact bytes on hover, sortable by data-v."""
    if n is None:
        return '<td class="n" data-v="-1">–</td>'
    return f'<td class="n" data-v="{int(n)}" title="{int(n):,} bytes">{h(human_size(n))}</td>'


def _int(n: int | None) -> str:
    if n is None:
        return '<td class="n" data-v="-1">–</td>'
    return f'<td class="n" data-v="{int(n)}">{int(n)}</td>'


LABEL = 24     # characters of a name on a chart (the whole name is its tooltip)


def short_names(names: list[str], limit: int = LABEL) -> dict[str, str]:
    """A label of at most `limit` characters for each name, different for different names: a
    path's file name, its end where too long (the end is what tells
    `android.hardware.camera.provider@2.7-service` from `...graphics.allocator@4.0-service`),
    else its start and end."""
    def candidates(name: str):
        base = name.rstrip("/").rpartition("/")[2] or name
        for s in (name, base):
            if len(s) <= limit:
                yield s
        yield "…" + base[len(base) - (limit - 1):]
        head = (limit - 1) // 3
        yield base[:head] + "…" + base[len(base) - (limit - 1 - head):]
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        label = next((c for c in candidates(name) if c not in taken), None)
        n = 2
        while label is None or label in taken:
            suffix = f" #{n}"
            label = next(candidates(name))[: limit - len(suffix)] + suffix
            n += 1
        out[name] = label
        taken.add(label)
    return out


_NICE = (1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500)


def axis_ticks(vmax: int, most: int = 4) -> tuple[int, list[int], int]:
    """Round ticks for a byte axis from 0 to at least `vmax`: (top, ticks, unit), each tick a
    round number of B, KiB, MiB or GiB (0, 25, 50, 75, 100 MiB; never 44.6 MiB)."""
    unit = 1
    for u in (1 << 10, 1 << 20, 1 << 30, 1 << 40):
        if vmax >= u:
            unit = u
    v = max(vmax, 1) / unit
    step = next((s for s in _NICE if -(-v // s) <= most), 1000)
    n = int(-(-v // step))
    return round(n * step * unit), [round(i * step * unit) for i in range(n + 1)], unit


def tick_label(v: int, unit: int) -> str:
    if v == 0:
        return "0"
    x = v / unit
    num = f"{x:.0f}" if x == int(x) else f"{x:g}"
    return f"{num} {({1: 'B', 1 << 10: 'KiB', 1 << 20: 'MiB', 1 << 30: 'GiB'}).get(unit, 'TiB')}"


def _bar_chart(items: list[tuple[str, int, str]], total: int, label: str) -> str:
    """Horizontal bars, one per (name, bytes, color)."""
    if not items:
        return '<p class="mute">nothing to chart</p>'
    w, row, lw = 720, 22, 150
    hgt = row * len(items) + 6
    top = max(v for _, v, _ in items) or 1
    labels = short_names([name for name, _, _ in items])
    parts = [f'<svg role="img" aria-label="{h(label)}" width="{w}" height="{hgt}" '
             f'viewBox="0 0 {w} {hgt}" xmlns="http://www.w3.org/2000/svg">']
    for i, (name, v, col) in enumerate(items):
        y = i * row + 3
        bw = max(1, round((w - lw - 170) * v / top)) if v else 0
        pct = f"{100 * v / total:.1f}%" if total else ""
        parts.append(f'<text x="{lw - 6}" y="{y + 14}" text-anchor="end">{h(labels[name])}<title>{h(name)}</title></text>'
                     f'<rect x="{lw}" y="{y + 2}" width="{bw}" height="{row - 6}" fill="{col}"><title>'
                     f'{h(name)}: {int(v):,} bytes</title></rect>'
                     f'<text x="{lw + bw + 6}" y="{y + 14}">{h(human_size(v))} {pct}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _line_chart(series: dict[str, list[tuple[float, int]]], colors: dict[str, str], label: str) -> str:
    """Lines over time (x: seconds since the first point, y: bytes) with a legend."""
    pts = [p for s in series.values() for p in s]
    if not pts:
        return '<p class="mute">nothing to chart</p>'
    w, hgt, ml, mr, mt, mb = 760, 240, 70, 12, 10, 28
    t0 = min(t for t, _ in pts)
    t1 = max(t for t, _ in pts)
    vmax, ticks, unit = axis_ticks(max(v for _, v in pts))
    span = (t1 - t0) or 1

    def x(t: float) -> float:
        return ml + (w - ml - mr) * (t - t0) / span

    def y(v: int) -> float:
        return mt + (hgt - mt - mb) * (1 - v / vmax)

    out = [f'<svg role="img" aria-label="{h(label)}" width="{w}" height="{hgt + 18 * ((len(series) + 3) // 4)}" '
           f'xmlns="http://www.w3.org/2000/svg">',
           f'<line x1="{ml}" y1="{hgt - mb}" x2="{w - mr}" y2="{hgt - mb}" stroke="#999"/>',
           f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{hgt - mb}" stroke="#999"/>']
    for v in ticks:
        out.append(f'<line x1="{ml}" y1="{y(v):.1f}" x2="{w - mr}" y2="{y(v):.1f}" stroke="#eee"/>'
                   f'<text class="tick" x="{ml - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{h(tick_label(v, unit))}</text>')
    out.append(f'<text x="{ml}" y="{hgt - 8}">0 s</text>'
               f'<text x="{w - mr}" y="{hgt - 8}" text-anchor="end">{span if t1 > t0 else 0:.0f} s</text>')
    labels = short_names(list(series))
    for i, (name, s) in enumerate(series.items()):
        col = colors.get(name) or _color(name, i)
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in sorted(s))
        out.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="{coords}">'
                   f'<title>{h(name)}</title></polyline>')
        lx = ml + (i % 4) * 175
        ly = hgt + 14 + 18 * (i // 4)
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{col}"/>'
                   f'<text class="legend" x="{lx + 14}" y="{ly}">{h(labels[name])}<title>{h(name)}</title></text>')
    out.append("</svg>")
    return "".join(out)


def _buffer_rows(bufs: list[Buffer], snap_procs: dict | None = None) -> str:
    rows = []
    for b in bufs:
        rows.append("<tr>"
                    f'<td class="name">{h(b.key)}</td>'
                    f'<td class="name">{h(b.name) if b.name else "<span class=mute>(unnamed)</span>"}</td>'
                    f'<td>{h(b.exporter or "?")}</td>'
                    f'<td><span class="tag" style="background:{_color(b.tag)}"></span>{h(b.tag)}</td>'
                    f"{_num(b.size)}{_int(b.inode)}{_int(b.count)}"
                    f'<td class="name">{h(", ".join(b.attached), 80)}</td>'
                    "</tr>")
    return ("<table class=\"sortable\"><thead><tr><th>key</th><th>name</th><th>exporter</th><th>tag</th>"
            '<th class="n">size</th><th class="n">inode</th><th class="n">refcount</th>'
            "<th>attached devices</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _owners(d: ReportData, add) -> None:
    """Whose the bytes are (docs/owners.md): a bar per owner, then the table with the rules."""
    t = d.acc.totals
    if not d.owners and not t.kernel_only:
        return
    add('<h2 id="owners">Owners</h2>')
    add('<p class="mute">whose the bytes are, not who holds them: each held buffer is charged whole to '
        "the process it was made for (an app, even where services hold it), by the first rule that "
        "decides; snapshot.json has every buffer's rule and evidence.</p>")
    top = d.owners[:12]
    items = [(g.name, g.bytes, _color("", i)) for i, g in enumerate(top)]
    if t.kernel_only:
        items.append(("kernel (no process holds them)", t.kernel_only, TAG_COLORS["other"]))
    add(_bar_chart(items, t.bytes, "bytes per owner"))
    rows = []
    for g in d.owners:
        rules = ", ".join(f"{r} ({human_size(v)})" if len(g.by_rule) > 1 else r for r, v in g.by_rule.items())
        gone = ' <span class="mute">(exited: charged to no process)</span>' if g.gone == g.bytes else ""
        rows.append(f'<tr><td class="name">{h(g.name, 120)}{gone}</td>{_num(g.bytes)}{_int(g.buffers)}'
                    f'<td class="name">{h(", ".join(map(str, g.pids[:8])) + (" …" if len(g.pids) > 8 else ""))}</td>'
                    f"<td>{h(rules)}</td></tr>")
    if t.kernel_only:
        rows.append(f'<tr><td class="name">kernel (no process holds them)</td>{_num(t.kernel_only)}'
                    f"{_int(len(t.kernel_only_buffers))}<td></td><td>kernel-only</td></tr>")
    if t.unattributed:
        rows.append(f'<tr><td class="name">unknown (holders not all readable)</td>{_num(t.unattributed)}'
                    "<td></td><td></td><td>unattributed</td></tr>")
    add('<table class="sortable" id="owner-table"><thead><tr><th>owner</th><th class="n">charged</th>'
        '<th class="n">buffers</th><th>pids charged</th><th>decided by</th></tr></thead><tbody>'
        + "".join(rows) + "</tbody></table>")


def render(d: ReportData) -> str:
    snap, t = d.snap, d.acc.totals
    o: list[str] = []
    add = o.append
    add("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{h(_csp())}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{h(d.title)}</title><style>{CSS}</style></head><body>")
    badge = '<span class="badge" id="redacted">redacted</span>' if d.redaction else ""
    add(f'<h1 id="title">{h(d.title)}{badge}</h1>')
    add(f'<p class="sub">snapshot {h(fmt_time(snap.time))} · {h(snap.origin or "unknown origin")}'
        f' · droidtrack report generated {h(fmt_time(d.generated))}</p>')

    # -- headline numbers
    cards = [("unique dma-buf bytes", t.bytes, f"{t.buffers} buffers", "total"),
             ("held by processes", t.userspace, "= Σ PSS", "held"),
             ("kernel-only", t.kernel_only, f"{len(t.kernel_only_buffers)} buffers nobody holds", "kernel-only"),
             ("fd-only (in no RSS)", t.fd_only, "held by fd, mapped by nobody", "fd-only")]
    if d.unknown_holdings:
        cards[-1] = ("fd-only (in no RSS)", None, f"not known: {d.unknown_holdings} holdings without fd/map "
                     "detail", "fd-only")
    if t.unattributed:
        cards.append(("unattributed", t.unattributed, "holders could not all be read", "unattributed"))
    add('<div class="cards">' + "".join(
        f'<div class="card" data-metric="{k}" title="{"unknown" if v is None else f"{v:,} bytes"}"><span>{h(a)}</span>'
        f'<b>{h("unknown" if v is None else human_size(v))}</b><span>{h(c)}</span></div>'
        for a, v, c, k in cards) + "</div>")
    if d.notes:
        add("<ul>" + "".join(f'<li class="warn">{h(n)}</li>' for n in d.notes) + "</ul>")

    # -- per tag and exporter
    add('<h2 id="tags">Totals per tag</h2>')
    tags = sorted(t.by_tag.items(), key=lambda kv: (-kv[1], kv[0]))
    add(_bar_chart([(k, v, _color(k, i)) for i, (k, v) in enumerate(tags)], t.bytes, "bytes per tag"))
    add('<table class="sortable" id="tag-table"><thead><tr><th>tag</th><th class="n">bytes</th>'
        '<th class="n">buffers</th></tr></thead><tbody>' + "".join(
            f'<tr><td><span class="tag" style="background:{_color(k, i)}"></span>{h(k)}</td>{_num(v)}'
            f"{_int(t.buffers_by_tag.get(k, 0))}</tr>" for i, (k, v) in enumerate(tags)) + "</tbody></table>")
    add('<h2 id="exporters">Totals per exporter</h2>')
    exps = sorted(t.by_exporter.items(), key=lambda kv: (-kv[1], kv[0]))
    add('<table class="sortable" id="exporter-table"><thead><tr><th>exporter</th><th class="n">bytes</th>'
        '</tr></thead><tbody>' + "".join(f'<tr><td class="name">{h(k)}</td>{_num(v)}</tr>' for k, v in exps)
        + "</tbody></table>")

    _owners(d, add)

    # -- recording
    if d.series:
        add('<h2 id="over-time">Over time</h2>')
        pts = d.series
        tot = {"total": [(p.time, p.total) for p in pts], "held": [(p.time, p.held) for p in pts],
               "kernel-only": [(p.time, p.kernel_only) for p in pts]}
        add(_line_chart(tot, {"total": "#1d2430", "held": "#2fa37c", "kernel-only": "#d9534f"},
                        "totals over time"))
        alltags = sorted({k for p in pts for k in p.by_tag})
        add("<h3>Per tag</h3>")
        add(_line_chart({k: [(p.time, p.by_tag.get(k, 0)) for p in pts] for k in alltags},
                        {k: _color(k, i) for i, k in enumerate(alltags)}, "bytes per tag over time"))
        last = pts[-1].by_proc
        peak: dict[str, int] = {}
        for p in pts:
            for k, v in p.by_proc.items():
                peak[k] = max(peak.get(k, 0), v)
        top = sorted(peak, key=lambda k: (-peak[k], k))[:6]
        opeak: dict[str, int] = {}
        for p in pts:
            for k, v in p.by_owner.items():
                opeak[k] = max(opeak.get(k, 0), v)
        if opeak:
            otop = sorted(opeak, key=lambda k: (-opeak[k], k))[:6]
            add("<h3>Top owners (charged bytes)</h3>")
            add(_line_chart({k: [(p.time, p.by_owner.get(k, 0)) for p in pts] for k in otop}, {},
                            "bytes charged to the top owners over time"))
        add("<h3>Top processes (PSS)</h3>")
        add(_line_chart({k: [(p.time, p.by_proc.get(k, 0)) for p in pts] for k in top}, {},
                        "PSS of the top processes over time"))
        add(f'<p class="mute">{len(pts)} snapshots from {h(fmt_time(pts[0].time))} to '
            f"{h(fmt_time(pts[-1].time))}; latest processes: {len(last)}</p>")
    add('<h2 id="leaks">Leak suspects</h2>')
    if d.suspects is None:
        add(f'<p class="mute">{h(d.suspects_note)}</p>')
    elif not d.suspects:
        add(f'<p>none found <span class="mute">({h(d.suspects_note)})</span></p>')
    else:
        add('<table id="suspect-table"><thead><tr><th>kind</th><th>what</th><th class="n">bytes</th>'
            '<th class="n">confidence</th><th>why</th><th>owner</th></tr></thead><tbody>'
            + "".join(f'<tr><td>{h(s.kind)}</td><td class="what">{h(s.what)}</td>{_num(s.bytes)}'
                      f'<td class="n">{"" if s.confidence is None else f"{s.confidence:.2f}"}</td>'
                      f'<td>{h(s.detail)}</td><td class="name">{h(s.owner or "")}</td></tr>'
                      for s in d.suspects) + "</tbody></table>"
            + f'<p class="mute">{h(d.suspects_note)}</p>')

    # -- processes
    add('<h2 id="processes">Top processes and their buffers</h2>')
    shown = d.procs[: d.top_n]
    add(f'<p>{len(d.procs)} processes hold dma-bufs; the {len(shown)} with the largest PSS. '
        '<input id="filter" type="search" placeholder="filter by name or pid" aria-label="filter"></p>')
    add('<table class="sortable" id="proc-table"><thead><tr><th class="n">pid</th><th>process</th>'
        '<th class="n">PSS</th><th class="n">RSS</th><th class="n">fd-only</th><th class="n">mapped</th>'
        '<th class="n">buffers</th></tr></thead><tbody>')
    for r in d.procs:
        a = r.acct
        add(f'<tr><td class="n" data-v="{r.pid}">{r.pid}</td><td class="name">{h(r.label, 120)}</td>'
            f"{_num(a.pss)}{_num(a.rss)}{_num(a.fd_only)}{_num(a.mapped)}{_int(a.buffers)}</tr>")
    add("</tbody></table><div id=\"procs\">")
    for r in shown:
        a = r.acct
        q = h(f"{r.label} {r.name} {r.pid}".lower())
        add(f'<details data-q="{q}" data-pid="{r.pid}"><summary><b class="name">{h(r.label, 120)}</b> '
            f'<span class="mute">pid {r.pid}{" · " + h(r.name) if r.name and r.name != r.label else ""}'
            f'{" · uid " + str(r.uid) if r.uid is not None else ""}</span>'
            f'<span class="n">PSS {h(human_size(a.pss))} · RSS {h(human_size(a.rss))}</span></summary>')
        rows = []
        for b, hold in r.buffers:
            how = ", ".join(x for x in (f"fd {','.join(map(str, hold.fds))}" if hold.fds else "",
                                        f"{len(hold.maps)} map(s)" if hold.maps else "") if x)
            if not how:
                how = {"fd": "fd", "map": "mapping", "fd+map": "fd and mapping"}.get(hold.by or "", "unknown (source cannot tell fd from mapping)")
            rows.append(f'<tr><td class="name">{h(b.key)}</td>'
                        f'<td class="name">{h(b.name) if b.name else "<span class=mute>(unnamed)</span>"}</td>'
                        f'<td>{h(b.exporter or "?")}</td><td>{h(b.tag)}</td>{_num(b.size)}'
                        f"{_int(len(b.holders))}<td>{h(how)}</td></tr>")
        add('<table class="sortable"><thead><tr><th>buffer</th><th>name</th><th>exporter</th><th>tag</th>'
            '<th class="n">size</th><th class="n">holders</th><th>held by</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></details>")
    add("</div>")

    # -- buffers nobody holds
    add(f'<h2 id="kernel-only">Kernel-only buffers ({len(d.kernel_only)}, {h(human_size(t.kernel_only))})</h2>')
    add('<p class="mute">no process holds these by fd or mapping: the kernel or a driver keeps them '
        "(or a process leaked and exited with a driver still holding a reference).</p>")
    add(_buffer_rows(d.kernel_only) if d.kernel_only else "<p>none</p>")
    if d.unattributed:
        add(f'<h2 id="unattributed">Unattributed buffers ({len(d.unattributed)}, '
            f"{h(human_size(t.unattributed))})</h2>")
        add('<p class="mute">no holder seen, but not every process could be read: not proven kernel-only.</p>')
        add(_buffer_rows(d.unattributed))

    # -- reconciliation
    add('<h2 id="reconciliation">Reconciliation</h2><table id="recon-table"><thead><tr><th>line</th>'
        '<th class="n">bytes</th><th>source</th><th>note</th></tr></thead><tbody>')
    for line in d.acc.reconciliation:
        add(f"<tr><td>{h(line.label)}</td>{_num(line.bytes)}<td>{h(line.source)}</td><td>{h(line.note)}</td></tr>")
    add("</tbody></table>")

    # -- provenance
    add('<h2 id="provenance">Provenance</h2><dl class="prov">'
        + "".join(f"<dt>{h(k)}</dt><dd>{h(v)}</dd>" for k, v in d.provenance) + "</dl>")
    add('<h3>Sources</h3><table id="source-table"><thead><tr><th>source</th><th>status</th><th>detail</th>'
        "</tr></thead><tbody>" + "".join(
            f'<tr><td>{h(k)}</td><td class="{"" if v.status in ("ok",) else "warn"}">{h(v.status)}</td>'
            f"<td>{h(v.detail, 300)}</td></tr>" for k, v in sorted(snap.sources.items()))
        + "</tbody></table>")
    if snap.problems:
        add(f'<h3 id="problems">Problems ({len(snap.problems)})</h3><ul>')
        for p in snap.problems[:200]:
            where = " ".join(x for x in (p.path or "", f"line {p.line}" if p.line else "") if x)
            add(f"<li><b>{h(p.source)}</b>{' (' + h(where) + ')' if where else ''}: {h(p.message)}"
                f"{' <code>' + h(p.text) + '</code>' if p.text else ''}</li>")
        if len(snap.problems) > 200:
            add(f"<li>… {len(snap.problems) - 200} more in snapshot.json</li>")
        add("</ul>")
    add(f"<script>{JS}</script></body></html>\n")
    return "".join(o)
