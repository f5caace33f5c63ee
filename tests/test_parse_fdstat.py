"""`fdstat` (ls -i -L -n of the fd directories): the parser on toybox's and busybox's real output
shapes, hostile input, and the join it makes exact on kernels whose fdinfo has no `ino:`.

The shapes below are what toybox 0.8.9 and busybox 1.35 printed for `ls -i -L -n` over a
collector token path (the collector's lone-directory helper file first), run in this repository's
collector test tree; the VM test (tests/test_realkernel.py) checks the same listing against a
real kernel's dma-buf inodes."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from collector_support import TOKEN, copy_tree, run_collector
from droidtrack.collect import frames
from droidtrack.model.account import account
from droidtrack.model import schema
from droidtrack.parse import fdstat
from droidtrack.parse._lines import INTERNAL_ERROR
from droidtrack.parse.fdstat import FdStat
from droidtrack.ingest.stream import snapshot_from_frames

REPO = Path(__file__).resolve().parent.parent

TOYBOX = """2174042 -rw-r--r-- 1 0 0    0 2026-11-26 02:46 .droidtrack.17560.TT1.e

/R/proc/100/fd:
total 4
    115 crw-rw-rw- 1 0 0 1,   3 2026-11-26 02:46 0
2171650 -rw-r--r-- 1 0 0 4096 2026-11-26 02:46 6

/R/proc/2000/fd:
total 0
  19841 -rw------- 1 10105 10105 10368000 2026-11-26 02:46 17
"""

BUSYBOX = """2174042 -rw-r--r--    1 0        0                0 Nov 26 02:46 .droidtrack.17588.TT1.e

/R/proc/100/fd/:
total 4
    115 crw-rw-rw-    1 0        0           1,   3 Nov 26 02:46 0
2171650 -rw-r--r--    1 0        0             4096 Nov 26 02:46 6
"""


def test_toybox_shape():
    res = fdstat.parse(TOYBOX, "/R")
    assert res.records == [FdStat(100, 0, 115, None), FdStat(100, 6, 2171650, 4096),
                           FdStat(2000, 17, 19841, 10368000)]
    assert res.problems == []


def test_busybox_shape():
    res = fdstat.parse(BUSYBOX, "/R")
    assert res.records == [FdStat(100, 0, 115, None), FdStat(100, 6, 2171650, 4096)]
    assert res.problems == []


def test_entries_outside_a_listing_or_garbled_are_skipped_and_counted():
    text = ("  5 -rw------- 1 0 0 9 2026-11-26 02:46 3\n"        # before any header
            "/R/proc/7/fd:\n"
            "  6 -rw------- 1 0 0 9 2026-11-26 02:46 4\n"
            "\x1b[31m  7 -rw------- 1 0 0 9 2026-11-26 02:46 5\n"  # garbage in front
            "/elsewhere/proc/8/fd:\n"                              # not below the root
            "  8 -rw------- 1 0 0 9 2026-11-26 02:46 6\n")
    res = fdstat.parse(text, "/R")
    assert res.records == [FdStat(7, 4, 6, 9)]
    assert len(res.problems) == 1 and "4 lines" in res.problems[0].message


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_never_raises_and_only_numbers_come_out(text):
    res = fdstat.parse("/R/proc/1/fd:\n" + text, "/R")
    assert not [p for p in res.problems if INTERNAL_ERROR in p.message]     # guard() hides raises
    for r in res.records:
        assert r.pid >= 0 and r.fd >= 0 and r.inode >= 0


# ---- the join ---------------------------------------------------------------------------------
def ls_listing(truth: dict, root: str, *, skip: set = frozenset(), wrong_size: set = frozenset()) -> bytes:
    """The fdstat section a 5.4 kernel would give for this phone: every dma-buf fd's own inode and
    size, toybox's shape (other fds are left out: the join never looks at them)."""
    by_pid: dict[int, list[tuple[int, int, int]]] = {}
    for b in truth["buffers"]:
        for pid, h in b["holders"].items():
            for fd in h["fds"]:
                if (int(pid), fd) in skip:
                    continue
                size = b["size"] + (4096 if (int(pid), fd) in wrong_size else 0)
                by_pid.setdefault(int(pid), []).append((fd, b["inode"], size))
    out = []
    for pid in sorted(by_pid):
        out.append(f"{root}/proc/{pid}/fd:\ntotal 0")
        for fd, ino, size in sorted(by_pid[pid]):
            out.append(f"{ino:7d} -rw------- 1 1000 1000 {size} 2026-11-26 02:46 {fd}")
        out.append("")
    return "\n".join(out).encode()


def a11_frames(**kw) -> frames.Frames:
    src = REPO / "fixtures" / "a11-5.4"
    run = run_collector(copy_tree(src, "fx-a11"), "mksh-static+toybox")
    assert run.rc == 0
    fr = frames.decode(run.stdout, TOKEN)
    truth = json.loads((src / "truth.json").read_text())
    fr.sections["fdstat"] = frames.Section("fdstat", ls_listing(truth, fr.root, **kw), rc=0, status="ok")
    return fr, truth


def test_a11_with_fdstat_is_exact_like_a13():
    """With the inodes stat gives, a 5.4 kernel's snapshot is exact: every holder's fds, every
    process's RSS/PSS, and what nobody holds is kernel-only again."""
    fr, truth = a11_frames()
    snap = snapshot_from_frames(fr, time=0.0)
    s = schema.to_dict(snap, account(snap))
    sb = {b["inode"]: b for b in s["buffers"]}
    for tb in truth["buffers"]:
        b = sb[tb["inode"]]
        assert {p: (sorted(h["fds"]), len(h["maps"])) for p, h in b["holders"].items()} == \
            {p: (sorted(h["fds"]), len(h["maps"])) for p, h in tb["holders"].items()}, tb["inode"]
    sp = {str(p["pid"]): p for p in s["processes"]}
    for pid, tp in truth["processes"].items():
        if tp["dmabuf_rss"]:
            assert (sp[pid]["rss"], sp[pid]["pss"]) == (tp["dmabuf_rss"], tp["dmabuf_pss"]), pid
            assert "unjoined_fds" not in sp[pid]["reported"]
    t = s["totals"]
    assert (t["userspace"], t["kernel_only"], t["unattributed"]) == \
        (truth["totals"]["held_bytes"], truth["totals"]["kernel_only_bytes"], 0)
    assert s["sources"]["fdstat"]["status"] == "ok"
    assert not any(p["source"] in ("fdinfo", "fdstat") for p in s["problems"])


def test_a11_fdstat_gaps_fall_back_without_misattributing():
    """An fd stat could not reach, and one whose stat size is not fdinfo's (closed and reused
    between the reads): both fall back to the size+exporter+name rule, never to stat's inode."""
    fr, truth = a11_frames(skip={(520, 6)}, wrong_size={(610, 10)})
    snap = snapshot_from_frames(fr, time=0.0)
    held = {(pid, fd): b.inode for b in snap.buffers.values() for pid, h in b.holders.items() for fd in h.fds}
    real = {(int(pid), fd): b["inode"] for b in truth["buffers"] for pid, h in b["holders"].items()
            for fd in h["fds"]}
    assert all(real[k] == ino for k, ino in held.items())       # nothing misattributed
    assert (520, 6) not in held and (610, 10) not in held          # both ambiguous by size+name
    assert len(held) == len(real) - 2
    assert any("no inode in fdinfo" in p.message for p in snap.problems)


def test_links_that_lead_nowhere_are_counted_not_misread():
    """A pulled tree's fd links name the phone's files: toybox's ls -L prints such a link as
    itself, busybox prints an error instead. Neither is a bad line or a vanished process."""
    text = ("/R/proc/1/fd:\ntotal 0\n"
            "    115 -rw-rw-rw- 1 0 0  0 2026-11-26 03:19 0\n"
            "5342285 lrwxrwxrwx 1 0 0 14 2026-11-26 01:39 3 -> socket:[20001]\n"
            "5342286 lrwxrwxrwx 1 0 0 14 2026-11-26 01:39 6 -> /dmabuf:x -> y\n"
            "  ? l????????? ? ? ?   ?            ? 7\n")          # GNU ls
    res = fdstat.parse(text, "/R")
    assert res.records == [FdStat(1, 0, 115, 0)] and res.unresolved == 3 and res.problems == []


def test_always_under_a_pulled_tree_says_what_it_could_not_follow():
    """`--fd-inodes always` on a fixture (links point nowhere on this machine): the snapshot is the
    same as without it, plus an fdstat source saying how many links could not be followed."""
    import subprocess
    import sys
    outs = []
    for extra in ((), ("--fd-inodes", "always")):
        r = subprocess.run([sys.executable, "-m", "droidtrack", "snapshot", "--root", str(REPO / "fixtures/a13-5.15"),
                            "--format", "json", *extra], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout))
    plain, always = outs
    assert always["problems"] == plain["problems"] == []
    assert "could not be followed" in always["sources"]["fdstat"]["detail"]
    for k in ("buffers", "processes", "totals"):
        assert always[k] == plain[k]
