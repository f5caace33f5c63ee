"""`droidtrack analyze FILE…`: what pasted text of one source (or a capture) says, as a snapshot."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from droidtrack.commands import add_command
from droidtrack.model.account import account
from droidtrack.model import schema
from droidtrack.present import table
from droidtrack.model.units import human_size
from droidtrack.present.text import safe
from droidtrack.ingest.paste import SUPPORTED, AnalyzeError, analyze
from droidtrack.model.tags import add_rules_arguments, rules_from_args

EPILOG = "formats it recognises (detected from the text itself):\n" + "\n".join(
    f"  {k:<16} {v}" for k, v in SUPPORTED.items()) + """

Pasted copies are fine: console prompts, tabs turned into spaces, text wrapped in Java/C string
literals, cut-off rows. What was skipped is listed under problems. Several files combine into one
snapshot (e.g. a bufinfo and a dmabuf_dump of the same moment). '-' reads standard input.

examples:
  droidtrack analyze bufinfo.txt
  adb shell su 0 dmabuf_dump | droidtrack analyze -
  droidtrack analyze --as maps --pid 1234 maps.txt --format json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "analyze", EPILOG, "read pasted text of one source (bufinfo, dmabuf_dump, meminfo, ...)",
                    "Detect which source a saved or pasted text came from, parse it, and print "
                    "the snapshot it allows.")
    p.add_argument("files", nargs="+", metavar="FILE", help="text files ('-' for standard input)")
    p.add_argument("--as", dest="force", metavar="FORMAT", help="skip detection: the text is this format")
    p.add_argument("--pid", type=int, help="the process a fdinfo or maps text belongs to")
    add_rules_arguments(p, "your own tag rules")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = []
    for f in args.files:
        try:
            data = sys.stdin.buffer.read() if f == "-" else Path(f).read_bytes()
        except OSError as e:
            print(f"droidtrack: cannot read {f}: {e.strerror}", file=sys.stderr)
            return 2
        inputs.append((f, data))
    try:
        snap, pieces = analyze(inputs, rules=rules_from_args(args), force=args.force, pid=args.pid)
    except AnalyzeError as e:
        print(f"droidtrack: {e}", file=sys.stderr)
        return 2
    for pc in pieces:
        print(f"{pc.label}: read as {pc.fmt}", file=sys.stderr)
    acc = account(snap)
    if args.format == "json":
        text = schema.dumps(snap, acc)
    else:
        head = headline(snap, [pc.fmt for pc in pieces])
        # a source that names no buffer (meminfo, gpu, ion totals) heads with its own figures alone:
        # the buffer table would only say "0 buffers, 0B unique" over them
        text = "\n".join(head) + "\n" + (("\n" + table.render(snap, acc)) if snap.buffers else _problems(snap))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


# what each source says first, in its own words: (reported key, label)
_SAYS = {
    "dumpsys_meminfo": (("dumpsys.dmabuf", "DMA-BUF"), ("dumpsys.dmabuf_mapped", "mapped"),
                        ("dumpsys.dmabuf_unmapped", "unmapped"), ("dumpsys.dmabuf_heaps", "DMA-BUF heaps"),
                        ("dumpsys.dmabuf_heaps_pool", "heap pools"), ("dumpsys.ion", "ION"),
                        ("dumpsys.gpu", "GPU"), ("dumpsys.kernel_cma", "kernel CMA"),
                        ("dumpsys.pss_by_category.egl_mtrack", "EGL mtrack"),
                        ("dumpsys.pss_by_category.gl_mtrack", "GL mtrack"),
                        ("dumpsys.pss_by_category.other_mtrack", "Other mtrack"),
                        ("meminfo.egl_mtrack", "EGL mtrack"), ("meminfo.gl_mtrack", "GL mtrack"),
                        ("meminfo.other_mtrack", "Other mtrack"), ("meminfo.gfx_dev", "Gfx dev"),
                        ("meminfo.graphics_summary", "Graphics")),
    "dmabuf_dump": (("dmabuf_dump.total", "dmabuf total"), ("dmabuf_dump.kernel_rss", "kernel_rss"),
                    ("dmabuf_dump.userspace_rss", "userspace_rss"), ("dmabuf_dump.userspace_pss", "userspace_pss"),
                    ("sysfs.total", "sysfs total")),
}
_TITLE = {"dumpsys_meminfo": "dumpsys meminfo", "dmabuf_dump": "dmabuf_dump", "dumpsys_gpu": "dumpsys gpu",
          "mali_gpu_memory": "Mali gpu_memory"}


def headline(snap, fmts: list[str | None]) -> list[str]:
    """What the pasted sources say, one line each, before anything droidtrack adds up."""
    out = []
    for fmt in dict.fromkeys(f for f in fmts if f and f != "capture"):
        says = _SAYS.get(fmt)
        if says is None:
            prefix = {"dumpsys_gpu": "gpu.", "mali_gpu_memory": "gpu.", "ion_heap": "ion.", "ion_client": "ion.",
                      "ion_sysfs": "", "memtrack_debug": "memtrack."}.get(fmt)
            says = tuple((k, k) for k in sorted(snap.reported) if prefix is not None and k.startswith(prefix)
                         and (prefix or k.startswith(("ion.", "dma_heap."))))
        parts = [f"{label} {human_size(snap.reported[k])}" for k, label in says if k in snap.reported]
        per = _per_process(snap, fmt)
        if per:
            parts.append(per)
        if fmt in ("bufinfo", "fdinfo", "maps") and snap.buffers:
            parts.append(f"{len(snap.buffers)} buffers, {human_size(sum(b.size for b in snap.buffers.values()))}")
            if "bufinfo.total" in snap.reported:
                parts.append(f"Total line {human_size(snap.reported['bufinfo.total'])}")
        if fmt == "dmabuf_dump" and snap.buffers:
            held = {pid for b in snap.buffers.values() for pid in b.holders}
            parts.append(f"{len(snap.buffers)} buffers held by {len(held)} processes")
        out.append(f"{_TITLE.get(fmt, fmt)}: " + (" · ".join(parts) if parts else "no figures read"))
    return out


_PER_PROCESS = {"dumpsys_meminfo": ("meminfo.", "apps with memtrack rows"), "dumpsys_gpu": ("gpu_mem.", "processes"),
                "mali_gpu_memory": ("mali.", "GPU contexts' processes"), "ion_heap": ("ion.", "ION clients"),
                "ion_client": ("ion.", "ION clients"), "dmaprocs": ("dmaprocs", "processes"),
                "memtrack": ("memtrack", "processes")}


def _per_process(snap, fmt: str) -> str:
    prefix, what = _PER_PROCESS.get(fmt, (None, ""))
    if prefix is None:
        return ""
    rows = []
    for p in snap.processes.values():
        v = sum(x for k, x in p.reported.items() if k.startswith(prefix) and k != "meminfo.graphics_summary")
        if any(k.startswith(prefix) for k in p.reported):
            rows.append((v, p))
    if not rows:
        return ""
    rows.sort(key=lambda r: -r[0])
    top = ", ".join(f"{safe(p.cmdline[0] if p.cmdline else p.name or p.pid)} {human_size(v)}" for v, p in rows[:3])
    return f"{len(rows)} {what} (largest: {top})"


def _problems(snap) -> str:
    if not snap.problems:
        return ""
    lines = [f"\n{len(snap.problems)} problems:"]
    for pr in snap.problems[:10]:
        where = f" (line {pr.line})" if pr.line else ""
        lines.append(f"  {safe(pr.source)}{where}: {safe(pr.message)}")
    if len(snap.problems) > 10:
        lines.append(f"  … {len(snap.problems) - 10} more (--format json lists them all)")
    return "\n".join(lines) + "\n"
