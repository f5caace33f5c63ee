"""Per-process identity and small per-pid files.

- `parse_status(text, root)`: the `status` section, `grep -H` of Name/Tgid/PPid/Uid lines.
  The kernel escapes Name (proc_task_name: "\\n" and "\\\\" only, so a name never spans lines);
  it is unescaped here. "/proc/self/status" is the collector's own process: its uid comes back
  as `self_uid`, not as a record.
- `parse_cmdline(data, root)`: the `cmdline` section, `grep -H -a -z ''`: NUL-terminated
  "PATH:arg" records (an arg may hold newlines and ':'). Trailing empty args are dropped (Android
  app processes pad their rewritten argv with NULs).
- `parse_pid_values(lines, name)`: single-integer per-pid files (oom_score_adj, dmabuf_rss,
  dmabuf_rss_hwm, dmabuf_pss) from split_grep tuples.
- `parse_props(text)`: `getprop` output ("[key]: [value]", a value may span lines) or build.prop
  ("key=value", '#' comments).

The last three return a `PidMap`/`Props`: a ParseResult whose records are (key, value) pairs and
which also reads like the dict (`dict(r)`, `r[pid]`, `r.get`, `in`, `items()`, `len`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from droidtrack.parse._lines import slow_paths, to_int
from droidtrack.parse.grepout import proc_parts, split_grep
from droidtrack.model.problems import ParseResult, Problem, ProblemLog


@dataclass(frozen=True, slots=True)
class ProcStatus:
    pid: int
    name: str | None
    tgid: int | None
    ppid: int | None
    uid: int | None        # real uid (first of the four)
    line: int = 0


@dataclass
class StatusResult(ParseResult[ProcStatus]):
    self_uid: int | None = None


@dataclass
class PidMap(ParseResult):
    """records: list of (key, value) pairs; also reads like a dict of them."""
    by_key: dict = field(default_factory=dict)

    def add(self, k, v) -> None:
        self.records.append((k, v))
        self.by_key[k] = v

    def __getitem__(self, k):
        return self.by_key[k]

    def __contains__(self, k) -> bool:
        return k in self.by_key

    def __len__(self) -> int:
        return len(self.by_key)

    def get(self, k, default=None):
        return self.by_key.get(k, default)

    def keys(self):
        return self.by_key.keys()

    def items(self):
        return self.by_key.items()


Props = PidMap


_ESC = re.compile(r"\\(\\|n)")


def unescape_comm(s: str) -> str:
    """Undo proc_task_name's escaping of '\\n' and '\\\\' (left to right, so "\\\\n" is "\\" + "n")."""
    if "\\" not in s:
        return s
    return _ESC.sub(lambda m: "\\" if m.group(1) == "\\" else "\n", s)


def parse_status(text: str, root: str) -> StatusResult:
    out = StatusResult()
    probs = out.problems
    procs: dict[int, dict] = {}
    for i, path, content in split_grep(text, root, problems=probs, source="status"):
        key, sep, val = content.partition(":")
        if path == "/proc/self/status":
            if key == "Uid":
                out.self_uid = _first_int(val)
            continue
        pp = proc_parts(path)
        if pp is None or pp[1] != "status":
            probs.append(Problem("status", "path is not /proc/<pid>/status: skipped", line=i, text=content, path=path))
            continue
        d = procs.get(pp[0])
        if d is None:
            d = procs[pp[0]] = {"line": i}
        if not sep or key not in ("Name", "Tgid", "PPid", "Uid"):
            probs.append(Problem("status", "unexpected status line: skipped", line=i, text=content, path=path))
            continue
        _status_field(d, key, val, content, i, path, probs)
    for pid, d in procs.items():
        out.records.append(ProcStatus(pid, d.get("Name"), d.get("Tgid"), d.get("PPid"), d.get("Uid"), d["line"]))
    return out


def _status_field(d: dict, key: str, val: str, line: str, lineno: int | None, path: str, probs) -> None:
    """One Name/Tgid/PPid/Uid line of a status file into `d` (the first of a key is kept)."""
    if key in d:
        probs.append(Problem("status", f"{key} appears twice: the first is kept", line=lineno, text=line, path=path))
        return
    if key == "Name":
        d[key] = unescape_comm(val[1:] if val.startswith("\t") else val.strip())
        return
    v = _first_int(val)
    if v is None:
        probs.append(Problem("status", f"{key} is not a number: left unknown", line=lineno, text=line, path=path))
    d[key] = v


def _first_int(val: str) -> int | None:
    parts = val.split()
    return to_int(parts[0], signed=True) if parts else None


def parse_cmdline(data: str, root: str) -> PidMap:
    """pid -> argv tuple, from NUL-terminated "ROOT/proc/PID/cmdline:arg" records."""
    out = PidMap()
    probs = out.problems
    prefix = root + "/"
    argv: dict[int, list[str]] = {}
    recs = data.split("\0")
    last = len(recs) - 1
    for n, rec in enumerate(recs):
        if n == last:
            if rec.strip("\n") == "":
                break   # after the final NUL (the collector's newline at most)
            probs.append(Problem("cmdline", "last record has no NUL terminator (text cut?): kept as is",
                                 line=n + 1, text=rec))
        if not rec.startswith(prefix):
            probs.append(Problem("cmdline", "record does not start with the collector's root path: skipped",
                                 line=n + 1, text=rec))
            continue
        j = rec.find(":", len(prefix))
        pp = proc_parts(rec[len(root):j]) if j >= 0 else None
        if pp is None or pp[1] != "cmdline":
            probs.append(Problem("cmdline", "path is not /proc/<pid>/cmdline: skipped", line=n + 1, text=rec))
            continue
        argv.setdefault(pp[0], []).append(rec[j + 1:])
    for pid, args in argv.items():
        while args and args[-1] == "":
            args.pop()
        out.add(pid, tuple(args))
    return out


def parse_pid_values(lines: Iterable[tuple], name: str) -> PidMap:
    """pid -> integer for "/proc/<pid>/<name>" lines among split_grep tuples (others are ignored)."""
    out = PidMap()
    for t in lines:
        i, path, content = t[0], t[1], t[2]
        pp = proc_parts(path)
        if pp is None or pp[1] != name:
            continue
        if pp[0] in out:
            out.problems.append(Problem(name, "file has more than one line: the first is kept", line=i,
                                        text=content, path=path))
            continue
        v = to_int(content, signed=True)
        if v is None:
            out.problems.append(Problem(name, "not a single integer: skipped", line=i, text=content, path=path))
            continue
        out.add(pp[0], v)
    return out


_GETPROP = re.compile(r"\[([^\]\n]*)\]: \[(.*)\Z", re.S)


def parse_props(text: str) -> Props:
    """Properties from `getprop` ("[k]: [v]", v may span lines) or build.prop ("k=v")."""
    out = Props()
    probs = out.problems
    lines = text.split("\n")
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i].rstrip("\r")
        i += 1
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = _GETPROP.match(s) if s.startswith("[") else None
        if m is not None:
            key, val = m.group(1), m.group(2)
            start = i
            while not val.endswith("]") and i < n:
                val += "\n" + lines[i].rstrip("\r")
                i += 1
            if not val.endswith("]"):
                probs.append(Problem("props", "value has no closing ']' (text cut?): skipped", line=start,
                                     text=line))
                continue
            out.add(key, val[:-1])
            continue
        if "=" in s and not s.startswith("["):
            key, _, val = s.partition("=")
            key = key.strip()
            if key and " " not in key:
                out.add(key, val.strip())
                continue
        if s.startswith("import ") or s.startswith("$"):
            continue   # build.prop imports, console prompts
        probs.append(Problem("props", "not a property line: skipped", line=i, text=line))
    return out


# ---- the pipeline's fast path: status files in the kernel's order, no records --------------------
_status_cache: dict[str, re.Pattern] = {}


def _status_re(root: str) -> re.Pattern:
    pat = _status_cache.get(root)
    if pat is None:
        r = re.escape(root)
        n = r"([0-9]{1,19})"
        pat = re.compile(
            "(" + r + r"/proc/(?:0|[1-9][0-9]{0,11})/status:)Name:\t([^\n]*)\n"
            r"\1Tgid:\t" + n + r"\n\1PPid:\t" + n + r"\n\1Uid:\t" + n + r"(?:\t[^\n]*)?\n"
            "|" + r + r"/proc/self/status:([^\n]*)\n")
        if len(_status_cache) > 64:
            _status_cache.clear()
        _status_cache[root] = pat
    return pat


def status_rows(text: str, root: str) -> tuple[list[tuple[int, str, int, int, int]], int | None] | None:
    """For the pipeline: when every process's lines of the `status` section are its Name, Tgid,
    PPid and Uid lines in the kernel's order and shape (numbers in decimal, a canonical pid, no
    pid twice), besides any /proc/self/status lines: ([(pid, name, tgid, ppid, uid)] in order,
    self_uid), what parse_status gives such a text, which has no problem for it. None otherwise
    (and under DROIDTRACK_SLOW_PATHS=1)."""
    if slow_paths():
        return None
    if not text:
        return [], None
    if not text.endswith("\n"):
        text += "\n"
    parts = _status_re(root).split(text)
    if any(parts[::7]):
        return None
    self_uid = None
    for line in filter(None, parts[6::7]):
        key, _, val = line.partition(":")
        if key == "Uid":
            self_uid = _first_int(val)
    paths = [p for p in parts[1::7] if p is not None]
    if len(set(paths)) != len(paths):
        return None                      # a process twice: parse_status says so
    plen = len(root) + 6
    rows = [(int(p[plen:-8]), unescape_comm(name), int(tgid), int(ppid), int(uid))
            for p, name, tgid, ppid, uid in zip(parts[1::7], parts[2::7], parts[3::7], parts[4::7], parts[5::7])
            if p is not None]
    return rows, self_uid


# ---- one record type for the feeder -------------------------------------------------------------
@dataclass
class StatusTable:
    """Every process's identity from the `status` section, one list per field, in order, and the
    collector's own uid (/proc/self/status): from `status_rows` or `parse_status`'s records."""
    pids: list[int]
    names: list[str | None]
    tgids: list[int | None]
    ppids: list[int | None]
    uids: list[int | None]
    self_uid: int | None = None
    problems: list[Problem] = field(default_factory=list)


def read_status(text: str, root: str) -> StatusTable:
    fast = status_rows(text, root)
    if fast is not None:
        rows, self_uid = fast
        return StatusTable([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                           [r[4] for r in rows], self_uid)
    res = parse_status(text, root)
    recs = res.records
    return StatusTable([r.pid for r in recs], [r.name for r in recs], [r.tgid for r in recs], [r.ppid for r in recs],
                       [r.uid for r in recs], res.self_uid, res.problems)


# ---- v2: the files themselves (frames.Section.files) ----------------------------------------------
_STATUS_KEYS = re.compile(rb"^(?:Name|Tgid|PPid|Uid):[^\n]*", re.M)


def read_status_files(files: list[tuple[str, bytes]]) -> StatusTable:
    """v2's status files, ("/proc/<pid>/status", bytes) each: the same rules as parse_status over
    each file's Name, Tgid, PPid and Uid lines (a key twice: the first is kept, and said)."""
    pids: list[int] = []
    names: list[str | None] = []
    tgids: list[int | None] = []
    ppids: list[int | None] = []
    uids: list[int | None] = []
    out = StatusTable(pids, names, tgids, ppids, uids)
    probs = out.problems = ProblemLog()
    keys = _STATUS_KEYS.findall
    for path, body in files:
        if path == "/proc/self/status":
            for line in keys(body):
                if line.startswith(b"Uid:"):       # (the last one, as parse_status reads them)
                    out.self_uid = _first_int(line[4:].decode("ascii", "replace"))
            continue
        pp = proc_parts(path)
        if pp is None or pp[1] != "status":
            probs.append(Problem("status", "path is not /proc/<pid>/status: skipped", path=path))
            continue
        lines = keys(body)
        if len(lines) == 4:
            # the kernel's order, each key once, plain numbers: what the loop below makes of it
            n, t, pp_, u = lines
            if n[:6] == b"Name:\t" and t[:6] == b"Tgid:\t" and pp_[:6] == b"PPid:\t" and u[:5] == b"Uid:\t":
                t, pp_, u = t[6:], pp_[6:], u[5:].partition(b"\t")[0]
                if t.isdigit() and pp_.isdigit() and u.isdigit() and len(t) + len(pp_) + len(u) < 60:
                    pids.append(pp[0])
                    names.append(unescape_comm(n[6:].decode("utf-8", "backslashreplace")))
                    tgids.append(int(t))
                    ppids.append(int(pp_))
                    uids.append(int(u))
                    continue
        d: dict = {}
        for raw in lines:
            line = raw.decode("utf-8", "backslashreplace")
            key, _, val = line.partition(":")
            _status_field(d, key, val, line, None, path, probs)
        if not d:
            continue              # nothing read of it (an empty file: the process went away)
        pids.append(pp[0])
        names.append(d.get("Name"))
        tgids.append(d.get("Tgid"))
        ppids.append(d.get("PPid"))
        uids.append(d.get("Uid"))
    return out


def read_cmdline_files(files: list[tuple[str, bytes]]) -> PidMap:
    """v2's cmdline files: pid -> argv tuple, the NUL-separated elements of each file (trailing
    empty ones dropped, as parse_cmdline does)."""
    out = PidMap()
    for path, body in files:
        pp = proc_parts(path)
        if pp is None or pp[1] != "cmdline":
            out.problems.append(Problem("cmdline", "path is not /proc/<pid>/cmdline: skipped", path=path))
            continue
        if not body:
            continue
        args = body.split(b"\0")
        while args and args[-1] == b"":
            args.pop()
        if pp[0] in out:
            continue
        out.add(pp[0], tuple(a.decode("utf-8", "backslashreplace") for a in args))
    return out
