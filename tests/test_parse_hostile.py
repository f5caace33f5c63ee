"""Every text parser over hostile text: no internal error hidden by `_lines.guard`, and bounded
problems however much garbage comes in (issue 12 #9: 1.7 M junk lines were 1.7 M problems).

`guard` turns a parser's exception into an "internal parser error" problem so that a snapshot is
never lost; a "never raises" test of a guarded parser therefore passes whatever happens unless it
also asserts that no such problem appears, which is what this file does for every parser.
"""
from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.ingest.stream import snapshot_from_stream
from droidtrack.collect import frames
from droidtrack.model.problems import MAX_KEPT, PER_KIND, Problem, ProblemLog
from droidtrack.parse import (bufinfo, dmabuf_dump, dmaprocs, fdinfo, fdinfo_heads, fdlinks, fdstat, gpu, ion,
                              maps, meminfo, memtrack, procfs, stderr, sysfs_stats)
from droidtrack.parse._lines import INTERNAL_ERROR
from droidtrack.parse.grepout import split_grep

R = "/R"
PARSERS = {
    "bufinfo": lambda t: bufinfo.parse(t), "bufinfo.read": lambda t: bufinfo.read(t),
    "fdinfo.grep": lambda t: fdinfo.parse_grep(t, R), "fdinfo.one": lambda t: fdinfo.parse_one(t),
    "fdinfo.heads": lambda t: fdinfo_heads.parse(t, ".dt.L", R),
    "fdlinks": lambda t: fdlinks.parse(t, R), "fdstat": lambda t: fdstat.parse(t, R),
    "maps": lambda t: maps.parse_maps(t, R), "smaps": lambda t: maps.parse_smaps(t, R),
    "maps.file": lambda t: maps.parse_maps_file(t, 1), "maps@/": lambda t: maps.parse_maps(t, ""),
    "smaps@/": lambda t: maps.parse_smaps(t, ""),
    "smaps.group": lambda t: maps.parse_smaps(f"{R}/proc/1/smaps:1-2 rw-s 0 00:08 3 /dmabuf:\n{R}/proc/1/smaps-" + t, R),
    "status": lambda t: procfs.parse_status(t, R), "cmdline": lambda t: procfs.parse_cmdline(t, R),
    "status@/": lambda t: procfs.parse_status(t, ""), "cmdline@/": lambda t: procfs.parse_cmdline(t, ""),
    "props": procfs.parse_props,
    "pid_values": lambda t: procfs.parse_pid_values(split_grep(t, R), "oom_score_adj"),
    "stderr": lambda t: stderr.parse(t, R), "sysfs": lambda t: sysfs_stats.parse_text(t, R),
    "dmabuf_dump": dmabuf_dump.parse, "dmaprocs": dmaprocs.parse, "meminfo": meminfo.parse,
    "memtrack": memtrack.parse, "memtrack.debug": memtrack.parse_debug, "mali": gpu.parse_mali,
    "dumpsys_gpu": gpu.parse_dumpsys_gpu, "ion.heap": lambda t: ion.parse_heap(t, "system"),
    "ion.client": lambda t: ion.parse_client(t, "c"), "ion.totals": ion.parse_totals,
}
_bits = st.sampled_from(["\n", "\t", " ", ":", "0", "00001000", "-", "kB", "/R/proc/1/", "/R/proc/1/fd/3",
                         "fdinfo/", "==> .dt.L/1/fdinfo/3 <==\n", "size:\t", "exp_name:\t", "Total ", "\\012",
                         "/dmabuf:", " -> ", "\x1b[31m", "\u202e", "\x00", "Name:\t", "Uid:\t", "Attached Devices:"])
_hostile = st.lists(st.one_of(_bits, st.text(max_size=6)), max_size=40).map("".join)


def problems_of(res):
    return list(res.problems)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_hostile, st.text()))
def test_no_parser_hides_an_internal_error(text):
    for name, parse in PARSERS.items():
        res = parse(text)
        bad = [p.message for p in problems_of(res) if INTERNAL_ERROR in p.message]
        assert not bad, (name, bad)


def test_problems_of_one_kind_are_counted_not_listed():
    log = ProblemLog()
    for i in range(10 * PER_KIND):
        log.append(Problem("x", "bad line", line=i))
    log.append(Problem("x", "other"))
    assert len(log) == PER_KIND + 1
    out = log.summarized()
    assert out[-1].message == f"{9 * PER_KIND} more problems like this not listed: bad line"
    big = ProblemLog()
    for i in range(3 * MAX_KEPT):
        big.append(Problem("y", f"distinct {i}"))
    assert len(big) == MAX_KEPT and big.summarized()[-1].message.startswith(f"{2 * MAX_KEPT} more problems")
    merged = ProblemLog()
    merged.extend(log)
    assert merged.summarized() == out


def _stream(sections: dict[str, bytes]) -> bytes:
    return frames.encode([frames.Section(k, v, status="ok", rc=0) for k, v in sections.items()], "tok", "")


def test_junk_lines_stay_a_few_problems_in_bounded_memory():
    """issue 12 #9: 1.7 M junk lines in one section gave 1.7 M problems (227 MB of JSON, 1.2 GB)."""
    junk = b"junk line that is no row\n" * 300_000
    snap = snapshot_from_stream(_stream({"fdinfo": junk, "status": junk}), time=0.0)
    assert len(snap.problems) < 100, len(snap.problems)
    assert any(p.message.startswith("299980 more problems like this not listed") for p in snap.problems)
    small = b"junk line that is no row\n" * 30_000
    data = _stream({"bufinfo": small, "fdinfo": small, "maps": small, "fdlinks": small})
    tracemalloc.start()
    snap = snapshot_from_stream(data, time=0.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(snap.problems) < 100, len(snap.problems)
    assert peak < 12 * len(data), (peak, len(data))
