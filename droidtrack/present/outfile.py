"""Writing an output file safely: never onto one of the command's inputs, never half a file.

Every file droidtrack writes for a person (`snapshot -o`, `report -o`, `diff -o`, `export --csv`,
`record --csv`, `check --json` ...) goes through here:

    write_text(path, text, inputs=[...])          "-" writes to standard output
    write_bytes(path, data, inputs=[...])
    with open_output(path, "w", inputs=[...]) as f:   ...   (mode "a" appends, e.g. $GITHUB_STEP_SUMMARY)
    with staged_path(path, inputs=[...]) as tmp:  writer(tmp)   for writers that take a path

* An output path that is the same file as an input (same device and inode: hard links and
  symlinks included) is refused before anything is opened: OutputError, exit code 2.
  `refuse_inputs(path, inputs)` does only that check, so a command can check every output up
  front, before a long collection.
* The data goes to a temporary file in the output's directory, flushed and fsync()ed, then renamed
  over the output: readers see the old file or the new one, and a failed write (disk full, a
  crash, Ctrl-C) leaves the old file as it was and no temporary behind. A symlink is written
  through (its target is replaced, the link stays); a file that existed keeps its permissions.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

STDOUT = "-"


class OutputError(Exception):
    """The output cannot be written (it is an input, or the file system refused). Exit code 2."""
    exit_code = 2


def _ident(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def refuse_inputs(path: str | os.PathLike | None, inputs: Iterable[str | os.PathLike | None] = (),
                  *, what: str = "output") -> None:
    """OutputError if `path` is the same file as one of `inputs` (None and "-" are ignored)."""
    if path is None or str(path) == STDOUT:
        return
    out = _ident(path)
    if out is None:
        return                      # does not exist yet: cannot be an input
    for inp in inputs:
        if inp is None or str(inp) == STDOUT:
            continue
        if _ident(inp) == out:
            same = "" if os.fspath(inp) == os.fspath(path) else f" (the same file as {os.fspath(inp)})"
            raise OutputError(f"refusing to write the {what} {os.fspath(path)}{same}: it is one of this "
                              "command's inputs and would be destroyed; choose another file name")


def refuse_collisions(outputs: Iterable[tuple[str, str | os.PathLike | None]],
                      inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Check several (what, path) outputs against the inputs and against each other."""
    inputs = list(inputs)
    seen: list[tuple[str, str | os.PathLike]] = []
    for what, p in outputs:
        if p is None or str(p) == STDOUT:
            continue
        refuse_inputs(p, inputs, what=what)
        for w2, p2 in seen:
            if os.path.abspath(p2) == os.path.abspath(p) or (_ident(p) is not None and _ident(p) == _ident(p2)):
                raise OutputError(f"the {w2} and the {what} are the same file ({os.fspath(p)}): give them different names")
        seen.append((what, p))


def _final(path: str | os.PathLike) -> Path:
    # write through a symlink (replace its target), as `>` in a shell would
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def _mode_for(final: Path) -> int:
    try:
        return os.stat(final).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def staged_path(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                what: str = "output", append: bool = False) -> Iterator[Path]:
    """A temporary path next to `path`; when the block ends normally it is renamed onto `path`,
    otherwise removed. With append=True the temporary starts as a copy of the existing file."""
    refuse_inputs(path, inputs, what=what)
    final = _final(path)
    parent = final.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name[:64]}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise OutputError(f"cannot write {os.fspath(path)}: {e.strerror or e}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    done = False
    try:
        if append and final.exists():
            with open(final, "rb") as src, open(tmp_path, "wb") as dst:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    dst.write(chunk)
        yield tmp_path
        if not tmp_path.exists():
            raise OutputError(f"nothing was written to {os.fspath(path)}")
        os.chmod(tmp_path, _mode_for(final))
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, final)
        done = True
    except OSError as e:
        raise OutputError(f"cannot write {os.fspath(path)}: {e.strerror or e}") from None
    finally:
        if not done:
            with contextlib.suppress(OSError):
                tmp_path.unlink()


@contextlib.contextmanager
def open_output(path: str | os.PathLike, mode: str = "w", *, inputs: Iterable[str | os.PathLike | None] = (),
                what: str = "output", encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO]:
    """A file object for `path` ("w", "a", "wb", "ab"); "-" is standard output (left open)."""
    if mode not in ("w", "a", "wb", "ab"):
        raise ValueError(f"open_output: mode {mode!r}")
    binary = "b" in mode
    if str(path) == STDOUT:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    with staged_path(path, inputs=inputs, what=what, append=mode.startswith("a")) as tmp:
        kw = {} if binary else {"encoding": encoding, "newline": newline}
        with open(tmp, "ab" if binary else "a", **kw) as f:
            yield f


def write_text(path: str | os.PathLike, text: str, *, inputs: Iterable[str | os.PathLike | None] = (),
               what: str = "output", encoding: str = "utf-8", newline: str | None = None) -> None:
    with open_output(path, "w", inputs=inputs, what=what, encoding=encoding, newline=newline) as f:
        f.write(text)


def write_bytes(path: str | os.PathLike, data: bytes, *, inputs: Iterable[str | os.PathLike | None] = (),
                what: str = "output") -> None:
    with open_output(path, "wb", inputs=inputs, what=what) as f:
        f.write(data)
