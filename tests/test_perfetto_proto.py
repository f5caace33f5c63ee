"""`export --perfetto FILE` writes Perfetto's protobuf trace (perfetto.trace_builder): decoded here with
the trace's own protobuf descriptors (the perfetto package's perfetto_trace_pb2), tracks and values
checked against model/account.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import dtfactory as f
from droidtrack.history.recording import open_writer
from droidtrack.model.account import account
from droidtrack.sources import Collected

pb2 = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2",
                          reason="needs the perfetto package (pip install perfetto)")
REPO = Path(__file__).resolve().parents[1]


def decode(path):
    trace = pb2.Trace.FromString(Path(path).read_bytes())
    tracks, events = {}, []
    for p in trace.packet:
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            tracks[d.uuid] = d
        elif p.HasField("track_event"):
            events.append((p.timestamp, p.track_event))
    return tracks, events


def name(d):
    return d.process.process_name if d.HasField("process") else d.name


def path_of(tracks, u):
    out = []
    while u:
        d = tracks[u]
        out.append(name(d))
        u = d.parent_uuid if d.HasField("parent_uuid") else 0
    return tuple(reversed(out))


def recorded(tmp_path, series):
    rec = tmp_path / "r.db"
    w = open_writer(str(rec), {})
    for s in series:
        w.add_collected(Collected(s))
    w.close()
    return rec


def test_protobuf_trace_has_counter_tracks_per_process_and_tag_and_a_slice_per_buffer(tmp_path):
    series = f.leaking_series(5)
    rec = recorded(tmp_path, series)
    out = tmp_path / "r.pftrace"
    r = subprocess.run([sys.executable, "-m", "droidtrack", "export", str(rec), "--perfetto", str(out)],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert r.returncode == 0, r.stderr
    tracks, events = decode(out)
    counters = {}
    for ts, e in events:
        if e.type == pb2.TrackEvent.TYPE_COUNTER:
            counters.setdefault(path_of(tracks, e.track_uuid), []).append((ts, e.counter_value))
    totals = "dma-buf totals TEST123"
    last = account(series[-1])
    assert [v for _, v in counters[(totals, "total")]] == [account(s).totals.bytes for s in series]
    assert counters[(totals, "kernel_only")][-1][1] == last.totals.kernel_only
    assert counters[(totals, "tag camera")][-1][1] == last.totals.by_tag["camera"]
    cam = "com.example.camera"
    assert [v for _, v in counters[(cam, "pss")]] == [account(s).processes[1234].pss for s in series]
    assert counters[(cam, "fd_only")][-1][1] == last.processes[1234].fd_only
    assert all(tracks[u].counter.unit == pb2.CounterDescriptor.UNIT_SIZE_BYTES
               for u in tracks if tracks[u].HasField("counter"))
    assert [ts for ts, _ in counters[(totals, "total")]] == [int(round(s.time * 1e9)) for s in series]
    # one slice per buffer lifetime: begins where it first appears, ends where it is gone
    begins = {path_of(tracks, e.track_uuid): ts for ts, e in events if e.type == pb2.TrackEvent.TYPE_SLICE_BEGIN}
    ends = {path_of(tracks, e.track_uuid): ts for ts, e in events if e.type == pb2.TrackEvent.TYPE_SLICE_END}
    assert set(begins) == set(ends)
    keys = set().union(*(s.buffers for s in series))
    assert {p[-1].split()[0] for p in begins} == keys and all(p[:2] == (totals, "dma-buf buffers") for p in begins)
    leak3 = next(p for p in begins if p[-1].startswith("ino:102 "))      # the third leaked buffer
    assert begins[leak3] == int(round(series[3].time * 1e9)) and ends[leak3] == int(round(series[-1].time * 1e9))
    first_seen = {k: next(i for i, s in enumerate(series) if k in s.buffers) for k in keys}
    assert all(begins[p] == int(round(series[first_seen[p[-1].split()[0]]].time * 1e9)) for p in begins)


def test_a_json_file_name_keeps_the_json_trace_events(tmp_path):
    rec = tmp_path / "r.db"
    w = open_writer(str(rec), {})
    w.add_collected(Collected(f.leaking_series(1)[0]))
    w.close()
    out = tmp_path / "t.json"
    r = subprocess.run([sys.executable, "-m", "droidtrack", "export", str(rec), "--perfetto", str(out)],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith('{"traceEvents"')


def test_protobuf_trace_has_a_counter_track_per_owner(tmp_path):
    # the camera provider (700) keeps the camera app's growing preview buffers; media.codec's buffer
    # goes away in the last sample
    series = []
    for i in range(4):
        bufs = [b for b in f.base_buffers() if i < 3 or b.key != "ino:12"]
        bufs += [f.buf(200 + j, 2 * f.MiB, "camera", "system", "preview", {700: f.fd(30 + j), 1234: f.fd(60 + j)})
                 for j in range(i)]
        series.append(f.snap(bufs, t=5000.0 + i))
    rec = recorded(tmp_path, series)
    out = tmp_path / "r.pftrace"
    from droidtrack.cli import main
    assert main(["export", str(rec), "--perfetto", str(out)]) == 0
    tracks, events = decode(out)
    counters = {}
    for ts, e in events:
        if e.type == pb2.TrackEvent.TYPE_COUNTER:
            counters.setdefault(path_of(tracks, e.track_uuid), []).append((ts, e.counter_value))
    root = ("dma-buf totals TEST123", "dma-buf owners")
    owned = {p[-1]: [v for _, v in vs] for p, vs in counters.items() if p[:2] == root}
    want = {}
    for s in series:
        for k in account(s).totals.by_owner:
            want.setdefault(k, [])
    for s in series:
        by = account(s).totals.by_owner
        for k in want:
            if k in by or (want[k] and want[k][-1] != 0):
                want[k].append(by.get(k, 0))
    assert owned == want
    assert owned["com.example.camera"] == [4 * f.MiB, 6 * f.MiB, 8 * f.MiB, 10 * f.MiB]
    assert owned["media.codec"] == [2 * f.MiB, 2 * f.MiB, 2 * f.MiB, 0]      # gone: a final 0
    assert all(tracks[u].counter.unit == pb2.CounterDescriptor.UNIT_SIZE_BYTES
               for u in tracks if path_of(tracks, u)[:2] == root and len(path_of(tracks, u)) == 3)
