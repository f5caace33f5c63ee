"""The recording format (docs/recording-format.md): round trip, cuts at every byte, appends after a
crash, CRC damage, and the replay source over it."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dtfactory as f
from droidtrack.model.schema import to_dict
from droidtrack.history.recording import (MAGIC, RecordingError, RecordingWriter, encode_record, header_line,
                                  open_recording, parse_recording)
from droidtrack.sources import Collected, SourceError
from droidtrack.sources.replay import ReplaySource


def write_series(path, snaps):
    with RecordingWriter(str(path), {"origin": "test"}) as w:
        for s in snaps:
            w.add_collected(Collected(s))
    return path


def test_round_trip_keeps_every_sample_in_order(tmp_path):
    snaps = f.leaking_series(4)
    p = write_series(tmp_path / "r.dtr", snaps)
    rec = open_recording(str(p))
    assert rec.problems == []
    assert [s.kind for s in rec.samples] == ["snapshot"] * 4
    assert [s.time for s in rec.samples] == [s.time for s in snaps]
    assert rec.header["origin"] == "test" and rec.header["droidtrack"]
    for i, s in enumerate(snaps):
        back = rec.snapshot(i)
        assert to_dict(back)["buffers"] == to_dict(s)["buffers"]
        ta, tb = to_dict(back)["totals"], to_dict(s)["totals"]
        # the JSON lists buffers largest first, so kernel-only keys come back in that order
        assert sorted(ta.pop("kernel_only_buffers")) == sorted(tb.pop("kernel_only_buffers"))
        assert ta == tb
        assert back.origin.startswith(f"replay:r.dtr@{i}")
    assert rec.snapshot(-1).time == snaps[-1].time
    with pytest.raises(RecordingError, match="no sample 4"):
        rec.snapshot(4)


def test_raw_samples_are_stored_byte_for_byte(tmp_path):
    raw = b"@@abc HDR v=1 root=\n@@abc BEGIN props\n[ro.x]: [\x1b\xff]\n\n@@abc END props rc=0 status=ok\n@@abc DONE\n"
    with RecordingWriter(str(tmp_path / "r.dtr")) as w:
        w.add_collected(Collected(f.snap(f.base_buffers()), raw))
        w.add("snapshot", b"{}", time=5.0)
    rec = open_recording(str(tmp_path / "r.dtr"))
    assert [s.kind for s in rec.samples] == ["raw", "snapshot"]
    assert rec.payload(0) == raw
    assert rec.samples[0].meta["serial"] == "TEST123"


def test_file_cut_at_every_byte_of_the_last_record_still_opens(tmp_path):
    snaps = f.leaking_series(3)
    p = write_series(tmp_path / "r.dtr", snaps)
    data = p.read_bytes()
    full = open_recording(str(p))
    last = full.samples[-1]
    # the last record starts at its header line, just after the previous payload and its newline
    prev = full.samples[-2]
    start = prev.offset + prev.length + 1
    assert data[start:start + 3] == b"@R "
    payload_end = last.offset + last.length
    cut = tmp_path / "cut.dtr"
    cut.write_bytes(data)
    for k in range(len(data) - 1, start - 1, -1):
        os.truncate(cut, k)
        rec = open_recording(str(cut))
        if k == start:   # cut exactly between records: a clean, shorter recording
            assert len(rec.samples) == 2 and rec.problems == []
        elif k < payload_end:
            assert len(rec.samples) == 2, k
            assert rec.problems and "lost" in rec.problems[0].message, k
        else:   # only the separator newline is missing: the sample is complete
            assert len(rec.samples) == 3, k
        assert [s.time for s in rec.samples[:2]] == [snaps[0].time, snaps[1].time]
        if k % 257 == 0 or k in (start, payload_end - 1):   # decoding is the slow part
            assert rec.snapshot(1).buffers.keys() == snaps[1].buffers.keys()
        assert rec.valid_end <= k


def test_cut_inside_the_header_line_opens_empty(tmp_path):
    data = header_line({"origin": "x"})
    for k in (4, 10, len(data) - 1):
        rec = parse_recording(data[:k], "cut")
        assert rec.samples == [] and rec.problems
    with pytest.raises(SourceError, match="no complete sample"):
        (tmp_path / "h.dtr").write_bytes(data[:10])
        ReplaySource(str(tmp_path / "h.dtr"))


def test_append_after_a_crash_drops_the_cut_record_and_continues(tmp_path):
    p = write_series(tmp_path / "r.dtr", f.leaking_series(3))
    data = p.read_bytes()
    p.write_bytes(data[:-40])             # a crash mid-write of sample 3
    with RecordingWriter(str(p), append=True) as w:
        assert w.count == 2
        w.add_collected(Collected(f.leaking_series(6)[5]))
    rec = open_recording(str(p))
    assert rec.problems == []
    assert len(rec.samples) == 3
    assert len(rec.snapshot(2).buffers) == len(f.leaking_series(6)[5].buffers)


def test_new_recording_refuses_to_overwrite(tmp_path):
    p = write_series(tmp_path / "r.dtr", f.leaking_series(1))
    with pytest.raises(RecordingError, match="exists"):
        RecordingWriter(str(p))


def test_a_damaged_record_is_skipped_and_later_ones_kept(tmp_path):
    p = write_series(tmp_path / "r.dtr", f.leaking_series(3))
    rec = open_recording(str(p))
    data = bytearray(p.read_bytes())
    data[rec.samples[1].offset + 10] ^= 0x20
    p.write_bytes(bytes(data))
    rec2 = open_recording(str(p))
    # the index is read without the payloads: the damage shows when the sample is read
    with pytest.raises(RecordingError, match="CRC"):
        rec2.snapshot(1)
    assert [s.time for s in rec2.snapshots()] == [rec.samples[0].time, rec.samples[2].time]
    assert any("CRC" in pr.message for pr in rec2.problems)


def test_not_a_recording_and_future_versions_are_errors(tmp_path):
    (tmp_path / "x").write_bytes(b"hello\n")
    with pytest.raises(RecordingError, match="not a droidtrack recording"):
        open_recording(str(tmp_path / "x"))
    (tmp_path / "y").write_bytes(b"droidtrack.recording/3 {}\n")
    with pytest.raises(RecordingError, match="recording/3 is not supported"):
        open_recording(str(tmp_path / "y"))
    with pytest.raises(RecordingError, match="cannot read"):
        open_recording(str(tmp_path / "missing"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_body_after_a_header_never_raises(body):
    good = encode_record("snapshot", b"{}", {"i": 0, "t": 1.0})
    rec = parse_recording(header_line({}) + good + body)
    assert len(rec.samples) >= 1
    assert rec.samples[0].length == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=5), st.data())
def test_generated_records_round_trip_and_survive_any_cut(payloads, data):
    blob = header_line({}) + b"".join(encode_record("raw", p, {"i": i, "t": float(i)})
                                      for i, p in enumerate(payloads))
    rec = parse_recording(blob)
    assert [blob[s.offset:s.offset + s.length] for s in rec.samples] == payloads
    k = data.draw(st.integers(0, len(blob)))
    cut = parse_recording(blob[:k])
    assert [blob[s.offset:s.offset + s.length] for s in cut.samples] == payloads[:len(cut.samples)]


def test_replay_source_steps_then_holds_the_last_sample(tmp_path):
    snaps = f.leaking_series(3)
    p = write_series(tmp_path / "r.dtr", snaps)
    src = ReplaySource(str(p))
    assert [s.index for s in src.samples] == [0, 1, 2] and len(src) == 3
    got = [src.collect().snapshot.time for _ in range(5)]
    assert got == [snaps[0].time, snaps[1].time, snaps[2].time, snaps[2].time, snaps[2].time]
    assert src.exhausted
    src.seek(1)
    assert not src.exhausted and src.collect().snapshot.time == snaps[1].time
    assert src.at(-3).snapshot.time == snaps[0].time
    with pytest.raises(SourceError, match="no sample 7"):
        src.at(7)
    src.close()


def test_replay_of_a_cut_recording_says_what_was_lost(tmp_path):
    p = write_series(tmp_path / "r.dtr", f.leaking_series(3))
    p.write_bytes(p.read_bytes()[:-100])
    src = ReplaySource(str(p))
    assert len(src) == 2
    last = src.at(-1).snapshot
    assert any(pr.source == "recording" and "lost" in pr.message for pr in last.problems)


def test_writer_fsyncs_each_sample(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    with RecordingWriter(str(tmp_path / "r.dtr")) as w:
        n0 = len(calls)
        w.add("snapshot", b"{}")
        w.add("snapshot", b"{}")
        assert len(calls) - n0 == 2
    assert MAGIC.encode() in (tmp_path / "r.dtr").read_bytes()[:30]
