"""The STDERR part of a collector section: which files could not be read, and why.

Spellings accepted (toybox, busybox, GNU):
    grep: ROOT/proc/123/fdinfo/7: Permission denied
    grep: ROOT/proc/9/maps: No such file or directory
    ls: ROOT/proc/1/fd/: Permission denied                      (toybox)
    ls: can't open 'ROOT/proc/1/fd/': Permission denied         (busybox)
    ls: cannot open directory 'ROOT/proc/1/fd/': Permission denied   (GNU)
    ls: cannot read symbolic link 'ROOT/proc/1/fd/0': Permission denied   (GNU)
    ls: cannot access 'ROOT/proc/9/fd/': No such file or directory        (GNU)
    cat: can't open 'ROOT/...': ...   xargs: ...   sh: ...
kind: "denied" (EACCES/EPERM), "vanished" (ENOENT/ESRCH under /proc/<pid>: the process or fd
went away mid-scan), "missing" (ENOENT elsewhere), "other". Paths are device paths (ROOT
stripped exactly); a path not under ROOT is left out (path None) and the line is kept whole in
`message`.
"""
from __future__ import annotations

from dataclasses import dataclass

from droidtrack.parse.grepout import pid_of
from droidtrack.model.problems import ParseResult

_LEADS = ("can't open ", "cannot open directory ", "cannot open ", "cannot read symbolic link ",
          "cannot access ", "can't read ", "can't access ", "unable to open ", "failed to open ")
_DENIED = ("Permission denied", "Operation not permitted")
_GONE = ("No such file or directory", "No such process")


@dataclass(frozen=True, slots=True)
class AccessError:
    path: str | None
    pid: int | None
    kind: str          # denied | vanished | missing | other
    message: str       # the error text after the path ("Permission denied"), or the whole line
    line: int = 0
    program: str | None = None   # "grep", "ls", ...


def _classify(msg: str, path: str | None) -> str:
    if any(msg.startswith(d) or msg.endswith(d) for d in _DENIED):
        return "denied"
    if any(msg.startswith(g) or msg.endswith(g) for g in _GONE):
        if path is not None and pid_of(path) is not None:
            return "vanished"
        return "missing"
    return "other"


def parse_line(line: str, root: str) -> AccessError:
    prog, sep, rest = line.partition(": ")
    if not sep or " " in prog or not prog:
        return AccessError(None, None, _classify(line.strip(), None), line, program=None)
    for lead in _LEADS:
        if rest.startswith(lead):
            rest = rest[len(lead):]
            break
    path = None
    msg = rest
    quoted = rest.startswith("'")
    body = rest[1:] if quoted else rest
    if body.startswith(root + "/"):
        end = body.find("': " if quoted else ": ", len(root))
        if end >= 0:
            path = body[len(root):end]
            msg = body[end + (3 if quoted else 2):]
    kind = _classify(msg.strip(), path)
    return AccessError(path, pid_of(path) if path else None, kind, msg.strip() if path else line,
                       program=prog.rsplit("/", 1)[-1])


def parse(text: str, root: str) -> ParseResult[AccessError]:
    out: ParseResult[AccessError] = ParseResult()
    for i, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        e = parse_line(line, root)
        out.records.append(AccessError(e.path, e.pid, e.kind, e.message, i, e.program))
    return out
