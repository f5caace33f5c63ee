"""The one-line bars around the tables: header (connection state and device), summary (totals),
coverage (what could and could not be read), the disconnect banner and the replay slider. Each is
a pure function `frame -> Text` plus a Static to show it."""
from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from droidtrack.tui.state import Coverage, Frame
from droidtrack.tui.text import fmt_bytes, fmt_clock, lit, plural, safe, sparkline, tag_style


def header_text(label: str, frame: Frame | None, state: str, interval: float, kind: str) -> Text:
    """Connection state first (it must never be cut off), then the device."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" droidtrack top ", style="bold reverse")
    t.append(" ")
    style = {"live": "bold green", "paused": "bold yellow", "disconnected": "bold red",
             "connecting": "yellow", "replay": "cyan", "playing": "bold cyan"}.get(state, "")
    mark = {"live": "● live", "paused": "‖ paused", "disconnected": "✖ disconnected",
            "connecting": "… connecting", "replay": "‖ replay", "playing": "▶ replay"}.get(state, state)
    t.append(mark, style=style)
    if kind != "replay":
        t.append(f" every {interval:g}s")
    if frame is not None:
        t.append(f" {fmt_clock(frame.time)}", style="dim")
    t.append(" │ ", style="dim")
    if frame is None:
        t.append_text(lit(label))
        t.append(" · waiting for the first snapshot…", style="dim")
        return t
    d = frame.snapshot.device
    name = " ".join(x for x in (d.manufacturer, d.model) if x) or d.serial or label
    t.append_text(lit(name, "bold"))
    if d.serial:
        t.append(" (")
        t.append_text(lit(d.serial))
        t.append(")")
    if d.release or d.sdk:
        t.append(" · Android ")
        t.append_text(lit(d.release or "?"))
        if d.sdk:
            t.append(f" (API {d.sdk})")
    if d.kernel:
        t.append(" · kernel ")
        t.append_text(lit(d.kernel))
    if d.rooted is not None:
        t.append(" · root" if d.rooted else " · no root", style="green" if d.rooted else "yellow")
    return t


def summary_text(frame: Frame | None) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    if frame is None:
        return t
    tot = frame.acc.totals
    t.append("unique ", style="dim")
    t.append(fmt_bytes(tot.bytes), style="bold")
    t.append(f" ({tot.buffers} bufs) ", style="dim")
    t.append_text(sparkline(frame.total_spark, width=8, style="cyan"))
    for label, v in (("held", tot.userspace), ("ΣRSS", tot.sum_rss), ("ΣPSS", tot.sum_pss),
                     ("kernel-only", tot.kernel_only), ("fd-only", tot.fd_only)):
        t.append(f"  {label} ", style="dim")
        t.append(fmt_bytes(v), style="bold")
    t.append("  │ ", style="dim")
    for tr in frame.tags[:6]:
        t.append(safe(tr.key), style=tag_style(tr.key))
        t.append(f" {fmt_bytes(tr.bytes)} ")
    return t


_STATUS = {"ok": ("✓", "green"), "partial": ("◐", "yellow"), "denied": ("✗", "red"),
           "missing": ("–", "dim"), "not-mounted": ("–", "dim"), "error": ("✗", "red"),
           "skipped": ("○", "dim"), "truncated": ("✂", "red")}


def coverage_text(cov: Coverage | None, disconnected: bool = False) -> Text:
    t = Text(no_wrap=False, overflow="fold")
    t.append("coverage ", style="bold")
    if cov is None:
        t.append("nothing read yet", style="yellow")
        return t
    bad = 0
    for name, status, detail in cov.sources:
        mark, style = _STATUS.get(status, ("?", "yellow"))
        t.append_text(lit(name))
        t.append(" ")
        t.append(mark, style=style)
        if status != "ok":
            bad += status not in ("missing", "not-mounted", "skipped")
            t.append(status, style=style)
        t.append("  ")
    if not cov.sources:
        t.append("(the source said nothing about what it read) ", style="yellow")
    notes = []
    if cov.headline and (cov.fds_unreadable or cov.maps_unreadable):
        notes.append((cov.headline, "bold yellow"))     # what is exact, what estimated, what is not known
    who = "no root: " if cov.rooted is False else ""
    if cov.fds_unreadable:
        notes.append((f"{who}fdinfo of {cov.fds_unreadable} of {plural(cov.processes, 'process')} unreadable",
                      "bold yellow"))
    if cov.maps_unreadable and cov.maps_unreadable != cov.fds_unreadable:
        notes.append((f"maps of {plural(cov.maps_unreadable, 'process')} unreadable", "yellow"))
    elif cov.maps_unreadable:
        notes.append(("their maps too", "yellow"))
    if cov.problems:
        notes.append((f"{plural(cov.problems, 'problem')} (k lists them)", "yellow"))
    if not notes and not bad:
        notes.append(("everything readable was read", "green"))
    for text, style in notes:
        t.append("│ ", style="dim")
        t.append(text, style=style)
        t.append(" ")
    if disconnected:
        t.append("│ showing the last good snapshot", style="red")
    return t


def banner_text(message: str, retry_in: float, failures: int, last: float | None) -> Text:
    t = Text(no_wrap=False, overflow="fold")
    t.append(" ⚠ connection lost: ", style="bold")
    t.append_text(lit(message))
    t.append(f" — retry #{failures} in {retry_in:g}s")
    if last is not None:
        t.append(f"; showing the snapshot of {fmt_clock(last)}, history kept")
    return t


def slider_text(pos: int, n: int, t: float | None, width: int) -> Text:
    out = Text(no_wrap=True)
    out.append(f" {pos + 1}/{n} ", style="bold")
    bar = max(10, width - 60)
    at = 0 if n <= 1 else round(pos * (bar - 1) / (n - 1))
    out.append("━" * at, style="cyan")
    out.append("●", style="bold cyan")
    out.append("─" * (bar - 1 - at), style="dim")
    out.append(f" {fmt_clock(t)} ", style="bold")
    out.append(" [ ] step  { } ±10  click to jump  p play", style="dim")
    return out


class Bar(Static):
    """A one-line (or wrapping) Static shown from a Text."""


class Slider(Bar):
    """The replay position; a click jumps there."""

    class Jump(Message):
        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    def on_click(self, event: events.Click) -> None:
        width = self.size.width
        bar = max(10, width - 60)
        # the bar starts after " i/n " (variable); approximate from the rendered text
        start = len(str(getattr(self, "_prefix", ""))) or 8
        x = event.x - start
        if 0 <= x < bar:
            self.post_message(self.Jump(x / max(1, bar - 1)))
