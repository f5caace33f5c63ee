"""Is a collector stream complete enough to stand for the device?

A stream can be cut: the cable pulled, adbd killed, the device stalling until droidtrack gives up,
the collector killed on a --root tree, a capture file cut short. Every section that arrived is
kept (frames.decode keeps even the one in flight), and the snapshot says what is missing:

* `sources["stream"]` is `truncated`, with where the stream stopped and what was not received;
* each core section that did not arrive whole is `truncated` under its own name ("not received"
  when nothing of it came), and the derived source `sysfs_stats` too when the `files` section
  was cut (it would otherwise claim the kernel has no sysfs stats);
* a problem says the same, first in the list.

**Complete enough** means: every core section arrived whole. The core sections are those that
list the buffers and who holds them: `fdlinks`, `maps`, `bufinfo`, `fdinfo`, `status`, `cmdline`
(the collector's procfiles), `fdstat` (where the collector ran it), `smaps` and `files` (sysfs
buffer stats, memtrack, ION, GPU counters). A cut after them (in `dma_heap_devs` or in the
optional `dumpsys`/`dmabuf_dump` sections) loses only secondary figures: the snapshot still
stands for the device (exit 0, truncation marked). A cut before or inside one of them leaves a
snapshot that does not (`Collected.complete` is False: commands exit 2; `record` stores the
sample as failed, not as a device holding fewer buffers).
"""
from __future__ import annotations

from dataclasses import replace

from droidtrack.collect.frames import Frames
from droidtrack.model import Snapshot, SourceStatus
from droidtrack.model.problems import Problem

CORE_SECTIONS = ("fdlinks", "maps", "bufinfo", "fdinfo", "status", "cmdline", "smaps", "files")
# sections the collector prints only when asked or where needed: core when they began
OPTIONAL_CORE = ("fdstat",)
STREAM_KEY = "stream"


def judge(fr: Frames, snap: Snapshot, error: str | None = None) -> tuple[Snapshot, bool, bool, str | None]:
    """-> (snapshot annotated with what is missing, truncated, complete enough, why not / what was cut).

    A stream that reached its DONE marker is whole, whatever `error` says (an exit packet lost
    after the last byte); the error is then only a problem."""
    if fr.complete and not any(s.status == "truncated" for s in fr.sections.values()):
        return snap, False, True, None
    cut = [n for n, s in fr.sections.items() if s.status == "truncated"]
    not_received = [n for n in CORE_SECTIONS if n not in fr.sections]
    broken = [n for n in (*CORE_SECTIONS, *OPTIONAL_CORE) if n in cut]
    where = f"inside section {cut[-1]}" if cut else (f"after section {list(fr.sections)[-1]}" if fr.sections
                                                      else "before the first section")
    what = f"the stream from the device was cut {where}"
    if error:
        what += f" ({error})"
    lost = broken + not_received
    complete = not lost
    if complete:
        detail = what + "; every section that lists buffers and holders arrived whole"
    else:
        detail = what + "; not received whole: " + ", ".join(lost)
    sources = dict(snap.sources)
    for n in cut:
        if n in sources:
            sources[n] = SourceStatus("truncated", "cut: only the part that arrived was read")
    for n in not_received:
        sources[n] = SourceStatus("truncated", "not received: the stream was cut before this section")
    if "files" in lost and sources.get("sysfs_stats", SourceStatus("ok")).status in ("missing", "ok"):
        sources["sysfs_stats"] = SourceStatus("truncated", "the files section was cut: sysfs stats not known whole")
    sources[STREAM_KEY] = SourceStatus("truncated", detail)
    verdict = ("the snapshot still stands for the device" if complete
               else "this snapshot is incomplete: it does not stand for the device")
    problems = (Problem(STREAM_KEY, f"{detail}: {verdict}"),) + tuple(snap.problems)
    return replace(snap, sources=sources, problems=problems), True, complete, None if complete else detail
