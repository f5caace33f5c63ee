"""Bug-report attachments: one zip with an HTML page, a Markdown summary, the JSON snapshot, the
raw collector stream(s) and a provenance record. See docs/report.md.

    write_report(path, snapshots, raws=[...], notes=[...], redactor=Redactor() or None)

`snapshots` is one Snapshot or a sequence (a recording, oldest first; the last is the one shown in
detail). Anything that yields a Snapshot can be reported: a live device, a capture, a bugreport,
text pasted into `droidtrack analyze`.
"""
from __future__ import annotations

import io
import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from droidtrack import __version__
from droidtrack.model import Snapshot
from droidtrack.model import schema
from droidtrack.report import html as html_mod
from droidtrack.report import markdown as md_mod
from droidtrack.report import view
from droidtrack.report.redact import Redactor

__all__ = ["write_report", "Redactor", "ReportResult", "HTML_NAME", "MD_NAME", "JSON_NAME"]

HTML_NAME = "report.html"
MD_NAME = "summary.md"
JSON_NAME = "snapshot.json"
PROV_NAME = "provenance.json"
README_NAME = "README.txt"


@dataclass
class ReportResult:
    path: Path
    members: list[str] = field(default_factory=list)
    markdown: str = ""
    omitted: list[str] = field(default_factory=list)   # what was left out, and why


def _safe_member(name: str) -> str:
    """A raw stream's name inside the zip: no directories, no odd characters."""
    base = os.path.basename(name.replace("\\", "/")) or "stream"
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)
    return keep.lstrip(".") or "stream"


def write_report(path: str | os.PathLike, snapshots: Snapshot | Sequence[Snapshot], *,
                 raws: Sequence[tuple[str, bytes]] = (), notes: Sequence[str] = (),
                 redactor: Redactor | None = None, title: str | None = None,
                 source_label: str = "", top_n: int = 25,
                 generated: float | None = None, lifetimes=None) -> ReportResult:
    """Write the report zip at `path` (replaced if it exists) and return what went in.
    lifetimes: a recording's dma_buf lifetimes (leak suspects from real exports; not in a
    redacted report, whose process names they would give away)."""
    snaps = [snapshots] if isinstance(snapshots, Snapshot) else list(snapshots)
    if not snaps:
        raise ValueError("a report needs at least one snapshot")
    gen = time.time() if generated is None else generated
    omitted: list[str] = []
    redaction = None
    if redactor is not None:
        snaps = redactor.snapshots(snaps)
        lifetimes = None
        notes = [redactor.text(n) or "" for n in notes]
        source_label = source_label.split(":", 1)[0] if source_label else source_label
        redaction = ("process and package names, command lines, buffer names and the serial are "
                     f"pseudonyms (HMAC-SHA256, salt {redactor.salt_kind}); see docs/report.md")
        if raws:
            omitted.append(f"{len(raws)} raw stream(s): left out of a redacted report, they cannot be "
                           "redacted reliably")
            raws = ()
    data = view.build(snaps, notes=notes, redaction=redaction, title=title, top_n=top_n,
                      generated=gen, source_label=source_label, lifetimes=lifetimes)
    page = html_mod.render(data)
    summary = md_mod.render(data, html_name=HTML_NAME)
    snap_json = schema.dumps(data.snap, data.acc)
    prov = {
        "schema": "droidtrack.report/1",
        "droidtrack": __version__,
        "generated": gen,
        "snapshots": len(snaps),
        "snapshot_times": [s.time for s in snaps],
        "provenance": {k: v for k, v in data.provenance},
        "sources": {k: {"status": v.status, "detail": v.detail} for k, v in sorted(data.snap.sources.items())},
        "notes": list(data.notes),
        "redacted": redactor is not None,
        "raw_streams": [],
        "omitted": omitted,
    }
    members: list[tuple[str, bytes]] = [
        (HTML_NAME, page.encode("utf-8")),
        (MD_NAME, summary.encode("utf-8")),
        (JSON_NAME, snap_json.encode("utf-8")),
    ]
    used = {m for m, _ in members}
    for name, blob in raws:
        m = "raw/" + _safe_member(name)
        stem, n = m, 1
        while m in used:
            n += 1
            m = f"{stem}.{n}"
        used.add(m)
        members.append((m, blob))
        prov["raw_streams"].append({"member": m, "from": name if redactor is None else "[redacted]",
                                    "bytes": len(blob)})
    members.append((PROV_NAME, (json.dumps(prov, indent=2, ensure_ascii=True) + "\n").encode()))
    members.append((README_NAME, _readme(data, [m for m, _ in members], omitted).encode("utf-8")))

    out = Path(path)
    tmp = out.with_name(out.name + ".part")
    stamp = time.gmtime(gen)[:6]
    stamp = stamp if stamp[0] >= 1980 else (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, blob)
    os.replace(tmp, out)
    return ReportResult(out, [m for m, _ in members], summary, omitted)


def _raw_desc(member: str) -> str:
    if member.endswith(".stream") or member.endswith(".dtc"):
        return "the raw collector stream: droidtrack snapshot --capture FILE reads it again"
    if member.endswith(".dtr") or member.endswith(".dtrec"):
        return "the recording: droidtrack report --replay FILE"
    if "bugreport" in member:
        return "the bugreport sections droidtrack read (nothing else of the bugreport)"
    return "input as droidtrack read it"


def _readme(d: view.ReportData, members: list[str], omitted: list[str]) -> str:
    buf = io.StringIO()
    buf.write(f"droidtrack {__version__} report, generated {view.fmt_time(d.generated)}\n\n")
    desc = {
        HTML_NAME: "open in any browser; self-contained, loads nothing from the network",
        MD_NAME: "paste into the bug tracker",
        JSON_NAME: "the snapshot, schema droidtrack.snapshot/1 (README: JSON schema)",
        PROV_NAME: "device, build, kernel, sources read and missing, root, droidtrack version",
    }
    for m in members:
        buf.write(f"  {m:<28} {desc.get(m, _raw_desc(m) if m.startswith('raw/') else '')}\n")
    buf.write(f"  {README_NAME:<28} this file\n")
    for o in omitted:
        buf.write(f"\nleft out: {o}\n")
    return buf.getvalue()
