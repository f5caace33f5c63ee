"""The collector's framed stream (docs/capture-format.md): decode, and encode for tests.

`decode(data)` never raises: a cut stream yields every section received so far plus the one in
flight (marked truncated) and a problem saying so.

Format versions: v1 (every per-file source as `grep -H` lines) and v2 (the small /proc files
read by `head` in one `procfiles` section, maps named by `grep -l`). `decode` splits a v2
stream's `procfiles` into `fdinfo` (as head printed it: `Section.form == "head"`, read by
parse/fdinfo_heads.py), `status` and `cmdline` (their files, `Section.files`, read by
parse/procfs.py), with the collector's token path replaced by ROOT/proc in the other sections
(docs/capture-format.md, "What the decoder makes of it"); v2's `maps` keeps the names
grep -l printed (`form == "names"`): the mappings are read from `smaps`. `Frames.version` says
what the collector printed.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from droidtrack.parse.headout import drop_cut_header, split_heads
from droidtrack.model.problems import Problem

FORMAT_VERSION = 2          # what device_scripts/collect.sh prints
READ_VERSIONS = (1, 2)
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
    # "grep": `grep -H` lines (v1, and v2's status/cmdline); "head": files after
    # "==> <Frames.proc>/<path> <==" lines (v2's fdinfo, read by parse/fdinfo_heads.py);
    # "names": v2's maps, the paths of the maps files with a dma-buf mapping (the mappings are
    # read from smaps); "files": v2's status and cmdline, decoded into `files`
    form: str = "grep"
    # form "files": ("/proc/<pid>/<file>", the file's bytes) per file, in the order head printed
    # them (`content` keeps head's text of them, headers naming the collector's token path)
    files: list[tuple[str, bytes]] | None = None

    @property
    def complete(self) -> bool:
        return self.status != "truncated"

    def text(self) -> str:
        """Content as text: invalid UTF-8 is kept as escapes, never dropped or raised on."""
        return self.content.decode("utf-8", "backslashreplace")

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "backslashreplace")


@dataclass
class Pass:
    """A second pass of the per-process part inside the stream, as another user (`run-as PKG`):
    its own stream (`frames`; None when nothing of it arrived or it printed no header), what
    run-as printed on stderr (its refusals: parse/runas.py) and its exit code."""
    kind: str                   # "run-as"
    package: str
    frames: "Frames | None" = None
    stderr: bytes = b""
    rc: int | None = None
    complete: bool = False      # its PASSEND marker arrived


@dataclass
class Frames:
    token: str | None = None
    version: int | None = None
    root: str = ""
    proc: str = ""              # v2: the collector's path (below --tmp) that stands for ROOT/proc
    sections: dict[str, Section] = field(default_factory=dict)
    complete: bool = False
    problems: list[Problem] = field(default_factory=list)
    passes: list[Pass] = field(default_factory=list)

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
    if b"\n" + mark + b"PASS " in data:
        data = _cut_passes(data, token, out)
    raw_root = b""
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
                elif k == "proc":
                    out.proc = v
            raw_root = data[idx + len(mark):eol].partition(b" root=")[2]
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
    if out.version not in (None, *READ_VERSIONS):
        out.problems.append(Problem("collector", f"collector format v{out.version}, this droidtrack reads "
                                    f"v{', v'.join(map(str, READ_VERSIONS))}"))
    if out.version == 2:
        _from_v2(out, raw_root)
    return out


def _cut_passes(data: bytes, token: str, out: Frames) -> bytes:
    """Take the run-as passes out of the stream (each decoded on its own into `out.passes`);
    returns the stream without them."""
    mark = b"\n@@" + token.encode() + b" "
    head = re.compile(re.escape(mark) + rb"PASS (\S+) (\S+)\n")
    keep: list[bytes] = []
    pos = 0
    while True:
        m = head.search(data, max(pos - 1, 0))
        if m is None:
            break
        kind, pkg = m.group(1), m.group(2)
        tail = b" " + kind + b" " + pkg
        keep.append(data[pos:m.start() + 1])
        p = Pass(kind.decode("utf-8", "backslashreplace"), pkg.decode("utf-8", "backslashreplace"))
        out.passes.append(p)
        err = data.find(mark + b"PASSERR" + tail + b"\n", m.end() - 1)
        body_end = len(data) if err < 0 else err
        body = data[m.end():body_end]
        if err < 0:
            pos = len(data)
        else:
            e0 = err + len(mark) + len(b"PASSERR") + len(tail) + 1
            end = re.compile(re.escape(mark + b"PASSEND" + tail) + rb" rc=(-?\d+)\n").search(data, e0 - 1)
            p.stderr = data[e0:len(data) if end is None else end.start()]
            if end is not None:
                p.rc, p.complete = int(end.group(1)), True
                pos = end.end()
            else:
                pos = len(data)
        if p.stderr.endswith(b"\n"):
            p.stderr = p.stderr[:-1]
        if body.startswith(mark[1:] + b"HDR "):
            p.frames = decode(body, token)
    keep.append(data[pos:])
    return b"".join(keep)


# ---- v2 -> v1 shape ---------------------------------------------------------------------------
_PARTS = ("fdinfo", "status", "cmdline")


def _from_v2(fr: Frames, raw_root: bytes) -> None:
    """Give a v2 stream's sections v1's shape (see the module docstring). Never raises."""
    try:
        _convert_v2(fr, raw_root)
    except Exception as e:  # a bug here must not lose the snapshot: keep the raw sections
        fr.problems.append(Problem("collector", f"could not read the v2 stream's procfiles/maps: {e!r}"))


def _convert_v2(fr: Frames, root: bytes) -> None:
    link = fr.proc.encode("utf-8", "surrogateescape")
    if not link or b"/" in link:
        fr.problems.append(Problem("collector", "a v2 stream without its proc= path: procfiles left as it is"))
        return
    via = link + b"/"
    procdir = root + b"/proc/"
    new: dict[str, Section] = {}
    for name, sec in fr.sections.items():
        if name == "procfiles":
            for part in _split_procfiles(fr, sec, link, procdir):
                new[part.name] = part
            continue
        if name == "fdlinks":
            # a lone fd directory is listed after the empty "<link>.e" so that ls prints its header
            first = sec.content.find(b"\n")
            if sec.content[:first].endswith(b" " + link + b".e") and sec.content[first:first + 2] == b"\n\n":
                sec.content = sec.content[first + 2:]
        if via in sec.content:
            sec.content = sec.content.replace(via, procdir)
        if via in sec.stderr:
            sec.stderr = sec.stderr.replace(via, procdir)
        new[name] = sec
    maps, smaps = new.get("maps"), new.get("smaps")
    if maps is not None:
        # v2's maps names the maps files with a dma-buf mapping; the mappings themselves are the
        # VMA lines of their smaps groups (printed by the same kernel function), read from there
        maps.form = "names"
        if maps.content.strip() and maps.status in ("ok", "partial") and (smaps is None or smaps.status == "truncated"):
            maps.status = "truncated"
    fr.sections = new


def _split_procfiles(fr: Frames, sec: Section, link: bytes, procdir: bytes) -> list[Section]:
    """procfiles -> fdinfo (kept as head printed it: `form` "head", read by parse/fdinfo_heads.py),
    status and cmdline (their files, `form` "files", read by parse/procfs.py). The collector lists
    every fdinfo path before the first status path, so the fdinfo files are the section up to the
    first other header."""
    data = sec.content
    if sec.status == "truncated":
        data = drop_cut_header(data, link)
    other = _first_other(data, link)
    cut = len(data) if other is None else other
    fdinfo = data[:cut]
    run = b"==> " + link + b".e <==\n"
    if fdinfo.endswith(run):
        fdinfo = fdinfo[:-len(run)]     # the first status file started a head run
    nfd = fdinfo.count(b"==> " + link + b"/")
    if not nfd:
        fdinfo = b""                    # (only a run's empty first file)
    files, probs = split_heads(data[cut:], link) if other is not None else ([], [])
    for msg in probs:
        fr.problems.append(Problem("procfiles", msg))
    st: list[tuple[str, bytes]] = []
    cl: list[tuple[str, bytes]] = []
    st_raw: list[bytes] = []
    cl_raw: list[bytes] = []
    for rel, body in files:
        path = "/proc/" + rel.decode("utf-8", "surrogateescape")
        raw = b"==> " + link + b"/" + rel + b" <==\n" + body
        if rel.endswith(b"/status"):
            st.append((path, body))
            st_raw.append(raw)
        elif rel.endswith(b"/cmdline"):
            cl.append((path, body))
            cl_raw.append(raw)
        else:
            fr.problems.append(Problem("procfiles", "a file after the fdinfo files that is no status or cmdline: "
                                       "skipped", text=rel.decode("utf-8", "backslashreplace")))
    # stderr lines go to the part their path names; others (xargs, a missing head) to every part
    errs: dict[str, list[bytes]] = {k: [] for k in _PARTS}
    other: dict[str, int] = dict.fromkeys(_PARTS, 0)
    who = re.compile(re.escape(link) + rb"/(?:[0-9]+|self)/(fdinfo/|status|cmdline)")
    for line in sec.stderr.split(b"\n"):
        if not line.strip():
            continue
        m = who.search(line)
        text = line.replace(link + b"/", procdir)
        if m:
            errs[m.group(1).rstrip(b"/").decode()].append(text)
        else:
            for k in _PARTS:
                errs[k].append(text)
                other[k] += 1
    parts = []
    for k, content, n, recs in (("fdinfo", fdinfo, nfd, None), ("status", b"\n".join(st_raw), len(st), st),
                                ("cmdline", b"\n".join(cl_raw), len(cl), cl)):
        rc, status = _part_status(k, n, errs[k], other[k], sec, fr.sections.get("fdlinks"))
        parts.append(Section(k, content, b"".join(e + b"\n" for e in errs[k]), rc, status,
                             form="head" if k == "fdinfo" else "files", files=recs))
    return parts


def _first_other(data: bytes, link: bytes) -> int | None:
    """Where the first status or cmdline file's header starts (its "\n==> <link>/PID/status <==\n"),
    or None: the regular expression's first match, found from the ends of such headers with
    bytes.find instead of trying the expression at each of the 40,000 fdinfo headers before it."""
    pat = _other_cache.get(link)
    if pat is None:
        pat = re.compile(re.escape(b"\n==> " + link + b"/") + rb"(?:[0-9]+|self)/(?:status|cmdline) <==\n")
        if len(_other_cache) > 64:
            _other_cache.clear()
        _other_cache[link] = pat
    hdr = b"\n==> " + link + b"/"
    first = None
    for tail in (b"/status <==\n", b"/cmdline <==\n"):
        i = data.find(tail)
        while i >= 0 and (first is None or i < first):
            j = data.rfind(hdr, 0, i)
            if j >= 0:
                m = pat.match(data, j)
                if m is not None and m.end() == i + len(tail):
                    first = j if first is None else min(first, j)
                    break
            i = data.find(tail, i + 1)
    return first


_other_cache: dict[bytes, re.Pattern] = {}


def _part_status(kind: str, nread: int, errs: list[bytes], other: int, sec: Section,
                 fdlinks: Section | None) -> tuple[int | None, str]:
    """A part's rc and status word, by the collector's own rule (`st` in collect.sh) applied to the
    files of that part: ok, partial, denied (nothing read, something refused), missing, error.
    `other`: how many of the lines name no file (they count against every part)."""
    if sec.status == "truncated":
        return None, "truncated"
    rc = sec.rc
    if not errs:
        if nread == 0:
            # nothing to read: fdinfo is as good as the listing it came from; no status or cmdline
            # file means no process directory at all
            if kind != "fdinfo":
                return 2, "missing"
            if fdlinks is not None and fdlinks.status in ("denied", "missing", "error", "skipped"):
                return fdlinks.rc, fdlinks.status
            return 0, "ok"
        return (0, "ok") if rc in (0, 1, 123) else (rc, "error")
    denied = sum(1 for e in errs if e.endswith(b": Permission denied"))
    gone = sum(1 for e in errs if e.endswith(b": No such file or directory"))
    if not other and denied + gone == len(errs) and nread == 0:
        return rc, "denied" if denied else "missing"
    r = 2 if rc == 123 else rc
    return rc, "partial" if r is not None and r <= 2 else "error"


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


def encode(sections: list[Section], token: str, root: str = "", complete: bool = True,
           proc: str | None = None) -> bytes:
    """Build a stream of these sections as the collector would print it (for tests and the
    synthetic generator): v1, or v2 when `proc` (the header's proc= link) is given."""
    mark = "@@" + token
    head = "v=1" if proc is None else f"v=2 proc={proc}"
    parts = [f"{mark} HDR {head} root={root}\n".encode()]
    for s in sections:
        parts.append(f"{mark} BEGIN {s.name}\n".encode())
        parts.append(s.content + b"\n")
        if s.stderr:
            parts.append(f"{mark} STDERR {s.name}\n".encode() + s.stderr + b"\n")
        parts.append(f"{mark} END {s.name} rc={s.rc if s.rc is not None else 0} status={s.status}\n".encode())
    if complete:
        parts.append(f"{mark} DONE\n".encode())
    return b"".join(parts)
