"""Text someone pasted or saved from one source -> the snapshot that source allows.

Used by `droidtrack analyze` (and the bug-report reader): detect the format (parse/detect.py),
run its parser, feed the builder. What one source cannot say (who holds a bufinfo buffer, how a
dmabuf_dump holder holds it) is left unknown, never guessed.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from droidtrack.collect import frames
from droidtrack.ingest.dmabuf_dump import feed_dump_records
from droidtrack.ingest.dmaprocs import feed_dmaprocs
from droidtrack.ingest.gpu import feed_dumpsys_gpu, feed_mali
from droidtrack.ingest.ion import DEBUGFS as ION_DEBUGFS, feed_ion_debugfs, feed_kernel_totals
from droidtrack.ingest.meminfo import feed_meminfo
from droidtrack.ingest.memtrack import feed_memtrack_texts
from droidtrack.model.build import Builder
from droidtrack.model import Snapshot, SourceStatus
from droidtrack.parse import detect as p_detect
from droidtrack.parse import fdinfo as p_fdinfo
from droidtrack.parse import maps as p_maps
from droidtrack.ingest.stream import feed_frames
from droidtrack.ingest.surfaceflinger import feed_surfaceflinger
from droidtrack.ingest.feed_buffers import feed_bufinfo
from droidtrack.ingest.feed_maps import feed_vmas
from droidtrack.ingest.feed_refs import feed_fdinfo, join_without_inode
from droidtrack.parse import bufinfo as p_bufinfo
from droidtrack.parse import dmabuf_dump as p_dump
from droidtrack.parse.condensed import CondensedRow, has_elision, integer, read_row
from droidtrack.model.problems import Problem
from droidtrack.model.tags import Rules

# formats analyze can turn into a snapshot, and what each can say
SUPPORTED = {
    "bufinfo": "every buffer (size, exporter, name, inode on 5.3+); no holders",
    "dmabuf_dump": "buffers by inode and which processes hold them; totals",
    "dumpsys_meminfo": "memtrack per app (EGL/GL/Other mtrack) and the system DMA-BUF/ION/GPU lines",
    "ion_heap": "ION per-client totals and orphaned allocations of one heap",
    "ion_client": "one ION client's usage per heap",
    "ion_sysfs": "ION/dma-heap totals",
    "memtrack": "memtrack RFC buffers of one process",
    "memtrack_debug": "memtrack RFC debug totals",
    "fdinfo": "one dma-buf fd",
    "maps": "a process's dma-buf mappings",
    "mali_gpu_memory": "Mali GPU memory per context",
    "dumpsys_gpu": "GPU memory per process (gpu_mem)",
    "dmaprocs": "vendor per-process dma-buf lists",
    "dumpsys_surfaceflinger": "SurfaceFlinger's gralloc tables: who asked for graphics buffers (owner evidence, "
                              "joined to buffers by size where unambiguous)",
}


class AnalyzeError(Exception):
    exit_code = 2


@dataclass
class Piece:
    label: str
    text: str
    fmt: str | None = None
    problems: list[Problem] = field(default_factory=list)


_HEAP_FROM_PROMPT = re.compile(r"ion/heaps(?:\s*#\s*cat\s+|/)([\w,.\-]+)")
_PID_FROM_TEXT = re.compile(r"/proc/(\d+)/")


# What a person pastes is text: random or binary bytes decoded with backslashreplace become four
# characters each, and a 50 MB binary file took 1.2 GB to read as text. A sample is looked at
# first, and a file mostly not UTF-8 text (or with NULs) is refused before any of it is decoded.
SNIFF_BYTES = 64 * 1024
MAX_BAD_FRACTION = 0.05


def read_text(data: bytes, label: str = "input") -> str:
    head = data[:SNIFF_BYTES]
    if head:
        text = head.decode("utf-8", "replace")
        bad = text.count("\ufffd") + head.count(0)
        # a multi-byte character cut by the sample's end is not garbage
        if bad > max(3, MAX_BAD_FRACTION * len(head)):
            raise AnalyzeError(f"{label}: not text ({bad} of the first {len(head)} bytes are not UTF-8 text "
                               "or are NUL): give droidtrack a pasted or saved text, a capture, or a bug report")
    return data.decode("utf-8", "backslashreplace")


def analyze(inputs: list[tuple[str, bytes]], *, rules: Rules | None = None, force: str | None = None,
            pid: int | None = None) -> tuple[Snapshot, list[Piece]]:
    b = Builder(rules)
    pieces: list[Piece] = []
    per_process_read = False
    for label, data in inputs:
        if frames.sniff_token(data):
            fr = frames.decode(data)
            b.problems.extend(fr.problems)
            feed_frames(b, fr)
            pieces.append(Piece(label, "", "capture"))
            per_process_read = True
            continue
        text = p_detect.unwrap_pasted(read_text(data, label))
        fmt = force
        if fmt is None:
            guesses = [g for g in p_detect.detect(text) if g[0] in SUPPORTED]
            if not guesses:
                raise AnalyzeError(f"{label}: not a format droidtrack recognises. It reads: "
                                   + ", ".join(sorted(SUPPORTED)) + " (use --as FORMAT to force one)")
            fmt = guesses[0][0]
        elif fmt not in SUPPORTED:
            raise AnalyzeError(f"--as {fmt}: unknown format; one of {', '.join(sorted(SUPPORTED))}")
        piece = Piece(label, text, fmt)
        pieces.append(piece)
        per_process_read |= _feed(b, fmt, text, label, pid)
        b.sources[f"paste:{fmt}"] = SourceStatus("ok", f"{label}: {SUPPORTED[fmt]}")
    if not per_process_read:
        # nothing said who holds what: no buffer is proven kernel-only
        b.identity_complete = False
    snap = b.finish(time=time.time(), origin="analyze:" + ",".join(p.label for p in pieces))
    return snap, pieces


def _say_condensed(problems: list, label: str, fmt: str, rows: list[CondensedRow], read: str) -> None:
    if rows:
        gone = sorted({c for r in rows for c in r.elided})
        problems.append(Problem(fmt, f"{label}: {len(rows)} rows condensed by hand ('...') read from the columns "
                                f"left ({read}); elided: {', '.join(gone)}", line=rows[0].line))


def _blank(lines: list[str], rows: list[CondensedRow]) -> str:
    for r in rows:
        lines[r.line - 1] = ""          # the format's parser reads the rest, line numbers kept
    return "\n".join(lines)


def _condensed_bufinfo(text: str, label: str, problems: list) -> tuple[str, list[CondensedRow]]:
    """bufinfo rows with columns elided under the kernel's header: the size must be left."""
    if not has_elision(text):
        return text, []
    lines = text.split("\n")
    cols: list[str] | None = None
    rows: list[CondensedRow] = []
    for n, line in enumerate(lines, 1):
        toks = line.split()
        if toks[:1] == ["size"] and "exp_name" in toks:
            cols = toks
            continue
        if cols is not None and has_elision(line):
            r = read_row(line, cols, n)
            if r is not None and integer(r.cells.get("size")) is not None and (
                    "ino" not in r.cells or integer(r.cells["ino"]) is not None):
                rows.append(r)
    _say_condensed(problems, label, "bufinfo", rows, "size, exporter, inode, name where left")
    # left out, not blanked: an empty line after a row would read as its name going on
    drop = {r.line for r in rows}
    return "\n".join(l for n, l in enumerate(lines, 1) if n not in drop), rows


_KB = re.compile(r"(\d+) kB\b")
_COMM_PID = re.compile(r"^\s*(?P<comm>\S.*):(?P<pid>\d+)\s*$")


def _condensed_dmabuf_dump(text: str, label: str, problems: list) -> tuple[str, list]:
    """dmabuf_dump's per-process rows with columns elided under its header: inode and Rss left."""
    if not has_elision(text):
        return text, []
    lines = text.split("\n")
    cols: list[str] | None = None
    pid, comm = None, ""
    rows: list[CondensedRow] = []
    recs: list = []
    for n, line in enumerate(lines, 1):
        toks = line.split()
        if toks[:5] == ["Name", "Rss", "Pss", "nr_procs", "Inode"]:
            cols = toks
            continue
        m = _COMM_PID.match(line)
        if m and " kB" not in line and not has_elision(line):
            pid, comm, cols = int(m.group("pid")), m.group("comm").strip(), None
            continue
        if cols is None or pid is None or not has_elision(line):
            continue
        r = read_row(_KB.sub(r"\1kB", line), cols, n, first_takes_rest=True)
        if r is None:
            continue
        c = r.cells
        rss, ino = kib(c.get("Rss")), integer(c.get("Inode"))
        if rss is None or ino is None:
            continue
        pss, nr = kib(c.get("Pss")), integer(c.get("nr_procs"))
        name = c.get("Name")
        rows.append(r)
        recs.append(p_dump.DumpBuffer(pid, comm, None if name in (None, "<unknown>") else name, rss,
                                      pss if pss is not None else 0, nr or 0, ino,
                                      None if c.get("Exporter") in (None, "<unknown>") else c["Exporter"]))
    _say_condensed(problems, label, "dmabuf_dump", rows, "inode, Rss and what else is left")
    return _blank(lines, rows), recs


def kib(s: str | None) -> int | None:
    v = integer(s[:-2]) if s and s.endswith("kB") else None
    return None if v is None else v * 1024


def _feed(b: Builder, fmt: str, text: str, label: str, pid: int | None) -> bool:
    """Feed one pasted text; returns True when it says who holds buffers (all processes)."""
    if fmt == "bufinfo":
        text, rows = _condensed_bufinfo(text, label, b.problems)
        t = p_bufinfo.read(text)
        for r in rows:
            c = r.cells
            t.sizes.append(integer(c["size"]))
            t.counts.append(integer(c.get("count")))
            t.exporters.append(c.get("exp_name"))
            t.inodes.append(integer(c.get("ino")))
            t.names.append(None if c.get("name") in (None, "<none>") else c["name"])
            t.attached.append(())
        feed_bufinfo(b, t, "ok", f", {label}")
        return False
    if fmt == "dmabuf_dump":
        text, rows = _condensed_dmabuf_dump(text, label, b.problems)
        res = p_dump.parse(text)
        res.records.extend(rows)
        return feed_dump_records(b, res, text, where=label) >= 0
    if fmt == "dumpsys_meminfo":
        feed_meminfo(b, text, where=label)
        return False
    if fmt in ("ion_heap", "ion_client"):
        m = _HEAP_FROM_PROMPT.search(text)
        name = m.group(1) if m else label.rsplit("/", 1)[-1]
        path = f"{ION_DEBUGFS}{'heaps' if fmt == 'ion_heap' else 'clients'}/{name}"
        feed_ion_debugfs(b, [(i, path, line) for i, line in enumerate(text.split("\n"), 1)])
        return False
    if fmt == "ion_sysfs":
        feed_kernel_totals(b, text)
        return False
    if fmt == "memtrack":
        feed_memtrack_texts(b, [text])
        return False
    if fmt == "memtrack_debug":
        feed_memtrack_texts(b, [], text)
        return False
    if fmt in ("fdinfo", "maps"):
        if pid is None:
            m = _PID_FROM_TEXT.search(text)
            pid = int(m.group(1)) if m else None
        if fmt == "fdinfo":
            # the collector's feeder and join: by inode, else (no ino:) by size+exporter+name
            t = p_fdinfo.table(p_fdinfo.parse_one(text, pid=pid), pasted=True)
            join_without_inode(b, feed_fdinfo(b, t), {})
            lost = sum(1 for i, e in zip(t.inodes, t.exporters) if i is None and e is not None)
        else:
            t = p_maps.read_file(text, pid=pid)
            feed_vmas(b, t)
            lost = sum(t.legacy)
        if pid is not None:
            b.process(pid)          # the holder (the stream has it from status)
        if pid is None:
            b.problems.append(Problem(fmt, f"{label}: no pid known for this {fmt} (pass --pid N): its buffers "
                                      "are listed without their holder" + (f"; {lost} without an inode could not "
                                      "be placed at all: skipped" if lost else "")))
        return False
    if fmt == "mali_gpu_memory":
        feed_mali(b, text, where=label)
        return False
    if fmt == "dumpsys_gpu":
        feed_dumpsys_gpu(b, text, where=label)
        return False
    if fmt == "dmaprocs":
        return feed_dmaprocs(b, text, where=label) > 0
    if fmt == "dumpsys_surfaceflinger":
        feed_surfaceflinger(b, text, where=label)
        return False
    raise AnalyzeError(f"{label}: format {fmt} is recognised but cannot be analysed yet")
