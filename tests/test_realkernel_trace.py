"""`droidtrack trace` against a real kernel (issue 16): trace.sh runs in the 7.x VM (mksh + toybox)
while tests/realkernel/lifetimes.c allocates from the system heap and udmabuf, forks a child that
allocates and passes a buffer by SCM_RIGHTS, maps, imports into vgem and exports from it; the
lifetimes droidtrack derives from the stream must be exactly what the workload's own log says.
On 6.12 (no dma_buf tracepoints) trace.sh must say so and droidtrack must say so plainly.

The tests without qemu read the stream and log saved from such a run (tests/realkernel/captures/).
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO / "tests" / "realkernel" / "captures"
SAVED_STREAM = CAPTURES / "linux-7.3-trace.stream"
SAVED_LOG = CAPTURES / "linux-7.3-lifetimes.json"
SAVED_OVERRUN = CAPTURES / "linux-7.3-overrun.stream"
SAVED_OVERRUN_LOG = CAPTURES / "linux-7.3-overrun.log.json.gz"
# include/trace/events/dma_buf.h (7.0+) as tracefs prints each event's format
FORMATS = {
    "dma_buf_export": '"exp_name=%s size=%zu ino=%lu"',
    "dma_buf_put": '"exp_name=%s size=%zu ino=%lu"',
    "dma_buf_mmap": '"exp_name=%s size=%zu ino=%lu"',
    "dma_buf_mmap_internal": '"exp_name=%s size=%zu ino=%lu"',
    "dma_buf_fd": '"exp_name=%s size=%zu ino=%lu fd=%d"',
    "dma_buf_get": '"exp_name=%s size=%zu ino=%lu fd=%d"',
    "dma_buf_dynamic_attach": '"exp_name=%s size=%zu ino=%lu attachment:%p is_dynamic=%d dev_name=%s"',
    "dma_buf_detach": '"exp_name=%s size=%zu ino=%lu attachment:%p is_dynamic=%d dev_name=%s"',
}


def trace_stream(stream: Path, tmp: Path) -> tuple[int, dict, str]:
    """droidtrack trace --stream FILE -o OUT: (exit code, its end record, stderr)."""
    out = tmp / "trace.jsonl"
    r = subprocess.run([sys.executable, "-m", "droidtrack", "trace", "--stream", str(stream), "-q", "-o", str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "end"
    return r.returncode, lines[-1], r.stderr


def expected_lifetimes(log: dict) -> dict[int, dict]:
    """What the workload's own log says each buffer lived through (no droidtrack code)."""
    ids = {b["id"]: b for b in log["buffers"]}
    want = {b["inode"]: {"size": b["size"], "exporter": b["exporter"], "exported_by": None, "fds": {},
                         "maps": {}, "gets": {}, "attach": [], "detach": []} for b in log["buffers"]}
    exits = set()
    for a in log["actions"]:
        if a["do"] == "exit":
            exits.add(a["pid"])
            continue
        w = want[ids[a["buf"]]["inode"]]
        pid = str(a["pid"])
        if a["do"] == "export":
            w["exported_by"] = a["pid"]
        elif a["do"] == "fd":
            w["fds"].setdefault(pid, []).append(a["fd"])
        elif a["do"] == "map":
            w["maps"][pid] = w["maps"].get(pid, 0) + 1
        elif a["do"] == "get":
            w["gets"].setdefault(pid, []).append(a["fd"])
        elif a["do"] in ("attach", "detach"):
            w[a["do"]].append(a["dev"])
    return {"buffers": want, "exits": exits, "driver_touched": {ids[a["buf"]]["inode"] for a in log["actions"]
                                                                 if a["do"] in ("get", "put")} |
            {ids[b]["inode"] for b in ids if ids[b]["exporter"] == "drm"}}


def compare_lifetimes(end: dict, log: dict) -> list[str]:
    """Every difference between droidtrack's lifetimes (its `end` record) and the workload's log."""
    exp = expected_lifetimes(log)
    got = {b["ino"]: b for b in end["lifetimes"]["buffers"]}
    bad = []
    if set(got) != set(exp["buffers"]):
        bad.append(f"buffers traced {sorted(got)} != the workload's {sorted(exp['buffers'])}")
    for ino, w in exp["buffers"].items():
        g = got.get(ino)
        if g is None:
            continue
        ex = g["exported"]
        by = None if ex is None else (ex["tgid"] if ex["tgid"] is not None else ex["pid"])
        for k, have in (("size", g["size"]), ("exporter", g["exporter"]), ("exported_by", by), ("fds", g["fds"]),
                        ("maps", g["maps"]), ("gets", g["gets"])):
            if have != w[k]:
                bad.append(f"ino {ino} {k}: droidtrack {have!r}, the workload {w[k]!r}")
        ops = [(a["op"], a["dev"]) for a in g["attachments"]]
        want_ops = [("attach", d) for d in w["attach"]] + [("detach", d) for d in w["detach"]]
        if sorted(ops) != sorted(want_ops):
            bad.append(f"ino {ino} attach/detach: droidtrack {ops}, the workload {want_ops}")
        if g["attached"]:
            bad.append(f"ino {ino}: still attached to {g['attached']} (the workload detached everything)")
        # puts are the drivers' own reference drops: none where no driver touched the buffer
        if (ino in exp["driver_touched"]) != bool(g["puts"]):
            bad.append(f"ino {ino} puts {g['puts']} (driver touched: {ino in exp['driver_touched']})")
    procs = end["lifetimes"]["processes"]
    for pid in exp["exits"]:
        if procs.get(str(pid), {}).get("exited") is None:
            bad.append(f"process {pid} exited, droidtrack did not see it")
    return bad


def check_trace(stream: Path, log: dict, tmp: Path) -> None:
    rc, end, err = trace_stream(stream, tmp)
    assert rc == 0, err
    assert end["state"] == "ended" and end["end_marker"] and end["lost_events"] == 0, end
    assert end["problems"] == [], end["problems"]
    assert {k: v.split(",", 1)[0] for k, v in end["formats"].items() if k.startswith("dma_buf_")} == FORMATS
    assert compare_lifetimes(end, log) == []


def test_saved_7x_trace_gives_the_workloads_lifetimes(tmp_path):
    check_trace(SAVED_STREAM, json.loads(SAVED_LOG.read_text()), tmp_path)


def _mutations():
    def fd(log): next(a for a in log["actions"] if a["do"] == "fd")["fd"] += 1
    def who(log): next(a for a in log["actions"] if a["do"] == "export")["pid"] += 1
    def extra_map(log): log["actions"].append({"do": "map", "buf": "U", "pid": 1})
    def no_get(log): log["actions"] = [a for a in log["actions"] if a["do"] != "get"]
    def size(log): log["buffers"][0]["size"] *= 2
    def more_buffers(log): log["buffers"].append({"id": "X", "inode": 99999, "size": 4096, "exporter": "system"})
    def detach_dev(log): next(a for a in log["actions"] if a["do"] == "detach")["dev"] = "gpu"
    def exit_other(log): log["actions"].append({"do": "exit", "buf": None, "pid": 1})
    return [(f.__name__, f) for f in (fd, who, extra_map, no_get, size, more_buffers, detach_dev, exit_other)]


@pytest.mark.parametrize("name,mutate", _mutations(), ids=[n for n, _ in _mutations()])
def test_the_lifetime_comparison_reports_every_kind_of_mismatch(tmp_path, name, mutate):
    log = json.loads(SAVED_LOG.read_text())
    _, end, _ = trace_stream(SAVED_STREAM, tmp_path)
    assert compare_lifetimes(end, log) == []
    wrong = copy.deepcopy(log)
    mutate(wrong)
    assert compare_lifetimes(end, wrong) != [], name


def test_a_cut_saved_stream_keeps_what_arrived_and_says_it_was_cut(tmp_path):
    data = SAVED_STREAM.read_bytes()
    cut = data.index(b"dma_buf_mmap_internal", data.index(b"wl-9 child")) + 10
    (tmp_path / "cut.stream").write_bytes(data[:cut])
    rc, end, err = trace_stream(tmp_path / "cut.stream", tmp_path)
    assert rc == 2 and "cut" in err
    assert end["state"] == "cut"
    kinds = [b["exported"]["comm"] for b in end["lifetimes"]["buffers"]]
    assert kinds == ["dt_lifetimes", "wl-9 child"]           # A and B, and B's mapping cut away
    child = end["lifetimes"]["buffers"][1]
    assert child["maps"] == {} and list(child["fds"].values()) == [[10]]
    assert any("middle of a line" in p["message"] for p in end["problems"])


def check_overrun(stream: Path, log: dict, tmp: Path) -> None:
    """3000 buffers against an 8 KiB trace buffer whose reader was stopped: the kernel's overrun
    count is said, every event that arrived is the workload's, none is made up."""
    rc, end, err = trace_stream(stream, tmp)
    assert rc == 0, err
    lost = end["lost_events"]
    assert end["state"] == "ended" and end["end_marker"] and lost > 0
    assert f"the kernel's trace buffer overran: {lost} events lost" in [p["message"] for p in end["problems"]]
    ids = {b["inode"]: b for b in log["buffers"]}
    by_id = {b["id"]: b["inode"] for b in log["buffers"]}
    want_fd = {by_id[a["buf"]]: a["fd"] for a in log["actions"] if a["do"] == "fd"}
    got = end["lifetimes"]["buffers"]
    received = sum(b["events"] for b in got)
    assert received <= len(log["actions"]) <= received + lost      # what arrived and what was lost
    pid = next(a["pid"] for a in log["actions"])
    for b in got:
        assert b["ino"] in ids and b["size"] == 4096 and b["exporter"] == "system", b
        assert set(b["fds"]) <= {str(pid)} and all(fds == [want_fd[b["ino"]]] for fds in b["fds"].values()), b
        if b["exported"] is not None:
            assert b["exported"]["pid"] == pid


def test_saved_7x_overrun_is_counted_and_nothing_is_made_up(tmp_path):
    import gzip
    check_overrun(SAVED_OVERRUN, json.loads(gzip.decompress(SAVED_OVERRUN_LOG.read_bytes())), tmp_path)


# ---- the real kernels ----------------------------------------------------------------------

@pytest.mark.realkernel
def test_realkernel_7x_trace_gives_the_workloads_lifetimes(booted7, tmp_path):
    work, res = booted7
    assert "FAIL" not in res.log, res.log
    (work / "trace.stream").write_bytes(res.files["trace.out"])
    check_trace(work / "trace.stream", json.loads(res.files["trace.json"]), tmp_path)
    # the script left nothing behind: its instance removed, the events off
    assert "after trace trace: instances [] dma_buf enable 0" in res.log, res.log
    assert res.files["trace.err"].count(b"STATS") >= 1     # the periodic overrun counts
    (work / "many.stream").write_bytes(res.files["many.out"])
    check_overrun(work / "many.stream", json.loads(res.files["many.json"]), tmp_path)
    assert "after trace many: instances [] dma_buf enable 0" in res.log, res.log


@pytest.mark.realkernel
def test_realkernel_612_trace_says_the_kernel_has_no_dma_buf_events(booted, tmp_path):
    work, res = booted
    out = res.files["trace.out"]
    assert out.endswith(b" TRACE unsupported no-dma_buf-events\n") and out.count(b"\n") == 1, out
    assert "trace.json" not in res.files and "many.out" not in res.files
    (work / "trace.stream").write_bytes(out)
    rc, end, err = trace_stream(work / "trace.stream", tmp_path)
    assert rc == 2 and end["state"] == "unsupported"
    assert "this kernel has no dma_buf tracepoints" in err and "Linux 7.0" in err
