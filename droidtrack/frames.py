"""The collector's framed stream (docs/capture-format.md): decode, and encode for tests.

`decode(data)` never raises: a cut stream yields every section received so far plus the one in
flight (marked truncated) and a problem saying so.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from droidtrack.problems import Problem

FORMAT_VERSION = 1
_TOKEN_RE = re.compile(rb"^@@([A-Za-z0-9]+) HDR ")


def new_token() -> str:
    return secrets.token_hex(12)


@dataclass
class Section:
    name: str
    content: bytes = b""
    stderr: bytes = b""
    rc: int | None = None
    status: str = "truncated"   # ok | partial | denied | missing | error | truncated

    @property
    def complete(self) -> bool:
        return self.status != "truncated"

    def text(self) -> str:
        """Content as text: invalid UTF-8 is kept as escapes, never dropped or raised on."""
        return self.content.decode("utf-8", "backslashreplace")

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "backslashreplace")


@dataclass
class Frames:
    token: str | None = None
    version: int | None = None
    root: str = ""
    sections: dict[str, Section] = field(default_factory=dict)
    complete: bool = False
    problems: list[Problem] = field(default_factory=list)

    def get(self, name: str) -> Section | None:
        return self.sections.get(name)


def sniff_token(data: bytes) -> str | None:
    m = _TOKEN_RE.match(data)
    return m.group(1).decode() if m else None


def decode(data: bytes, token: str | None = None) -> Frames:
    """Split a collector stream into sections. The token comes from the first line if not given."""
    out = Frames()
    if token is None:
        token = sniff_token(data)
        if token is None:
            out.problems.append(Problem("collector", "not a droidtrack collector stream (no header line)",
                                        text=data[:80].decode("utf-8", "backslashreplace")))
            return out
    out.token = token
    mark = b"@@" + token.encode() + b" "
    # every marker starts a line; content before a marker ends with the collector's newline
    pos = 0
    cur: Section | None = None
    in_stderr = False
    n = len(data)
    first = True
    while pos < n:
        if first:
            idx = 0 if data.startswith(mark) else data.find(b"\n" + mark)
            if idx != 0:
                out.problems.append(Problem("collector", "stream does not start with its header line"))
                if idx < 0:
                    return out
                idx += 1
            first = False
        else:
            # a marker may start right at pos: its newline is the previous line's end
            nxt = data.find(b"\n" + mark, pos - 1)
            if nxt < 0:
                # the stream was cut: drop the start of a marker that did not arrive whole
                body_end = n - _partial_suffix(data[pos:], b"\n" + mark)
            else:
                body_end = max(nxt, pos)
            if cur is not None:
                if in_stderr:
                    cur.stderr = data[pos:body_end]
                else:
                    cur.content = data[pos:body_end]
            elif data[pos:body_end].strip():
                out.problems.append(Problem("collector", "bytes outside any section were ignored",
                                            text=data[pos:body_end][:80].decode("utf-8", "backslashreplace")))
            if nxt < 0:
                break
            idx = nxt + 1
        eol = data.find(b"\n", idx)
        if eol < 0:  # a marker line cut in the middle
            break
        line = data[idx + len(mark):eol].decode("utf-8", "backslashreplace")
        pos = eol + 1
        kind, _, rest = line.partition(" ")
        if kind == "HDR":
            for item in _hdr_items(rest):
                k, _, v = item.partition("=")
                if k == "v":
                    out.version = int(v) if v.isdigit() else None
                elif k == "root":
                    out.root = v
        elif kind == "BEGIN":
            if cur is not None and cur.status == "truncated":
                out.problems.append(Problem("collector", f"section {cur.name} has no end marker"))
            cur = Section(rest.strip())
            in_stderr = False
            out.sections[cur.name] = cur
        elif kind == "STDERR" and cur is not None:
            in_stderr = True
        elif kind == "END" and cur is not None:
            fields = dict(p.partition("=")[::2] for p in rest.split()[1:])
            rc = fields.get("rc", "")
            cur.rc = int(rc) if rc.lstrip("-").isdigit() else None
            cur.status = fields.get("status", "error")
            cur = None
            in_stderr = False
        elif kind == "DONE":
            out.complete = True
            cur = None
        else:
            out.problems.append(Problem("collector", f"unknown marker {kind!r}"))
    if cur is not None and cur.status == "truncated":
        out.problems.append(Problem("collector", f"stream cut inside section {cur.name}: kept what arrived"))
    if not out.complete:
        out.problems.append(Problem("collector", "stream ended before its DONE marker: the snapshot may be incomplete"))
    if out.version not in (None, FORMAT_VERSION):
        out.problems.append(Problem("collector", f"collector format v{out.version}, this droidtrack reads v{FORMAT_VERSION}"))
    return out


def _partial_suffix(body: bytes, marker: bytes) -> int:
    """Length of the longest tail of body that is a proper prefix of marker."""
    for k in range(min(len(marker) - 1, len(body)), 0, -1):
        if body.endswith(marker[:k]):
            return k
    return 0


def _hdr_items(rest: str) -> list[str]:
    # root= is last and takes the rest of the line (a root path may contain spaces)
    items: list[str] = []
    while rest:
        if rest.startswith("root="):
            items.append(rest)
            break
        item, _, rest = rest.partition(" ")
        if item:
            items.append(item)
    return items


def encode(sections: list[Section], token: str, root: str = "", complete: bool = True) -> bytes:
    """Build a stream as the collector would print it (for tests and the synthetic generator)."""
    mark = "@@" + token
    parts = [f"{mark} HDR v={FORMAT_VERSION} root={root}\n".encode()]
    for s in sections:
        parts.append(f"{mark} BEGIN {s.name}\n".encode())
        parts.append(s.content + b"\n")
        if s.stderr:
            parts.append(f"{mark} STDERR {s.name}\n".encode() + s.stderr + b"\n")
        parts.append(f"{mark} END {s.name} rc={s.rc if s.rc is not None else 0} status={s.status}\n".encode())
    if complete:
        parts.append(f"{mark} DONE\n".encode())
    return b"".join(parts)
