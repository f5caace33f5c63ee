"""A stream cut mid-snapshot (issue 12 #2): what arrived is kept, the snapshot is marked truncated,
and commands exit 2 unless every section listing buffers and holders arrived. Through the real
adb server and the device double (drop and stall faults), and on cut captures."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from device.conftest import *  # noqa: F401,F403  (fixtures)
from droidtrack import cli
from droidtrack.collect import frames
from droidtrack.double import Fault
from droidtrack.sources import adb, adb_wire, completeness

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "a13-5.15"


@pytest.fixture(autouse=True)
def _fresh_sessions():
    yield
    adb.close_sessions()


def _json(capsys):
    return json.loads(capsys.readouterr().out)


@pytest.mark.adb
def test_a_drop_mid_snapshot_exits_2_and_keeps_what_arrived(phone, capsys):
    dev = ["-P", str(phone.server.port), "-s", phone.serial]
    assert cli.main(["snapshot", *dev, "--format", "json"]) == 0          # installed; a whole snapshot
    whole = _json(capsys)
    assert "stream" not in whole["sources"]
    phone.double.add_fault(Fault("drop", after_bytes=2000, match="collect.sh"))
    assert cli.main(["snapshot", *dev, "--format", "json"]) == 2
    cap = capsys.readouterr()
    assert "incomplete snapshot" in cap.err and "does not stand for the device" in cap.err
    cut = json.loads(cap.out)
    st = cut["sources"]["stream"]
    assert st["status"] == "truncated" and "not received whole" in st["detail"]
    assert cut["problems"][0]["source"] == "stream"
    for sec in ("bufinfo", "smaps", "files"):
        assert cut["sources"][sec]["status"] == "truncated"
    assert cut["sources"]["sysfs_stats"]["status"] == "truncated"     # not "missing": it was not received
    assert cut["device"]["model"] == whole["device"]["model"]          # what arrived is kept


@pytest.mark.adb
def test_a_stall_is_detected_by_the_stall_timeout_not_after_30_s(phone, capsys):
    assert adb_wire.STALL_TIMEOUT <= 10
    dev = ["-P", str(phone.server.port), "-s", phone.serial]
    assert cli.main(["snapshot", *dev, "-o", os.devnull]) == 0
    capsys.readouterr()
    phone.double.add_fault(Fault("stall", after_bytes=3000, match="collect.sh"))
    t0 = time.monotonic()
    assert cli.main(["snapshot", *dev, "--stall-timeout", "1.5", "--format", "json"]) == 2
    took = time.monotonic() - t0
    cap = capsys.readouterr()
    assert took < 8, (took, cap.err)
    assert "stalled" in cap.err
    assert json.loads(cap.out)["sources"]["stream"]["status"] == "truncated"


@pytest.mark.adb
def test_a_slow_framework_dump_is_not_a_stall(phone):
    """patience: inside a dumpsys section the stream may stay silent longer than the stall timeout."""
    token = "T0K"
    allowed = adb._patience(token)
    out = bytearray(f"@@{token} HDR v=2\n@@{token} BEGIN files\nx\n@@{token} END files rc=0 status=ok\n"
                    f"@@{token} BEGIN dumpsys_meminfo\n".encode())
    assert allowed(out) == adb.SLOW_SILENCE
    out += f"\n@@{token} END dumpsys_meminfo rc=0 status=ok\n".encode()
    assert allowed(out) is None
    assert allowed(bytearray(f"@@{token} BEGIN fdlinks\n".encode())) is None


# ---- cut captures: where "complete enough" begins ---------------------------------------------
@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> bytes:
    p = tmp_path_factory.mktemp("cap") / "phone.dtc"
    assert cli.main(["snapshot", "--root", str(FIXTURE), "--save-capture", str(p), "-o", os.devnull]) == 0
    return p.read_bytes()


def _cut_at(data: bytes, marker: str) -> bytes:
    token = frames.sniff_token(data)
    m = re.search(rf"@@{token} {marker}".encode(), data)
    assert m, marker
    return data[:m.start() + 40]


@pytest.mark.parametrize("where,code", [("BEGIN bufinfo", 2), ("BEGIN procfiles", 2), ("BEGIN smaps", 2),
                                        ("BEGIN files", 2), ("BEGIN dma_heap_devs", 0)])
def test_a_cut_capture_exits_2_unless_the_core_sections_arrived(capture, tmp_path, capsys, where, code):
    p = tmp_path / "cut.dtc"
    p.write_bytes(_cut_at(capture, where))
    assert cli.main(["snapshot", "--capture", str(p), "--format", "json"]) == code
    snap = _json(capsys)
    st = snap["sources"]["stream"]
    assert st["status"] == "truncated"
    assert ("every section that lists buffers and holders arrived whole" in st["detail"]) == (code == 0)
    assert snap["totals"]["buffers"] > 0 or where == "BEGIN bufinfo"


def test_a_whole_capture_is_not_marked(capture):
    fr = frames.decode(capture)
    from droidtrack.ingest.stream import snapshot_from_frames
    snap = snapshot_from_frames(fr)
    out, truncated, complete, why = completeness.judge(fr, snap)
    assert out is snap and not truncated and complete and why is None


def test_report_of_a_cut_capture_is_written_and_exits_2(capture, tmp_path, capsys):
    p = tmp_path / "cut.dtc"
    p.write_bytes(_cut_at(capture, "BEGIN smaps"))
    out = tmp_path / "r.zip"
    assert cli.main(["report", "--capture", str(p), "-o", str(out)]) == 2
    assert out.exists() and "incomplete" in capsys.readouterr().err


def test_check_on_a_cut_stream_could_not_measure(capture, tmp_path, capsys):
    p = tmp_path / "cut.dtc"
    p.write_bytes(_cut_at(capture, "BEGIN smaps"))
    budget = tmp_path / "b.yaml"
    budget.write_text("version: 1\ntotal: 1GiB\n")
    assert cli.main(["check", "--budget", str(budget), "--capture", str(p)]) == 2
    assert "could not measure: incomplete snapshot" in capsys.readouterr().out
