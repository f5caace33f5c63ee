"""status / cmdline / per-pid integers / properties, on real /proc output where possible."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse import procfs
from droidtrack.parse.grepout import split_grep
from parsed import fast_agrees


def _child(*args):
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])


def test_real_status_with_escaped_comm_and_self_uid():
    # only a process itself may rename itself: the child writes its own comm, then says so
    p = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                          "open('/proc/self/comm', 'w').write('we\\\\ird\\nname')\n"
                          "print('ok', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ok\n"
        files = sorted(glob.glob("/proc/[0-9]*/status")) + ["/proc/self/status"]
        out = subprocess.run(["grep", "-H", "-e", "^Name:", "-e", "^Tgid:", "-e", "^PPid:", "-e", "^Uid:", *files],
                             capture_output=True).stdout.decode("utf-8", "backslashreplace")
        r = procfs.parse_status(out, "")
        me = {s.pid: s for s in r.records}[p.pid]
        assert (me.name, me.tgid, me.ppid, me.uid) == ("we\\ird\nname", p.pid, os.getpid(), os.getuid())
        assert r.self_uid == os.getuid()
    finally:
        p.kill()
        p.wait()


def test_real_cmdline_args_with_newlines_colons_and_empty_args():
    p = _child("a:b\nc", "", "[b]x[/b]\x1b[31m", "last")
    try:
        out = subprocess.run(["grep", "-H", "-a", "-z", "", f"/proc/{p.pid}/cmdline", "/proc/1/cmdline"],
                             capture_output=True).stdout.decode("utf-8", "backslashreplace")
        r = procfs.parse_cmdline(out, "")
        assert r[p.pid] == (sys.executable, "-c", "import time; time.sleep(60)", "a:b\nc", "", "[b]x[/b]\x1b[31m",
                            "last")
        assert dict(r)[p.pid] == r[p.pid] and (p.pid, r[p.pid]) in r.records
        assert r.problems == []
    finally:
        p.kill()
        p.wait()


def test_cmdline_android_padding_root_and_cut():
    root = "/tmp/r"
    data = f"{root}/proc/10/cmdline:com.android.systemui\0{root}/proc/10/cmdline:\0{root}/proc/10/cmdline:\0" \
           f"{root}/proc/11/cmdline:/system/bin/surfaceflinger\0{root}/proc/12/cmdline:cut"
    r = procfs.parse_cmdline(data, root)
    assert r.get(10) == ("com.android.systemui",) and r.get(11) == ("/system/bin/surfaceflinger",)
    assert r.get(12) == ("cut",) and any("NUL" in p.message for p in r.problems)


def test_pid_values():
    text = "/proc/1/oom_score_adj:-1000\n/proc/2/oom_score_adj:0\n/proc/2/dmabuf_rss:4096\n" \
           "/proc/3/oom_score_adj:x\n/proc/self/oom_score_adj:5\n"
    r = procfs.parse_pid_values(split_grep(text, ""), "oom_score_adj")
    assert dict(r) == {1: -1000, 2: 0} and len(r.problems) == 1
    assert dict(procfs.parse_pid_values(split_grep(text, ""), "dmabuf_rss")) == {2: 4096}


def test_getprop_and_build_prop():
    text = ("[ro.product.model]: [Pixel 8]\n[ro.build.fingerprint]: [google/shiba:14/AP1A:user/release-keys]\n"
            "[persist.multi]: [line one\nline two]\n[empty]: []\n")
    r = procfs.parse_props(text)
    assert dict(r) == {"ro.product.model": "Pixel 8", "ro.build.fingerprint": "google/shiba:14/AP1A:user/release-keys",
                       "persist.multi": "line one\nline two", "empty": ""}
    bp = "# begin build properties\nro.build.version.sdk=34\nro.build.version.release = 14\nimport /x.prop\n\nnonsense\n"
    r = procfs.parse_props(bp)
    assert dict(r) == {"ro.build.version.sdk": "34", "ro.build.version.release": "14"} and len(r.problems) == 1


_arg = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.integers(1, 10**7), st.lists(_arg, min_size=1, max_size=5).filter(lambda a: a[-1] != ""),
                       max_size=6))
def test_generated_cmdline_round_trip(procs):
    data = "".join(f"/proc/{pid}/cmdline:{a}\0" for pid, args in procs.items() for a in args)
    r = procfs.parse_cmdline(data, "")
    assert dict(r) == {pid: tuple(a) for pid, a in procs.items()} and r.problems == []


_comm = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=15)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.integers(1, 10**7), st.tuples(_comm, st.integers(0, 2**31)), max_size=6))
def test_generated_status_round_trip(procs):
    def esc(s):
        return s.replace("\\", "\\\\").replace("\n", "\\n")
    text = "".join(f"/proc/{pid}/status:Name:\t{esc(n)}\n/proc/{pid}/status:Uid:\t{u}\t{u}\t{u}\t{u}\n"
                   for pid, (n, u) in procs.items())
    r = procfs.parse_status(text, "")
    assert {s.pid: (s.name, s.uid) for s in r.records} == procs and r.problems == []


# ---- status_rows(): the pipeline's reading, only where parse_status agrees ----------------------
def _same_status(got, res) -> None:
    assert got[0] == [(r.pid, r.name, r.tgid, r.ppid, r.uid) for r in res.records]
    assert got[1] == res.self_uid


def status_agrees(text: str, root: str) -> bool:
    return fast_agrees(procfs.status_rows, procfs.parse_status, text, root, _same_status)


def _status(root, pid, name="app", tgid=None, ppid=1, uid=10001):
    p = f"{root}/proc/{pid}/status:"
    return (f"{p}Name:\t{name}\n{p}Tgid:\t{pid if tgid is None else tgid}\n{p}PPid:\t{ppid}\n"
            f"{p}Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n")


def test_status_rows_of_the_collector_s_lines():
    text = _status("/r", 1, "init", ppid=0, uid=0) + _status("/r", 700, "a\\\\b\\nc") + _status("/r", 701, "", tgid=700)
    assert status_agrees(text, "/r")
    assert status_agrees(text + "/r/proc/self/status:Name:\thead\n/r/proc/self/status:Uid:\t2000\t2000\t2000\t2000\n", "/r")
    assert procfs.status_rows("", "/r") == ([], None)
    for old, new in (("Tgid:\t700", "Tgid:\t+700"), ("PPid:\t1\n", "PPid:\t1 \n"), ("/proc/700/", "/proc/0700/"),
                     ("/proc/701/", "/proc/700/"), ("Uid:\t0\t", "Uid: 0\t"), ("Name:\tinit\n", "")):
        assert old in text, old
        assert not status_agrees(text.replace(old, new, 1), "/r"), (old, new)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 99), st.text(st.characters(blacklist_characters="\n"), max_size=6),
                          st.integers(0, 99)), max_size=5),
       st.sampled_from(["", "/r"]), st.lists(st.tuples(st.integers(0, 10**4), st.integers(0, 3),
                                                      st.sampled_from(["\n", "\t", " ", "0", "Uid:", "self"])), max_size=2))
def test_status_rows_never_disagree(procs, root, edits):
    text = "".join(_status(root, pid, name, ppid=pp) for pid, name, pp in procs)
    for pos, cut, ins in edits:
        pos %= len(text) + 1
        text = text[:pos] + ins + text[pos + cut:]
    status_agrees(text, root)


# ---- v2: the status and cmdline files themselves (frames.Section.files) -----------------------
_body = st.lists(st.sampled_from([b"Name:\tcam\n", b"Name:\ta\\nb\n", b"Tgid:\t12\n", b"PPid:\t1\n", b"Uid:\t10123\t0\t0\t0\n",
                                  b"Uid:\tx\n", b"State:\tS\n", b"Name:\n", b"\xff\xfe\n", b"Tgid:\t\n", b"VmRSS: 4 kB\n"]),
                 max_size=8).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["12", "13", "self", "x"]), _body), max_size=4))
def test_status_files_read_as_v1_lines_are(files):
    """read_status_files of v2's files gives the processes parse_status gives the same files' key
    lines as v1's grep printed them."""
    import re
    files = list({p: b for p, b in files}.items())
    v2 = procfs.read_status_files([(f"/proc/{p}/status", b) for p, b in files])
    text = "".join(f"/r/proc/{p}/status:" + m.decode("utf-8", "backslashreplace") + "\n"
                   for p, b in files for m in re.findall(rb"^(?:Name|Tgid|PPid|Uid):[^\n]*", b, re.M))
    v1 = procfs.read_status(text, "/r")
    assert (v2.pids, v2.names, v2.tgids, v2.ppids, v2.uids, v2.self_uid) == \
        (v1.pids, v1.names, v1.tgids, v1.ppids, v1.uids, v1.self_uid)
    assert [p.message for p in v2.problems if "path is not" not in p.message] == \
        [p.message for p in v1.problems if "path is not" not in p.message]


def test_cmdline_files():
    got = procfs.read_cmdline_files([("/proc/12/cmdline", b"cam\0--x\0\0\0"), ("/proc/13/cmdline", b""),
                                     ("/proc/14/cmdline", b"a\nb:c\0\xff\0"), ("/proc/x/cmdline", b"y\0")])
    assert dict(got.records) == {12: ("cam", "--x"), 14: ("a\nb:c", "\\xff")}
    assert [p.message for p in got.problems] == ["path is not /proc/<pid>/cmdline: skipped"]
