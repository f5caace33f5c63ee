"""Recordings: `open_recording(path)` reads both formats, `open_writer` writes them.

droidtrack.recording/2 (the default for new files) is SQLite: history/recording_db.py. This module
reads and appends droidtrack.recording/1, a sequence of samples in one file:

Layout (docs/recording-format.md is the reference):

    droidtrack.recording/1 {"created": ..., "droidtrack": "0.1.0", ...}\\n      header line
    @R <kind> <length> <crc32> {"i": 0, "t": ..., "origin": ...}\\n             record header
    <length bytes of payload>\\n
    @R ...

`kind` is `raw` (the collector stream exactly as received, `Collected.raw`) or `snapshot`
(a `droidtrack.snapshot/1` JSON document, for sources that have no raw stream). The CRC-32 is
zlib's over the payload. Every sample is written with one write() and fsync()ed before the next
one starts, so a crash or a pulled cable loses at most the sample in flight; a reader keeps every
complete record and reports the cut one as a problem.

`open_recording(path)` never raises on a damaged file body: it raises RecordingError only when the
file cannot be read or is not a recording at all. It reads only the record headers (seeking past
each payload); a payload is read and CRC-checked when its sample is asked for, so memory stays
that of one sample however long the recording.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator

from droidtrack import __version__
from droidtrack.model import Snapshot, schema
from droidtrack.model.problems import Problem

MAGIC = "droidtrack.recording/1"
KINDS = ("raw", "snapshot")
_REC = b"@R "
_MAX_HEADER = 1 << 16          # a record header line longer than this is garbage, not a header


class RecordingError(Exception):
    """The file is not a readable recording. The message is for the user; exit code 2."""
    exit_code = 2


@dataclass(frozen=True, slots=True)
class SampleInfo:
    """One record of a recording: where it is and what its header says (the payload is read lazily)."""
    index: int
    kind: str
    offset: int          # byte offset of the payload in the file
    length: int
    time: float | None
    meta: dict[str, Any]
    crc: int | None = None   # of the payload, checked when it is read

    @property
    def origin(self) -> str:
        return str(self.meta.get("origin") or "")


@dataclass
class Recording:
    path: str
    header: dict[str, Any]
    samples: list[SampleInfo]
    problems: list[Problem] = field(default_factory=list)
    valid_end: int = 0   # byte offset just after the last complete record (where an append goes)
    _data: bytes | None = field(default=None, repr=False)   # when parsed from bytes in memory

    def __len__(self) -> int:
        return len(self.samples)

    def payload(self, i: int) -> bytes:
        """Sample i's payload, checked against its CRC (RecordingError when it fails)."""
        s = self.samples[i]
        if self._data is not None:
            data = self._data[s.offset:s.offset + s.length]
        else:
            try:
                with open(self.path, "rb") as f:
                    f.seek(s.offset)
                    data = f.read(s.length)
            except OSError as e:
                raise RecordingError(f"cannot read recording {self.path}: {e.strerror}") from None
        if len(data) != s.length or (s.crc is not None and zlib.crc32(data) != s.crc):
            raise RecordingError(f"{self.path}: sample {s.index} fails its CRC check (damaged)")
        return data

    def resolve(self, index: int) -> int:
        """A sample index as users write it (negative counts from the end) -> 0-based index."""
        n = len(self.samples)
        if n == 0:
            raise RecordingError(f"{self.path}: the recording holds no complete sample")
        j = index + n if index < 0 else index
        if not 0 <= j < n:
            raise RecordingError(f"{self.path}: no sample {index} (it holds {n}: 0..{n - 1}, or -1..-{n})")
        return j

    def snapshot(self, i: int, rules=None) -> Snapshot:
        """Sample i as a Snapshot (raw streams are decoded and built; JSON is read back)."""
        s = self.samples[self.resolve(i)]
        data = self.payload(s.index)
        if s.kind == "raw":
            snap = snapshot_from_raw(data, s.meta, rules)
        else:
            try:
                snap = schema.loads(data, f"{self.path}: sample {s.index}")
            except schema.SchemaError as e:
                raise RecordingError(str(e)) from None
            if rules is not None:
                snap = retag(snap, rules)
        return _replayed(self.path, s, snap)

    def snapshots(self, rules=None) -> Iterator[Snapshot]:
        """Every sample in order, one at a time; a damaged one is skipped and said in `problems`."""
        for s in self.samples:
            try:
                yield self.snapshot(s.index, rules)
            except RecordingError as e:
                self.problems.append(Problem("recording", f"{e}; skipped"))


def _replayed(path: str, s: SampleInfo, snap: Snapshot) -> Snapshot:
    """A sample as replay shows it: its origin says which recording and sample, its time the record's."""
    origin = f"replay:{os.path.basename(path)}@{s.index}"
    if snap.origin:
        origin += f" ({snap.origin})"
    return _with(snap, origin=origin, time=s.time if s.time is not None else snap.time)


def _with(snap: Snapshot, **kw) -> Snapshot:
    from dataclasses import replace
    return replace(snap, **kw)


# ---- reading -------------------------------------------------------------------------------

def is_recording(path: str) -> bool:
    """Whether the file starts like a recording (any version, or a header cut short)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
    except OSError:
        return False
    from droidtrack.history.recording_db import SQLITE_HEADER
    if head.startswith(SQLITE_HEADER):
        return True
    return head.startswith(b"droidtrack.recording/") or (len(head) >= 4 and MAGIC.encode().startswith(head))


def open_recording(path: str):
    """A recording of either format: `Recording` (/1) or `DbRecording` (/2, SQLite), the same interface.
    Only the sample index is read: payloads are read (and CRC-checked) when a sample is asked for."""
    from droidtrack.history import recording_db
    if recording_db.is_db(path):
        return DbRecording(path)
    try:
        with open(path, "rb") as f:
            return _scan(f, path, os.fstat(f.fileno()).st_size)
    except OSError as e:
        raise RecordingError(f"cannot read recording {path}: {e.strerror}") from None


def parse_recording(data: bytes, path: str = "<recording>") -> Recording:
    import io
    rec = _scan(io.BytesIO(data), path, len(data))
    rec._data = data
    return rec


def _scan(f, path: str, n: int) -> Recording:
    """The index of a /1 file: every record header, each payload skipped by seeking past it."""
    magic = MAGIC.encode()
    head = f.read(_MAX_HEADER)
    eol = head.find(b"\n")
    first = head[: eol if eol >= 0 else len(head)]
    if not first.startswith(magic):
        if magic.startswith(first) and eol < 0:
            # the header itself was cut: an empty recording, said so
            rec = Recording(path, {}, [], valid_end=0)
            rec.problems.append(Problem("recording", "the file ends inside its header line: no samples"
                                        if first else "the file is empty: no samples"))
            return rec
        if first.startswith(b"droidtrack.recording/"):
            raise RecordingError(f"{path}: recording format {first.split()[0].decode('ascii', 'replace')} "
                                 f"is not supported (this droidtrack reads {MAGIC})")
        raise RecordingError(f"{path}: not a droidtrack recording (it does not start with '{MAGIC}')")
    header: dict[str, Any] = {}
    problems: list[Problem] = []
    if eol < 0:
        problems.append(Problem("recording", "the file ends inside its header line: no samples"))
        return Recording(path, header, [], problems, valid_end=0)
    rest = first[len(magic):].strip()
    if rest:
        try:
            h = json.loads(rest.decode("utf-8"))
            if isinstance(h, dict):
                header = h
        except (UnicodeDecodeError, ValueError, RecursionError):
            problems.append(Problem("recording", "header metadata is not valid JSON; ignored", line=1,
                                    text=rest.decode("utf-8", "backslashreplace")))
    pos = eol + 1
    valid_end = pos
    samples: list[SampleInfo] = []
    while pos < n:
        f.seek(pos)
        line = f.readline(_MAX_HEADER + 1)
        if not line.endswith(b"\n") or len(line) > _MAX_HEADER:
            if len(line) > _MAX_HEADER:
                problems.append(Problem("recording", f"byte {pos}: not a record header; the rest of the file "
                                        f"was ignored ({len(samples)} samples kept)",
                                        text=line[:80].decode("utf-8", "backslashreplace")))
            else:
                problems.append(Problem("recording", f"the last record is cut inside its header (byte {pos}): "
                                        f"the sample in flight was lost, {len(samples)} kept"))
            break
        line = line[:-1]
        hdr_end = pos + len(line)
        parsed = _parse_record_header(line)
        if parsed is None:
            problems.append(Problem("recording", f"byte {pos}: not a record header; the rest of the file "
                                    f"was ignored ({len(samples)} samples kept)",
                                    text=line[:80].decode("utf-8", "backslashreplace")))
            break
        kind, length, crc, meta = parsed
        start = hdr_end + 1
        end = start + length
        if end > n:
            problems.append(Problem("recording", f"the last record is cut ({n - start} of {length} bytes): "
                                    f"the sample in flight was lost, {len(samples)} kept"))
            break
        if kind not in KINDS:
            problems.append(Problem("recording", f"record at byte {pos} has unknown kind {kind!r}; skipped"))
        else:
            t = meta.get("t")
            samples.append(SampleInfo(len(samples), kind, start, length,
                                      float(t) if isinstance(t, (int, float)) else None, meta, crc))
        # the separator newline after the payload is optional at the very end of the file
        f.seek(end)
        pos = end + 1 if end < n and f.read(1) == b"\n" else end
        valid_end = pos
    return Recording(path, header, samples, problems, valid_end=valid_end)


def _parse_record_header(line: bytes) -> tuple[str, int, int, dict] | None:
    if not line.startswith(_REC):
        return None
    parts = line[len(_REC):].split(b" ", 3)
    if len(parts) < 3:
        return None
    kind = parts[0].decode("ascii", "replace")
    if not parts[1].isdigit() or len(parts[2]) != 8:
        return None
    try:
        crc = int(parts[2], 16)
    except ValueError:
        return None
    meta: dict = {}
    if len(parts) == 4 and parts[3].strip():
        try:
            m = json.loads(parts[3].decode("utf-8"))
            if isinstance(m, dict):
                meta = m
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
    return kind, int(parts[1]), crc, meta


# ---- writing -------------------------------------------------------------------------------

def encode_record(kind: str, payload: bytes, meta: dict[str, Any]) -> bytes:
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    m = json.dumps(meta, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    head = f"@R {kind} {len(payload)} {zlib.crc32(payload):08x} {m}\n".encode("ascii")
    return head + payload + b"\n"


def header_line(meta: dict[str, Any]) -> bytes:
    m = dict(meta)
    m.setdefault("droidtrack", __version__)
    return (MAGIC + " " + json.dumps(m, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
            + "\n").encode("ascii")


class RecordingWriter:
    """Appends samples to one recording file; each sample is one write() followed by fsync()."""

    def __init__(self, path: str, meta: dict[str, Any] | None = None, *, append: bool = False):
        self.path = path
        self.count = 0
        self.bytes = 0
        if append and os.path.exists(path):
            rec = open_recording(path)
            self.count = len(rec.samples)
            fd = os.open(path, os.O_WRONLY)
            try:
                # drop a record cut by an earlier crash so the next one starts on a clean boundary
                os.ftruncate(fd, rec.valid_end)
                if rec.valid_end == 0:
                    os.write(fd, header_line(meta or {}))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        else:
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise RecordingError(f"{path} exists: choose another file, or pass --append to add to it") from None
            except OSError as e:
                raise RecordingError(f"cannot create {path}: {e.strerror}") from None
            self._write(header_line({"created": _now(), **(meta or {})}))
            _fsync_dir(path)
        self.bytes = os.fstat(self._fd).st_size

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    def add(self, kind: str, payload: bytes, *, time: float | None = None, **meta: Any) -> int:
        m = {"i": self.count, "t": _now() if time is None else time, **meta}
        rec = encode_record(kind, payload, m)
        self._write(rec)
        self.count += 1
        self.bytes += len(rec)
        return self.count - 1

    def add_collected(self, collected) -> int | None:
        """A `sources.Collected`: its raw stream when there is one, else the snapshot as JSON. A /1
        file has no way to mark a failed sample: one that does not stand for the device is not stored."""
        if not getattr(collected, "complete", True):
            return None
        snap: Snapshot = collected.snapshot
        meta = {"origin": snap.origin}
        if snap.device.serial:
            meta["serial"] = snap.device.serial
        if collected.raw is not None:
            return self.add("raw", collected.raw, time=snap.time, **meta)
        return self.add("snapshot", schema.dumps(snap, all_processes=True).encode("utf-8"), time=snap.time, **meta)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _now() -> float:
    import time
    return round(time.time(), 3)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- samples back to snapshots -------------------------------------------------------------

def snapshot_from_raw(raw: bytes, meta: dict[str, Any], rules=None) -> Snapshot:
    """Decode and build a raw collector stream, as a capture file would be."""
    try:
        from droidtrack.ingest import stream as pipeline
    except ImportError:
        raise RecordingError("this droidtrack cannot build raw samples (droidtrack.ingest.stream is missing)") from None
    t = meta.get("t")
    serial = meta.get("serial")
    return pipeline.snapshot_from_stream(raw, rules=rules, origin=str(meta.get("origin") or ""),
                                         time=float(t) if isinstance(t, (int, float)) else None,
                                         serial=serial if isinstance(serial, str) else None)


def retag(snap: Snapshot, rules) -> Snapshot:
    """Tags recomputed with `rules` (the same inputs build gives them: exporter, name, holders),
    and owners too where the rules carry owner rules (Rules.owners: --owner-rules)."""
    from dataclasses import replace
    out = {}
    for k, b in snap.buffers.items():
        holders = []
        packages = []
        for pid in b.holders:
            p = snap.processes.get(pid)
            if p is None:
                continue
            holders.append(p.name)
            if p.cmdline:
                holders.append(p.cmdline[0])
            if p.package:
                packages.append(p.package)
        tag, rule = rules.tag_of(b.exporter, b.name, holders, packages, b.held)
        out[k] = b if (tag, rule) == (b.tag, b.tag_rule) else replace(b, tag=tag, tag_rule=rule)
    snap = replace(snap, buffers=out)
    if getattr(rules, "owners", None) is not None:
        # owner rules given (--owner-rules): the owners decided again, after the tags (an override
        # may name a tag); the earlier decision's problems give way to the new one's
        from droidtrack.model.owners import infer
        found = infer(snap, rules.owners)
        snap = replace(snap, owners=found.owners,
                       problems=tuple(p for p in snap.problems if p.source != "owners") + found.problems)
    return snap


# ---- droidtrack.recording/2 (SQLite, history/recording_db.py) behind the same interface ----------

class DbRecording:
    """A /2 recording as a `Recording`: the sample index in memory, each sample read when asked for."""

    def __init__(self, path: str):
        from droidtrack.history import recording_db, recording_db_reader
        try:
            self._r = recording_db_reader.DbReader(path)
        except recording_db.DbError as e:
            raise RecordingError(str(e)) from None
        self.path = path
        self.header = dict(self._r.meta)
        self.samples = [SampleInfo(i, "rows", s.id, 0, s.time, {"origin": s.origin, "serial": s.serial})
                        for i, s in enumerate(self._r.samples)]
        self.problems: list[Problem] = self._r.problems()

    def __len__(self) -> int:
        return len(self.samples)

    resolve = Recording.resolve
    snapshots = Recording.snapshots

    def payload(self, i: int) -> bytes:
        raise RecordingError(f"{self.path}: a droidtrack.recording/2 file keeps no raw collector streams")

    def lifetimes(self):
        """The dma_buf lifetimes of `record --trace` (model/lifetimes.Lifetimes), or None."""
        from droidtrack.history import recording_db
        try:
            return self._r.lifetimes()
        except recording_db.DbError as e:
            raise RecordingError(str(e)) from None

    def snapshot(self, i: int, rules=None) -> Snapshot:
        from droidtrack.history import recording_db
        from droidtrack.ingest import gcpause
        s = self.samples[self.resolve(i)]
        # ~150,000 dicts and model objects of one sample, none in a cycle: the collector paused, as
        # when a snapshot is built (ingest/gcpause.py; it was 0.3-0.4 s of a 2,000-process sample)
        with gcpause.paused():
            try:
                snap = self._r.snapshot(s.offset)
            except recording_db.DbError as e:
                raise RecordingError(str(e)) from None
            return _replayed(self.path, s, retag(snap, rules) if rules is not None else snap)


def open_writer(path: str, meta: dict[str, Any] | None = None, *, append: bool = False):
    """The writer `record` uses: a new file is a droidtrack.recording/2 (SQLite); --append continues
    a file in the format it already has. Raises RecordingError with a message for the user."""
    from droidtrack.history import recording_db
    if append and os.path.exists(path) and os.path.getsize(path) > 0 and not recording_db.is_db(path):
        if not is_recording(path):
            raise RecordingError(f"{path}: not a droidtrack recording (neither SQLite nor {MAGIC}); "
                                 "refusing to append to it")
        return RecordingWriter(path, meta, append=True)
    try:
        return recording_db.DbWriter(path, meta, append=append)
    except recording_db.DbError as e:
        raise RecordingError(str(e)) from None
