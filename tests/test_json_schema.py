"""The JSON snapshot is an interface (README "JSON schema"): these fields exist with these types.
Adding fields is fine; renaming or removing one needs a new schema version and this test changed."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from droidtrack.sim.synth import DeviceTree

TOP = {"schema": str, "droidtrack": str, "time": (int, float), "origin": str, "device": dict,
       "totals": dict, "reported": dict, "reconciliation": list, "coverage": dict, "buffers": list,
       "processes": list, "sources": dict, "problems": list}
COVERAGE = {"headline": str, "exact": int, "estimated": int, "unknown": int,
            "unattributed": (int, type(None)), "device_total": (int, type(None)),
            "device_total_source": (str, type(None))}
DEVICE = {"serial", "model", "manufacturer", "fingerprint", "release", "sdk", "kernel", "uid", "rooted",
          "selinux_context"}
TOTALS = {"buffers": int, "bytes": int, "userspace": int, "kernel_only": int, "kernel_only_buffers": list,
          "unattributed": int, "fd_only": int, "mapped": int, "sum_rss": int, "sum_pss": int,
          "by_tag": dict, "by_exporter": dict, "buffers_by_tag": dict, "device_processes": int}
BUFFER = {"key": str, "inode": (int, type(None)), "size": int, "exporter": (str, type(None)),
          "name": (str, type(None)), "count": (int, type(None)), "tag": str, "tag_rule": str,
          "attached": list, "holders": dict, "sources": list, "provenance": dict, "holders_known": bool}
PROCESS = {"pid": int, "name": str, "cmdline": list, "package": (str, type(None)), "uid": (int, type(None)),
           "rss": int, "pss": int, "fd_only": int, "mapped": int, "in_rss": int, "by_tag": dict,
           "pss_by_tag": dict, "buffers": int, "reported": dict, "fds_readable": (bool, type(None)),
           "maps_readable": (bool, type(None)), "read_as": (str, type(None)), "coverage": str,
           "pss_upper_bound": bool}
MAP = {"start": int, "end": int, "offset": int, "perms": str, "rss": (int, type(None)), "pss": (int, type(None))}


def check(obj: dict, spec: dict, where: str) -> None:
    for k, t in spec.items():
        assert k in obj, f"{where}: missing {k}"
        assert isinstance(obj[k], t), f"{where}.{k}: {type(obj[k]).__name__}"


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    root = tmp_path_factory.mktemp("schema") / "root"
    t = DeviceTree("a13-5.15")
    t.add_process(900, "cam", ("com.example.cam",), uid=10100, ppid=1)
    b = t.add_buffer(1 << 20, "system", "CAMERA")
    t.hold_fd(900, b)
    t.hold_map(900, b)
    t.add_buffer(4096, "system", None)
    t.write(root)
    out = subprocess.run([sys.executable, "-m", "droidtrack", "snapshot", "--root", str(root), "--format", "json"],
                         capture_output=True, check=True)
    return json.loads(out.stdout)


def test_top_level_and_nested_fields(doc):
    check(doc, TOP, "snapshot")
    assert doc["schema"] == "droidtrack.snapshot/1"
    assert DEVICE <= set(doc["device"])
    check(doc["totals"], TOTALS, "totals")
    check(doc["coverage"], COVERAGE, "coverage")
    assert doc["coverage"]["headline"]
    assert doc["buffers"] and doc["processes"]
    for b in doc["buffers"]:
        check(b, BUFFER, "buffer")
        for pid, h in b["holders"].items():
            assert pid.isdigit() and isinstance(h["fds"], list) and isinstance(h["maps"], list)
            for m in h["maps"]:
                check(m, MAP, "map")
    for p in doc["processes"]:
        check(p, PROCESS, "process")
    for name, s in doc["sources"].items():
        assert set(s) == {"status", "detail"}
    for r in doc["reconciliation"]:
        assert set(r) == {"label", "bytes", "source", "note"}


def test_numbers_agree_with_each_other(doc):
    t = doc["totals"]
    assert t["sum_pss"] == t["userspace"] == sum(p["pss"] for p in doc["processes"])
    assert t["bytes"] == sum(b["size"] for b in doc["buffers"]) == t["userspace"] + t["kernel_only"] + t["unattributed"]
    cam = next(p for p in doc["processes"] if p["pid"] == 900)
    assert (cam["rss"], cam["mapped"], cam["fd_only"], cam["by_tag"]) == (1 << 20, 1 << 20, 0, {"camera": 1 << 20})
    assert t["kernel_only"] == 4096 and len(t["kernel_only_buffers"]) == 1


def test_cli_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "droidtrack", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("demo", "snapshot", "top", "devices", "analyze", "record", "check", "diff", "report", "clean"):
        assert cmd in out.stdout


def test_nothing_readable_is_exit_2_with_a_clear_message(tmp_path):
    r = subprocess.run([sys.executable, "-m", "droidtrack", "snapshot", "--root", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not a device root" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "x.dtc"
    bad.write_bytes(b"\x00\xffgarbage")
    r = subprocess.run([sys.executable, "-m", "droidtrack", "snapshot", "--capture", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not a droidtrack capture" in r.stderr and "Traceback" not in r.stderr
