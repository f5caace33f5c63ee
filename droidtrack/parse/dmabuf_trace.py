"""The dma_buf trace stream: what device_scripts/trace.sh prints (docs/formats.md §11).

The stream is the script's marker lines (`@@TOKEN TRACE start DIR`, `FORMAT`, `STREAM`, `TRACE
end REASON`, `STATS`, or `TRACE unsupported|denied REASON` alone) around the kernel's trace_pipe
text, one event a line as tracefs prints it with record-tgid on:

      dt_lifetimes-77      (     77) [000] .....    12.345678: dma_buf_fd: exp_name=system size=16384 ino=31 fd=5

  comm (right-aligned in 16 columns; any byte but NUL, a space or a dash included), `-pid`, the
  thread group in parentheses (`(-------)` when the kernel lost it), [cpu], the irq/preempt flags
  (4 or 5 characters), seconds.microseconds, the event name and its TP_printk text. The dma_buf
  events (Linux 7.0+, include/trace/events/dma_buf.h) print:

    dma_buf_export, dma_buf_put, dma_buf_mmap, dma_buf_mmap_internal:
        exp_name=%s size=%zu ino=%lu
    dma_buf_fd, dma_buf_get:
        exp_name=%s size=%zu ino=%lu fd=%d
    dma_buf_dynamic_attach, dma_buf_detach:
        exp_name=%s size=%zu ino=%lu attachment:%p is_dynamic=%d dev_name=%s
  and sched_process_exit `comm=%s pid=%d prio=%d[ group_dead=true|false]` (group_dead from 6.x
  on); tracing_mark_write carries the script's end marker. The kernel says `CPU:N [LOST M EVENTS]`
  where its buffer overran; STATS lines (`.../per_cpu/cpuN/stats:overrun: M`) give the counts.

Hostile input: the kernel prints names raw, so a comm or exporter with a newline splits a line; a
stream cut by a disconnect ends mid-line. A line is an event only when the whole line reads as one
(anchored patterns: the fixed fields after exp_name are taken from the end of the line, so an
exporter name with spaces or `size=` in it is read whole; dev_name, last, is everything after
`dev_name=`). Anything else is skipped with a Problem (counted past the first few): never an event
made from a piece of a line. `TraceReader.feed` takes bytes as they arrive and never raises.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from droidtrack.model.problems import Problem, ProblemLog

SOURCE = "dmabuf_trace"
MAX_LINE = 1024
DMA_BUF_EVENTS = ("export", "fd", "get", "put", "mmap", "mmap_internal", "dynamic_attach", "detach")


@dataclass(frozen=True, slots=True)
class TraceEvent:
    kind: str                 # export fd get put mmap mmap_internal dynamic_attach detach exit
    ts: float                 # seconds (the trace clock of the device)
    pid: int                  # the thread
    tgid: int | None          # its process (None: the kernel did not record it)
    comm: str
    cpu: int
    ino: int | None = None
    size: int | None = None
    exporter: str | None = None
    fd: int | None = None
    dev: str | None = None
    attachment: str | None = None
    dynamic: bool | None = None
    group_dead: bool | None = None   # exit: the whole thread group ended
    line: int = 0

    @property
    def process(self) -> int:
        """The process the event happened in: its thread group, else the thread."""
        return self.tgid if self.tgid is not None else self.pid

    def to_json(self) -> dict:
        d = {"kind": self.kind, "ts": self.ts, "pid": self.pid, "tgid": self.tgid, "comm": self.comm,
             "cpu": self.cpu}
        for k in ("ino", "size", "exporter", "fd", "dev", "attachment", "dynamic", "group_dead"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


_HEAD = re.compile(
    r" *(?P<comm>.{0,64}?)-(?P<pid>\d{1,10}) +(?:\( *(?P<tgid>\d{1,10}|-+)\) +)?\[(?P<cpu>\d{1,5})\] +"
    r"(?:\S{4,6} +)?(?P<ts>\d{1,12}\.\d{1,9}): (?P<name>[a-z_]{1,40}): (?P<args>.*)")
_BASE = r"exp_name=(?P<exp>.*) size=(?P<size>\d{1,20}) ino=(?P<ino>\d{1,20})"
_ARGS = {
    "plain": re.compile(_BASE),
    "fd": re.compile(_BASE + r" fd=(?P<fd>-?\d{1,10})"),
    "attach": re.compile(r"exp_name=(?P<exp>.*?) size=(?P<size>\d{1,20}) ino=(?P<ino>\d{1,20}) "
                         r"attachment:(?P<att>\S{1,40}) is_dynamic=(?P<dyn>[01]) dev_name=(?P<dev>.*)"),
}
_CLASS = {"export": "plain", "put": "plain", "mmap": "plain", "mmap_internal": "plain",
          "fd": "fd", "get": "fd", "dynamic_attach": "attach", "detach": "attach"}
_EXIT = re.compile(r"comm=(?P<comm>.*) pid=(?P<pid>\d{1,10}) prio=-?\d{1,5}(?: group_dead=(?P<gd>true|false))?")
_LOST = re.compile(r"CPU:(?P<cpu>\d{1,5}) \[LOST (?P<n>\d{1,20}) EVENTS\]")
_STAT = re.compile(r"(?:.*/)?cpu(?P<cpu>\d{1,5})/stats:(?P<key>overrun|dropped events): (?P<n>\d{1,20})")


def parse_line(line: str, lineno: int = 0) -> TraceEvent | str | None:
    """One trace_pipe line: a TraceEvent, or a string saying why it is not one (None: a line
    that is no event and no fault, e.g. another tracer's marker)."""
    if len(line) > MAX_LINE:
        return f"line longer than {MAX_LINE} characters"
    m = _HEAD.fullmatch(line)
    if m is None:
        return "not a trace_pipe event line"
    name, args = m["name"], m["args"]
    tg = m["tgid"]
    common = dict(ts=float(m["ts"]), pid=int(m["pid"]), tgid=int(tg) if tg and tg[0] != "-" else None,
                  comm=m["comm"], cpu=int(m["cpu"]), line=lineno)
    if name.startswith("dma_buf_"):
        kind = name[8:]
        cls = _CLASS.get(kind)
        if cls is None:
            return f"unknown dma_buf event {name}"
        a = _ARGS[cls].fullmatch(args)
        if a is None:
            return f"{name}: arguments not in the kernel's format"
        ev = dict(kind=kind, ino=int(a["ino"]), size=int(a["size"]), exporter=a["exp"], **common)
        if cls == "fd":
            ev["fd"] = int(a["fd"])
        elif cls == "attach":
            ev.update(dev=a["dev"], attachment=a["att"], dynamic=a["dyn"] == "1")
        return TraceEvent(**ev)
    if name == "sched_process_exit":
        a = _EXIT.fullmatch(args)
        if a is None:
            return "sched_process_exit: arguments not in the kernel's format"
        gd = a["gd"]
        return TraceEvent(kind="exit", group_dead=None if gd is None else gd == "true", **common)
    if name == "tracing_mark_write":
        return None
    return f"unexpected event {name}"


@dataclass
class TraceStatus:
    state: str = "waiting"            # waiting | unsupported | denied | streaming | ended
    reason: str | None = None         # unsupported/denied: why; ended: how
    directory: str | None = None      # the tracefs directory traced
    formats: dict[str, str] = field(default_factory=dict)   # event -> print fmt
    lost: dict[int, int] = field(default_factory=dict)      # cpu -> events lost ([LOST N EVENTS])
    overrun: dict[int, int] = field(default_factory=dict)   # cpu -> overrun count (latest STATS)
    dropped: dict[int, int] = field(default_factory=dict)   # cpu -> dropped events (latest STATS)
    end_marker: bool = False          # the script's end marker arrived: nothing before it is missing
    events: int = 0
    lines: int = 0

    @property
    def lost_events(self) -> int:
        """Events the kernel dropped, the larger of what the stream and the stats said."""
        return max(sum(self.lost.values()), sum(self.overrun.values()) + sum(self.dropped.values()))


class TraceReader:
    """Reads trace.sh's stdout (feed) and stderr (feed_stderr) incrementally."""

    def __init__(self, token: str) -> None:
        self.marker = f"@@{token} "
        self.end_mark = f"droidtrack-end-{token}"
        self.status = TraceStatus()
        self.problems = ProblemLog()
        self._part = b""
        self._epart = b""
        self._section = "head"
        self._lineno = 0

    # -- stdout
    def feed(self, data: bytes) -> list[TraceEvent]:
        if not data:
            return []
        data = self._part + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._part = data
            if len(data) > 64 * MAX_LINE:       # no newline in 64 KiB: garbage, not a line
                self._skip("no newline in 64 KiB of the stream", data[:120].decode("utf-8", "replace"))
                self._part = b""
            return []
        self._part = data[cut + 1:]
        out: list[TraceEvent] = []
        for raw in data[:cut].decode("utf-8", "replace").split("\n"):
            self._line(raw, out)
        return out

    def _skip(self, why: str, text: str) -> None:
        self.problems.append(Problem(SOURCE, why, self._lineno or None, text))

    def _line(self, line: str, out: list[TraceEvent]) -> None:
        self._lineno += 1
        st = self.status
        st.lines += 1
        if line.endswith("\r"):
            line = line[:-1]
        if line.startswith(self.marker):
            self._marker(line[len(self.marker):])
            return
        sec = self._section
        if sec == "stream":
            if line.endswith(self.end_mark) and "tracing_mark_write: " in line:
                st.end_marker = True
                return
            ev = parse_line(line, self._lineno)
            if isinstance(ev, TraceEvent):
                st.events += 1
                out.append(ev)
            elif ev is not None:
                m = _LOST.fullmatch(line)
                if m:
                    cpu = int(m["cpu"])
                    st.lost[cpu] = st.lost.get(cpu, 0) + int(m["n"])
                elif line:
                    self._skip(f"skipped: {ev}", line)
        elif sec == "format":
            path, sep, fmt = line.partition(":print fmt: ")
            if sep:
                st.formats[path.rsplit("/", 2)[-2] if path.count("/") >= 2 else path] = fmt
        elif sec == "stats":
            self._stat(line)
        elif line:
            self._skip(f"unexpected line in the {sec} of the trace stream", line)

    def _marker(self, rest: str) -> None:
        st = self.status
        word, _, arg = rest.partition(" ")
        if word == "TRACE":
            what, _, why = arg.partition(" ")
            if what in ("unsupported", "denied"):
                st.state, st.reason = what, why or None
            elif what == "start":
                st.directory = why
            elif what == "end":
                st.state, st.reason = "ended", why or None
                self._section = "tail"
        elif word in ("FORMAT", "STREAM", "STATS"):
            self._section = word.lower()
            if word == "STREAM":
                st.state = "streaming"
        else:
            self._skip("unknown marker in the trace stream", rest)

    def _stat(self, line: str) -> None:
        m = _STAT.fullmatch(line)
        if m is None:
            if line:
                self._skip("unexpected line in the trace statistics", line)
            return
        table = self.status.overrun if m["key"] == "overrun" else self.status.dropped
        table[int(m["cpu"])] = int(m["n"])

    # -- stderr: the periodic STATS blocks, and whatever else the script's tools said
    def feed_stderr(self, data: bytes) -> None:
        data = self._epart + data
        cut = data.rfind(b"\n")
        self._epart = data[cut + 1:] if cut >= 0 else data
        if cut < 0:
            return
        for line in data[:cut].decode("utf-8", "replace").split("\n"):
            if line.startswith(self.marker) or not line:
                continue
            if _STAT.fullmatch(line):
                self._stat(line)
            else:
                self.problems.append(Problem(SOURCE, "the trace script said", None, line))

    def close(self, error: str | None = None) -> None:
        """The stream ended (error: why it was cut). A partial last line is a cut line: said, not read."""
        st = self.status
        if self._part:
            self._skip("the stream ended in the middle of a line (not read)",
                       self._part[:120].decode("utf-8", "replace"))
            self._part = b""
        if error is not None or (st.state == "streaming" and not st.end_marker):
            if st.state in ("streaming", "waiting"):
                st.state = "cut"
            st.reason = error or "the stream ended without the trace script's end"
            self.problems.append(Problem(SOURCE, f"trace stream cut: {st.reason}; every event received is kept"))
        elif st.state == "ended" and not st.end_marker:
            self.problems.append(Problem(SOURCE, "the trace ended without its end marker: the last events "
                                                 "before the end may be missing"))
        if st.lost_events:
            self.problems.append(Problem(SOURCE, f"the kernel's trace buffer overran: {st.lost_events} events lost"))
