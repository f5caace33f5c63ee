"""`/proc/<pid>/fdinfo/<fd>` (formats.md §2): one record per fd file.

Kernel layout: `pos:\t%lli`, `flags:\t0%o` (octal), `mnt_id:\t%i`, `ino:\t%lu` (5.14+ and ACK
5.4+), fd locks, then for a dma-buf `size:\t%zu`, `count:\t%ld`, `exp_name:\t%s` and, only when the
buffer has a name, `name:\t%s` — always the LAST line. A file is a dma-buf iff it has `exp_name:`.

Two entry points:
- `parse_grep(text, root)`: the collector's `fdinfo` section, `grep -H ''` over many files
  ("ROOT/proc/PID/fdinfo/FD:key:\tvalue"); the lines of one file arrive together.
- `parse_one(text, pid, fd)`: one pasted file; "key: value" with spaces instead of the tab is
  accepted, as are indentation and markdown code fences around it.

A name may hold a newline: grep then prints the rest as another "PATH:..." line of the same file.
Since `name:` is the last line the kernel prints, lines of that file after it are joined to the
name with "\n" while the name stays within the kernel's 31-byte limit (DMA_BUF_NAME_LEN), and a
problem says so; a longer tail is reported and not joined. No key is ever invented.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from droidtrack.parse._lines import NAME_MAX, name_bytes, slow_paths, to_int
from droidtrack.parse.grepout import Ints, is_decimal, proc_parts, record_builder, to_base
from droidtrack.model.problems import ParseResult, Problem

SOURCE = "fdinfo"
_FAST_INT = frozenset(("pos", "mnt_id", "ino", "size", "count"))
_KNOWN = frozenset(("pos", "flags", "mnt_id", "ino", "size", "count", "exp_name", "name", "lock"))


@dataclass(frozen=True, slots=True)
class FdInfo:
    pid: int | None
    fd: int | None
    size: int | None
    count: int | None
    exporter: str | None
    name: str | None
    inode: int | None
    flags: int | None
    mnt_id: int | None
    pos: int | None
    line: int = 0        # 1-based line of the file's first line in the parsed text

    @property
    def is_dmabuf(self) -> bool:
        return self.exporter is not None


make_fdinfo = record_builder(FdInfo)   # FdInfo(...) without a frozen dataclass's setattr cost


class _File:
    __slots__ = ("pid", "fd", "line", "vals", "name", "in_name", "joined", "dropped", "path")

    def __init__(self, pid, fd, line, path=None):
        self.pid, self.fd, self.line, self.path = pid, fd, line, path
        self.vals: dict = {}
        self.name: str | None = None
        self.in_name = False
        self.joined = 0
        self.dropped = 0

    def feed(self, content: str, lineno: int, probs: list[Problem], loose: bool) -> None:
        if self.in_name:
            cand = self.name + "\n" + content
            if self.dropped == 0 and name_bytes(cand) <= NAME_MAX:
                self.name = cand
                self.joined += 1
            else:
                self.dropped += 1
                probs.append(Problem(SOURCE, "line after name: is too long to be part of a 31-byte name: skipped",
                                     line=lineno, text=content, path=self.path))
            return
        key, sep, val = content.partition(":")
        if loose:
            key = key.strip()
        if not sep or (key not in _KNOWN and (not key or " " in key)):
            probs.append(Problem(SOURCE, "not a 'key: value' line: skipped", line=lineno, text=content,
                                 path=self.path))
            return
        if key == "name":
            self.in_name = True
            if val.startswith("\t"):
                self.name = val[1:]
            else:   # pasted with spaces instead of the tab
                self.name = val.lstrip(" ")
            return
        if key not in _KNOWN:
            return   # a field of another fd type or a vendor addition: not ours
        if key == "lock":
            return
        if key in self.vals:
            probs.append(Problem(SOURCE, f"key {key!r} appears twice: the first value is kept",
                                 line=lineno, text=content, path=self.path))
            return
        if key == "exp_name":
            self.vals[key] = val.strip(" \t")
            return
        if key == "flags":
            v = to_base(val, 8)
        else:
            v = to_int(val, signed=True)
        if v is None:
            probs.append(Problem(SOURCE, f"{key}: is not a number: left unknown", line=lineno, text=content,
                                 path=self.path))
        self.vals[key] = v

    def freeze(self, probs: list[Problem]) -> FdInfo:
        if self.joined:
            probs.append(Problem(SOURCE, f"buffer name holds a newline: {self.joined} continuation line(s) "
                                         "joined with \\n", line=self.line, path=self.path))
        g = self.vals.get
        exporter = g("exp_name")
        return FdInfo(self.pid, self.fd, g("size"), g("count"), exporter, self.name, g("ino"), g("flags"),
                      g("mnt_id"), g("pos"), self.line)


def _fast_re(root: str) -> re.Pattern:
    """One well-formed fdinfo file as the kernel prints it, with grep's "PATH:" on every line."""
    d = "[0-9]{1,4000}"
    return re.compile(
        "(?P<p>" + re.escape(root) + "/proc/(?P<pid>[0-9]{1,12})/fdinfo/(?P<fd>[0-9]{1,12}):)"
        "pos:\t(?P<pos>-?" + d + ")\n"
        "(?P=p)flags:\t(?P<flags>[0-7]{1,30})\n"
        "(?P=p)mnt_id:\t(?P<mnt>-?" + d + ")\n"
        "(?:(?P=p)ino:\t(?P<ino>" + d + ")\n)?"
        "(?:(?P=p)size:\t(?P<size>" + d + ")\n"
        "(?P=p)count:\t(?P<count>-?" + d + ")\n"
        "(?P=p)exp_name:\t(?P<exp>[^\n]*)\n"
        "(?:(?P=p)name:\t(?P<name>[^\n]*)\n)?)?")


def parse_grep(text: str, root: str) -> ParseResult[FdInfo]:
    """The collector's `fdinfo` section: one FdInfo per (pid, fd) file, in the order read.

    Written for speed (60,000 files, 480,000 lines): a file exactly as the kernel prints it is
    read with one regular-expression match; anything else (a name holding a newline, fd locks,
    odd values, lines that are not ours) goes line by line through `_File.feed`, which holds the
    rules. Both paths give the same records.
    """
    out: ParseResult[FdInfo] = ParseResult()
    probs = out.problems
    recs = out.records
    seen: set[tuple[int, int]] = set()
    prefix = root + "/"
    rlen = len(root)
    plen = len(prefix)
    if text and not text.endswith("\n"):
        text += "\n"
    fast = _fast_re(root).match if not slow_paths() else (lambda _text, _pos: None)
    mk = make_fdinfo
    dec = Ints()
    octal = Ints(8)
    n = len(text)
    cur: _File | None = None
    curpre = None          # "ROOT/proc/PID/fdinfo/FD:" of the file read line by line
    last_bad = None
    pos = 0
    i = 0                  # number of the line that starts at pos, minus one

    def finish(f: _File | None) -> None:
        if f is None:
            return
        key = (f.pid, f.fd)
        if key in seen:
            probs.append(Problem(SOURCE, "this fd's file appears twice in the section: the first is kept",
                                 line=f.line, path=f.path))
            return
        seen.add(key)
        recs.append(f.freeze(probs))

    while pos < n:
        if curpre is not None and text.startswith(curpre, pos):
            e = text.find("\n", pos)
            i += 1
            cur.feed(text[pos + len(curpre):e], i, probs, False)
            pos = e + 1
            continue
        if cur is not None:
            finish(cur)
            cur = None
            curpre = None
        m = fast(text, pos)
        if m is not None:
            p, pid, fd, ps, flags, mnt, ino, size, count, exp, name = m.groups()
            end = m.end()
            if not text.startswith(p, end):
                key = (dec[pid], dec[fd])
                if key in seen:
                    probs.append(Problem(SOURCE, "this fd's file appears twice in the section: the first is kept",
                                         line=i + 1, path=p[rlen:-1]))
                elif size is None:
                    seen.add(key)
                    recs.append(mk(key[0], key[1], None, None, None, None,
                                   None if ino is None else dec[ino], octal[flags], dec[mnt], dec[ps], i + 1))
                else:
                    seen.add(key)
                    recs.append(mk(key[0], key[1], dec[size], dec[count], exp.strip(" \t"), name,
                                   None if ino is None else dec[ino], octal[flags], dec[mnt], dec[ps], i + 1))
                i += 3 + (ino is not None) + (0 if size is None else 3 + (name is not None))
                pos = end
                continue
        # line by line: a new file that is not in the kernel's exact shape, or a line not ours
        e = text.find("\n", pos)
        line = text[pos:e]
        pos = e + 1
        i += 1
        if not line.startswith(prefix):
            probs.append(Problem(SOURCE, "line does not start with the collector's root path: skipped",
                                 line=i, text=line))
            continue
        j = line.find(":", plen)
        if j < 0:
            probs.append(Problem(SOURCE, "no ':' after the file path: skipped", line=i, text=line))
            continue
        path = line[rlen:j]
        if path == last_bad:
            continue   # more lines of a file already reported as not an fdinfo path
        pp = proc_parts(path)
        if pp is None or not pp[1].startswith("fdinfo/") or not is_decimal(pp[1][7:]) or len(pp[1]) > 20:
            last_bad = path
            probs.append(Problem(SOURCE, "path is not /proc/<pid>/fdinfo/<fd>: skipped", line=i,
                                 text=line, path=path))
            continue
        cur = _File(pp[0], int(pp[1][7:]), i, path)
        curpre = line[:j + 1]
        cur.feed(line[j + 1:], i, probs, False)
    finish(cur)
    return out


# ---- one record type for the feeder: columns, whichever path read them -------------------------
@dataclass
class FdinfoTable:
    """Every fdinfo file read, one list per field, in the order read (one file per (pid, fd)):
    what `read_grep` and fdinfo_heads.read give, from a fast path or from FdInfo records."""
    pids: list[int | None]            # None: a pasted file whose process is not known
    fds: list[int]
    inodes: list[int | None]
    sizes: list[int | None]
    counts: list[int | None]
    exporters: list[str | None]       # None: the file is no dma-buf's
    names: list[str | None]           # None: no name (or an empty one)
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pids)


def table(res: ParseResult[FdInfo], *, pasted: bool = False) -> FdinfoTable:
    """FdInfo records (of a file with a pid and an fd) as columns. `pasted`: a pasted file's record
    is kept without them too, its pid None (its process not known) and its fd -1 (not known)."""
    if pasted:
        recs = [r if r.fd is not None else replace(r, fd=-1) for r in res.records]
    else:
        recs = [r for r in res.records if r.pid is not None and r.fd is not None]
    return FdinfoTable([r.pid for r in recs], [r.fd for r in recs], [r.inode for r in recs],
                       [r.size for r in recs], [r.count for r in recs], [r.exporter for r in recs],
                       [r.name or None for r in recs], res.problems)


def read_grep(text: str, root: str) -> FdinfoTable:
    """v1's `fdinfo` section (grep -H lines) as the feeder reads it."""
    return table(parse_grep(text, root))


def parse_file(body: str, pid: int, fd: int, line: int, path: str, probs: list[Problem]) -> FdInfo:
    """One fdinfo file's text as the kernel printed it (a v2 stream's file after head's header, at
    line `line`): the line-by-line rules of `parse_grep`, its lines numbered from line + 1."""
    f = _File(pid, fd, line, path)
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for k, content in enumerate(lines, line + 1):
        f.feed(content, k, probs, False)
    return f.freeze(probs)


def parse_one(text: str, pid: int | None = None, fd: int | None = None) -> ParseResult[FdInfo]:
    """One pasted fdinfo file (tabs or spaces after the colon). A repeated `pos:` starts a new file."""
    out: ParseResult[FdInfo] = ParseResult()
    probs = out.problems
    cur: _File | None = None
    ignored: list[int] = []
    lines = text.split("\n")
    for i, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        body = line.strip()
        if not body or body.startswith("```"):
            if cur is not None and cur.in_name:
                cur.in_name = False   # a pasted file ends at a blank line or a code fence
                cur.dropped = 1
            continue
        if cur is not None and cur.in_name:
            cur.feed(line, i, probs, True)
            continue
        key = body.partition(":")[0].strip()
        if key not in _KNOWN:
            ignored.append(i)
            continue
        if cur is not None and key == "pos" and cur.vals:
            out.records.append(cur.freeze(probs))
            cur = None
        if cur is None:
            cur = _File(pid, fd, i)
        cur.feed(body if key != "name" else line.lstrip(), i, probs, True)
    if cur is not None:
        out.records.append(cur.freeze(probs))
    if ignored:
        probs.append(Problem(SOURCE, f"{len(ignored)} line(s) that are not fdinfo lines were ignored",
                             line=ignored[0], text=lines[ignored[0] - 1]))
    if not out.records:
        probs.append(Problem(SOURCE, "no fdinfo lines found"))
    return out
