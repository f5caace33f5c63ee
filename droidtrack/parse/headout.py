"""`head` over many files (collector stream v2, section `procfiles`): split it back into files.

`head -n N F1 F2 …` prints every file whole after a header line "==> F <==", and one newline
before each header but its run's first. The collector hands head the paths through a symbolic
link whose name holds the run's random token (`link`, e.g. ".droidtrack.123.<token>"), so every
header it means is "==> <link>/<path> <==" and, since no file can hold the token, every
occurrence of "==> <link>" is such a header, wherever it stands (after a file whose last line has
no newline it follows that line directly). A file's content can spell any other header line; it
stays content.

xargs may start several head runs over one list. Each is given the empty file "<link>.e" first,
so that head always prints headers (it prints none for a single file) and so that a run's start
is known: the byte before a header is head's separating newline unless the header is
"<link>.e"'s, the first of a run. So every file's bytes come back exactly.

Only byte operations (find, slices): 44,000 files split in a few milliseconds.
"""
from __future__ import annotations

SEP = b" <==\n"


def split_heads(data: bytes, link: bytes) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """[(path after "<link>/", content)] in order, and problems (text outside any file, a header
    cut short). The runs' "<link>.e" files are left out.

    Split at "\n==> <link>/": that takes head's newline before a header with it. A run starts
    with "==> <link>.e <==\n" without that newline, right after the last file of the run before
    (or at the start): it is cut off the end of that file's piece.
    """
    problems: list[str] = []
    run = b"==> " + link + b".e" + SEP
    pieces = data.split(b"\n==> " + link + b"/")
    head = pieces[0]
    if head.startswith(run):
        head = head[len(run):]
    if head.strip():
        problems.append(f"{len(head)} bytes before the first file header were ignored")
    files: list[tuple[bytes, bytes]] = []
    append = files.append
    for i in range(1, len(pieces)):
        path, sep, body = pieces[i].partition(SEP)
        if not sep or b"\n" in path:
            problems.append("a file header cut short: the file was left out")
            continue
        if body.endswith(run):
            body = body[:-len(run)]
        append((path, body))
    return files, problems


def drop_cut_header(data: bytes, link: bytes) -> bytes:
    """`data` without the start of a header a cut stream ends with ("\n==> .drói", or a run's
    "==> <link>.e <" without its newline): for a section that did not arrive whole, where a
    file's last bytes cannot be told from the start of the next header."""
    best = 0
    for marker in (b"\n==> " + link + b"/", b"==> " + link + b".e" + SEP):
        for k in range(min(len(marker) - 1, len(data)), best, -1):
            if data.endswith(marker[:k]):
                best = k
                break
    return data[:len(data) - best] if best else data


def as_grep_lines(data: bytes, link: bytes, procdir: bytes) -> bytes:
    """head's output as `grep -H ''` would have printed the same files: every line with the
    file's path (procdir + path below the link) and ':' before it (for tools and tests that read
    v1's shape; the parsers read head's output itself)."""
    out = []
    for rel, body in split_heads(data, link)[0]:
        if not body:
            continue
        pre = procdir + rel + b":"
        t = pre + body.replace(b"\n", b"\n" + pre)
        out.append(t[:-len(pre)] if body.endswith(b"\n") else t + b"\n")
    return b"".join(out)
