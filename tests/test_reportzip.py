"""A report zip read again (issue 17): --report ZIP, and a report zip given to --replay/--capture,
give what the report was made from; the zip is hostile input (caps, no path traversal)."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from droidtrack import cli
from droidtrack.sources import SourceError, reportzip

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "a13-5.15"


def _snap(capsys, *argv) -> dict:
    capsys.readouterr()
    assert cli.main(["snapshot", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("rz")
    cap = d / "phone.dtc"
    assert cli.main(["snapshot", "--root", str(FIXTURE), "--save-capture", str(cap), "-o", os.devnull]) == 0
    assert cli.main(["report", "--capture", str(cap), "-o", str(d / "cap.zip")]) == 0
    assert cli.main(["report", "--capture", str(cap), "--redact", "--redact-salt", "s", "-o", str(d / "red.zip")]) == 0
    assert cli.main(["record", str(d / "rec3.dtr"), "-n", "3", "-i", "0.05", "-q", "--root", str(FIXTURE)]) == 0
    assert cli.main(["report", "--replay", str(d / "rec3.dtr"), "-o", str(d / "rec.zip")]) == 0
    return d


def _key(snap: dict):
    return snap["totals"], sorted(snap["buffers"], key=lambda b: b["key"]), snap["device"]


@pytest.mark.parametrize("opt", ["--report", "--capture", "--replay"])
def test_a_report_of_a_capture_reads_back_as_the_capture(made, capsys, opt):
    want = _snap(capsys, "--capture", str(made / "phone.dtc"))
    got = _snap(capsys, opt, str(made / "cap.zip"))
    assert _key(got) == _key(want)
    assert got["origin"].startswith("report:cap.zip")


def test_a_report_of_a_recording_replays_every_sample(made):
    from droidtrack.sources.replay import ReplaySource
    from droidtrack.tui.app import _specs
    rep = ReplaySource(str(made / "rec3.dtr"))
    src = reportzip.ReportZipSource(str(made / "rec.zip"))
    try:
        assert len(src) == len(rep) == 3
        assert [s.time for s in src.samples] == [s.time for s in rep.samples]
        assert src.at(-1).snapshot.buffers.keys() == rep.at(-1).snapshot.buffers.keys()
        assert _specs(src)[0][0] == "replay"          # top drills into it as into --replay
        tmp = src._tmp
        assert tmp is not None and tmp.exists()
    finally:
        src.close()
        rep.close()
    assert not tmp.exists()                            # the extracted recording is removed


def test_a_redacted_report_reads_back_from_its_snapshot_json(made, capsys):
    got = _snap(capsys, "--report", str(made / "red.zip"))
    want = _snap(capsys, "--capture", str(made / "phone.dtc"))
    assert got["totals"]["bytes"] == want["totals"]["bytes"]
    names = {p["name"] for p in got["processes"]}
    assert "surfaceflinger" not in names


def test_report_of_a_report_keeps_the_streams(made, tmp_path, capsys):
    out = tmp_path / "again.zip"
    assert cli.main(["report", "--report", str(made / "cap.zip"), "-o", str(out)]) == 0
    assert "raw/collector.stream" in zipfile.ZipFile(out).namelist()


# ---- hostile zips ------------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, bytes], base: Path | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        if base is not None:
            with zipfile.ZipFile(base) as b:
                for n in b.namelist():
                    if n not in members:
                        z.writestr(n, b.read(n))
        for n, data in members.items():
            z.writestr(n, data)
    return path


def test_traversal_and_odd_names_are_never_read_or_written(made, tmp_path, capsys):
    evil = _zip(tmp_path / "evil.zip", {"raw/../../escape.stream": b"x", "/abs.stream": b"y",
                                        "raw/sub/dir.stream": b"z"}, base=made / "cap.zip")
    before = set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent))
    got = _snap(capsys, "--report", str(evil))
    msgs = [p["message"] for p in got["problems"] if p["source"] == "report-zip"]
    assert sum("not a name droidtrack writes" in m for m in msgs) == 3
    assert set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent)) == before


def test_a_bomb_member_is_capped_by_what_it_decompresses_to(made, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reportzip, "MAX_STREAMS", 1 << 20)
    token = "ab12"
    bomb = f"@@{token} HDR v=2 root=\n".encode() + b"\0" * (8 << 20)
    z = _zip(tmp_path / "bomb.zip", {"raw/collector.stream": bomb}, base=made / "cap.zip")
    got = _snap(capsys, "--report", str(z))           # falls back to snapshot.json
    assert any("collector stream not read (more than 1 MiB)" in p["message"] for p in got["problems"])
    assert got["totals"]["buffers"] > 0


def test_garbage_and_empty_zips_are_clear_errors(tmp_path, capsys):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    assert cli.main(["snapshot", "--report", str(junk)]) == 2
    assert "not a readable zip" in capsys.readouterr().err
    empty = _zip(tmp_path / "empty.zip", {"notes.txt": b"hello"})
    with pytest.raises(SourceError, match="holds nothing droidtrack can read"):
        reportzip.ReportZipSource(str(empty))
    bad = _zip(tmp_path / "bad.zip", {"provenance.json": b"{" * 100000, "snapshot.json": b"[" * 100000})
    assert cli.main(["snapshot", "--report", str(bad)]) == 2
    assert "holds nothing" in capsys.readouterr().err
    assert not reportzip.is_report_zip(str(junk))


def test_a_forged_snapshot_json_is_refused_with_a_clear_error(made, tmp_path, capsys):
    doc = json.loads(zipfile.ZipFile(made / "red.zip").read("snapshot.json"))
    doc["buffers"][0]["size"] = -5
    z = _zip(tmp_path / "forged.zip", {"snapshot.json": json.dumps(doc).encode()}, base=made / "red.zip")
    assert cli.main(["snapshot", "--report", str(z)]) == 2
    assert "snapshot.json is not a snapshot droidtrack can read" in capsys.readouterr().err


def test_top_drills_into_a_report_as_into_the_capture_it_was_made_from(made):
    """`top --report ZIP` under Textual's Pilot: the same process rows as `top --capture`, and Enter
    opens a process's buffers."""
    import asyncio
    pytest.importorskip("textual")
    from droidtrack.sources.capture import CaptureSource
    from droidtrack.tui.app import TopApp
    from droidtrack.tui.views.process_buffers import ProcessScreen

    async def rows_and_drill(src):
        app = TopApp(src, interval=60)
        async with app.run_test(size=(130, 40)) as pilot:
            for _ in range(500):
                if app.pane.frame is not None:
                    break
                await pilot.pause(0.02)
            rows = {k: (r.rss, r.pss) for k, r in app.pane.frame.rows["process"].items()}
            await pilot.press("enter")
            await pilot.pause()
            drilled = isinstance(app.screen, ProcessScreen) and bool(app.screen.query_one("#buf_table").row_count)
            await pilot.press("q")
        return rows, drilled

    zsrc = reportzip.ReportZipSource(str(made / "cap.zip"))
    try:
        got, drilled = asyncio.run(rows_and_drill(zsrc))
    finally:
        zsrc.close()
    want, _ = asyncio.run(rows_and_drill(CaptureSource(str(made / "phone.dtc"))))
    assert got == want and got
    assert drilled


def test_diff_reads_report_zips(made, capsys):
    assert cli.main(["diff", f"{made / 'rec.zip'}@0", str(made / "rec.zip"), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["a"].endswith("rec.zip@0")
    assert cli.main(["diff", str(made / "cap.zip"), str(made / "phone.dtc")]) == 0
    assert "total:" in capsys.readouterr().out
