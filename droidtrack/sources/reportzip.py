"""A zip written by `droidtrack report`, read again as a source (`--report ZIP`, or a report zip
given to `--replay`/`--capture`), so whoever receives the attachment sees what its author saw:
`top` drills into it as into the live phone, `snapshot`, `report`, `check` read it.

What is read, best first (the layout is droidtrack/report/__init__.py's, docs/report.md):
  1. a recording under raw/ (report --replay): replayed sample by sample, as --replay does;
  2. the raw collector stream(s) under raw/ (report of a device, a --root, a capture): each
     decoded again, with today's parsers and tag rules;
  3. snapshot.json (a redacted report carries nothing else; a bugreport's or pasted text's report).

The zip is hostile input until read: at most MAX_MEMBERS entries are looked at; only the names
the report writer makes are read (`snapshot.json`, `provenance.json`, `raw/<name>` with no
directory, `..` or odd character), nothing is ever written under a member's name (a recording is
extracted to a temporary file droidtrack names); every read is capped by bytes actually
decompressed, not by what the zip's directory claims (zip bombs); unreadable, encrypted or
corrupt members are skipped and said so in the snapshot's problems.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from droidtrack.model import Snapshot
from droidtrack.model.problems import Problem
from droidtrack.sources import Collected, SourceError, step_through

MAX_MEMBERS = 256
MAX_JSON = 512 << 20            # snapshot.json of the 2,000-process device is ~20 MiB
MAX_PROVENANCE = 4 << 20
MAX_STREAMS = 1 << 30           # all raw collector streams together, in memory (23 MiB for 2,000 processes)
MAX_RECORDING = 8 << 30         # a recording is extracted to a temporary file, not held in memory
REPORT_SCHEMA = "droidtrack.report/1"
_RAW_NAME = re.compile(r"^raw/[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$")
_RECORDING_HEADS = (b"droidtrack.recording/", b"SQLite format 3\x00")
_UNREADABLE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, RuntimeError,
               NotImplementedError, ValueError)


class _TooBig(Exception):
    pass


def is_report_zip(path: str) -> bool:
    """Whether `path` is a zip with a droidtrack report's provenance.json and snapshot.json."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as z:
            names = {i.filename for i in z.infolist()[:MAX_MEMBERS]}
    except _UNREADABLE:
        return False
    return "provenance.json" in names and "snapshot.json" in names


def _read(z: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    with z.open(info) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise _TooBig(f"more than {cap >> 20} MiB")
    return data


def _extract(z: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, cap: int) -> None:
    n = 0
    with z.open(info) as f, open(dest, "wb") as out:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            n += len(chunk)
            if n > cap:
                raise _TooBig(f"more than {cap >> 30} GiB")
            out.write(chunk)


@dataclass
class _Sample:
    """What the TUI's time slider and `report` read of a sample (as history.recording.SampleInfo)."""
    index: int
    time: float | None
    kind: str


class ReportZipSource:
    """The snapshots of a report zip with random access, like a replay (`at`, `seek`, `samples`,
    `exhausted`; `collect()` steps through them and then holds the last)."""

    def __init__(self, path: str, *, rules=None) -> None:
        self.path = path
        self.rules = rules
        self.label = f"report {path}"
        self.problems: list[Problem] = []
        self.inner = None                  # a ReplaySource over an extracted recording
        self._tmp: Path | None = None
        self._streams: list[tuple[str, bytes]] = []
        self._json: dict | None = None
        self._times: list[float] = []
        self.position = 0
        self.exhausted = False
        self._cache: dict[int, Collected] = {}
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        if len(self) == 0:
            detail = "; ".join(p.message for p in self.problems)
            raise SourceError(f"{path}: the report zip holds nothing droidtrack can read"
                              + (f" ({detail})" if detail else ""))

    # -- reading the zip
    def _skip(self, name: str, why: str) -> None:
        self.problems.append(Problem("report-zip", f"{name!r} skipped: {why}"))

    def _open(self) -> None:
        try:
            z = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise SourceError(f"cannot read {self.path}: no such file") from None
        except _UNREADABLE as e:
            raise SourceError(f"{self.path}: not a readable zip ({e})") from None
        with z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                self.problems.append(Problem("report-zip", f"{len(infos)} members: only the first "
                                             f"{MAX_MEMBERS} were looked at"))
                infos = infos[:MAX_MEMBERS]
            seen: set[str] = set()
            members: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                name = info.filename
                if name in seen:
                    self._skip(name, "a second member of that name (the first is read)")
                    continue
                seen.add(name)
                if name in ("snapshot.json", "provenance.json") or _RAW_NAME.match(name):
                    if ".." in name:
                        self._skip(name, "not a name droidtrack writes")
                        continue
                    members[name] = info
                elif name not in ("report.html", "summary.md", "README.txt"):
                    self._skip(name, "not a name droidtrack writes")
            if "provenance.json" in members:
                self._provenance(z, members["provenance.json"])
            for name in sorted(n for n in members if n.startswith("raw/")):
                self._raw(z, name, members[name])
                if self.inner is not None:
                    return                     # a recording: it holds every sample
            if not self._streams and "snapshot.json" in members:
                try:
                    doc = json.loads(_read(z, members["snapshot.json"], MAX_JSON).decode("utf-8"))
                except _TooBig as e:
                    self._skip("snapshot.json", str(e))
                except (UnicodeDecodeError, ValueError, RecursionError) as e:
                    self._skip("snapshot.json", f"not valid JSON ({str(e)[:120]})")
                except _UNREADABLE as e:
                    self._skip("snapshot.json", f"unreadable ({e})")
                else:
                    if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("droidtrack.snapshot/"):
                        self._json = doc
                    else:
                        self._skip("snapshot.json", "not a droidtrack snapshot")

    def _provenance(self, z: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        try:
            doc = json.loads(_read(z, info, MAX_PROVENANCE).decode("utf-8"))
        except (_TooBig, UnicodeDecodeError, ValueError, RecursionError, *_UNREADABLE) as e:
            self._skip("provenance.json", f"unreadable ({str(e)[:120]})")
            return
        if not isinstance(doc, dict) or doc.get("schema") != REPORT_SCHEMA:
            self._skip("provenance.json", f"not a {REPORT_SCHEMA} provenance record")
            return
        times = doc.get("snapshot_times")
        if isinstance(times, list) and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in times):
            self._times = [float(t) for t in times[:100000]]

    def _raw(self, z: zipfile.ZipFile, name: str, info: zipfile.ZipInfo) -> None:
        try:
            with z.open(info) as f:
                head = f.read(64)
        except _UNREADABLE as e:
            self._skip(name, f"unreadable ({e})")
            return
        if head.startswith(_RECORDING_HEADS):
            self._tmp = Path(tempfile.mkdtemp(prefix="droidtrack-report-"))
            dest = self._tmp / "recording.dtr"
            try:
                _extract(z, info, dest, MAX_RECORDING)
            except (_TooBig, *_UNREADABLE) as e:
                self._skip(name, f"recording not extracted ({e})")
                return
            from droidtrack.sources.replay import ReplaySource
            try:
                self.inner = ReplaySource(str(dest), self.rules)
            except SourceError as e:
                self._skip(name, str(e).replace(str(dest), name))
                self.inner = None
            return
        from droidtrack.collect.frames import sniff_token
        if sniff_token(head) is None:
            return                                      # bugreport sections, pasted text: snapshot.json says it
        used = sum(len(d) for _, d in self._streams)
        try:
            data = _read(z, info, MAX_STREAMS - used)
        except (_TooBig, *_UNREADABLE) as e:
            self._skip(name, f"collector stream not read ({e})")
            return
        self._streams.append((name, data))

    # -- the replay interface
    def __len__(self) -> int:
        if self.inner is not None:
            return len(self.inner)
        return len(self._streams) if self._streams else (1 if self._json is not None else 0)

    @property
    def samples(self) -> list:
        if self.inner is not None:
            return self.inner.samples
        n = len(self)
        times = self._times if len(self._times) == n else [None] * n
        return [_Sample(i, times[i], "raw" if self._streams else "json") for i in range(n)]

    @property
    def recording(self):
        return self.inner.recording if self.inner is not None else None

    def _build(self, i: int) -> Collected:
        if self._streams:
            from droidtrack.collect import frames
            from droidtrack.ingest.stream import snapshot_from_frames
            from droidtrack.sources import collected_from_stream
            name, data = self._streams[i]
            fr = frames.decode(data)
            t = self._times[i] if len(self._times) == len(self._streams) else 0.0
            snap = snapshot_from_frames(fr, rules=self.rules, time=t, origin=f"report:{Path(self.path).name}:{name}")
            return collected_from_stream(fr, snap, data)
        from droidtrack.history import recording
        from droidtrack.model import schema
        try:
            snap = schema.from_dict(self._json, f"{self.path}: snapshot.json")
        except (schema.SchemaError, ValueError, TypeError, KeyError, RecursionError) as e:
            raise SourceError(f"{self.path}: snapshot.json is not a snapshot droidtrack can read: "
                              f"{str(e)[:200]}") from None
        if self.rules is not None:
            snap = recording.retag(snap, self.rules)
        return Collected(snap, None)

    def at(self, i: int) -> Collected:
        if self.inner is not None:
            c = self.inner.at(i)
        else:
            n = len(self)
            j = i + n if i < 0 else i
            if not 0 <= j < n:
                raise SourceError(f"{self.path}: no sample {i} (it holds {n})")
            c = self._cache.get(j)
            if c is None:
                c = self._build(j)
                if len(self._cache) > 4:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[j] = c
        if self.problems:
            c = replace(c, snapshot=_with_problems(c.snapshot, self.problems))
        return c

    def seek(self, i: int) -> None:
        n = len(self)
        self.position = max(0, min(n - 1, i + n if i < 0 else i))
        self.exhausted = False

    def collect(self) -> Collected:
        return step_through(self)

    def raw_inputs(self) -> list[tuple[str, bytes]]:
        """The raw members this source read (for a report made from this report)."""
        if self.inner is not None:
            return [(f"{Path(self.path).stem}.dtr", Path(self.inner.path).read_bytes())]
        return [(name.split("/", 1)[1], data) for name, data in self._streams]

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
        self._cache.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _with_problems(snap: Snapshot, problems: list[Problem]) -> Snapshot:
    have = set(snap.problems)
    extra = tuple(p for p in problems if p not in have)
    return replace(snap, problems=tuple(snap.problems) + extra) if extra else snap
