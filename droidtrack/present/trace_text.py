"""`droidtrack trace` as text: one line per event as it happens, and the lifetimes at the end.
Device strings (comms, exporter and device names) go through present.text.safe."""
from __future__ import annotations

from droidtrack.model.lifetimes import Lifetimes
from droidtrack.parse.dmabuf_trace import TraceEvent
from droidtrack.model.units import human_size
from droidtrack.present.text import safe

_VERB = {"export": "exported", "fd": "fd", "get": "imported", "put": "put", "mmap": "mapped (driver)",
         "mmap_internal": "mapped", "dynamic_attach": "attached", "detach": "detached", "exit": "exited"}


def event_line(ev: TraceEvent) -> str:
    who = f"{safe(ev.comm)}[{ev.process}]"
    if ev.kind == "exit":
        return f"{ev.ts:14.6f}  {'exited':<16} {'':<10} {'':>9}  {'':<10} {who}"
    extra = ""
    if ev.fd is not None:
        extra = f" fd {ev.fd}"
    if ev.dev is not None:
        extra = f" {safe(ev.dev)}"
    return (f"{ev.ts:14.6f}  {_VERB.get(ev.kind, ev.kind):<16} ino {ev.ino:<6} {human_size(ev.size, compact=True):>8}  "
            f"{safe(ev.exporter or '?'):<10} {who}{extra}")


def _per_proc(d: dict, lt: Lifetimes, fmt) -> str:
    out = []
    for p, v in sorted(d.items()):
        pr = lt.processes.get(p)
        out.append(f"{safe(pr.comm) if pr else '?'}[{p}]{fmt(v)}")
    return ", ".join(out) or "-"


def lifetimes_table(lt: Lifetimes) -> list[str]:
    lines = [f"{'ino':>8} {'size':>9}  {'exporter':<10} {'exported by':<24} fds installed / maps / imports / puts / attached"]
    for ino in sorted(lt.buffers):
        life = lt.buffers[ino]
        ex = life.exported
        by = "(before the trace)"
        if ex is not None:
            p = ex["tgid"] if ex["tgid"] is not None else ex["pid"]
            by = f"{safe(ex['comm'])}[{p}]"
        parts = [f"fds {_per_proc(life.fds, lt, lambda v: ' ' + ','.join(map(str, v)))}",
                 f"maps {_per_proc(life.maps, lt, lambda v: f' x{v}')}"]
        if life.gets:
            parts.append(f"imports {_per_proc(life.gets, lt, lambda v: ' fd ' + ','.join(map(str, v)))}")
        if life.puts:
            parts.append(f"puts {sum(life.puts.values())}")
        if life.attachments:
            parts.append("attached " + (", ".join(safe(d) for d in sorted(life.attached.values())) or "none now")
                         + f" ({len(life.attachments)} attach/detach)")
        lines.append(f"{ino:>8} {human_size(life.size, compact=True):>8}  {safe(life.exporter or '?'):<10} {by:<24} " + "; ".join(parts))
    return lines
