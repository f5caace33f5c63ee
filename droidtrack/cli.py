"""droidtrack's command line: parse arguments, hand them to a command module, map errors to exit codes.

Commands live in droidtrack/commands/<name>.py, each with `register(subparsers)`; the subparser
sets `func=run`. Exit codes (an interface): 0 ok, 1 a check failed, 2 could not measure / bad
input, 130 interrupted. No traceback reaches the user unless DROIDTRACK_DEBUG=1.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys

from droidtrack import __version__, interrupt

# the order `droidtrack --help` lists them in; modules not named here follow alphabetically
_ORDER = ("demo", "snapshot", "top", "trace", "devices", "analyze", "record", "check", "diff", "report", "export", "clean")

EPILOG = """\
start here:
  droidtrack demo                       a simulated phone with a leaking camera app, no device needed
  droidtrack snapshot                   every dma-buf on the connected device, per process
  droidtrack snapshot --root fixtures/a13-5.15 --format json
  droidtrack top                        live view; keys: ? help, / filter, Enter drill down
  droidtrack analyze bufinfo.txt        what a pasted bufinfo / dmabuf_dump / meminfo says

exit codes: 0 ok, 1 a budget or check failed, 2 could not measure (no device, bad input), 130 interrupted
"""


def _command_modules():
    import droidtrack.commands as pkg
    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))
    for n in names:
        yield n, importlib.import_module(f"droidtrack.commands.{n}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="droidtrack",
        description="Where an Android device's shared graphics, camera and media memory goes: every "
                    "dma-buf (and ION/GPU buffer) accounted per process, with what no kernel counter shows.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"droidtrack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in _command_modules():
        reg = getattr(mod, "register", None)
        if reg is not None:
            reg(sub)
    return parser


def _terminate(signum, frame):  # noqa: ARG001
    # SIGTERM (a CI job's timeout, a farm's kill): unwind like Ctrl-C so that cleanups run,
    # e.g. a device droidtrack rooted is unrooted and temporary servers stop
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C is exit 130 from the first instant: loading the command modules (build_parser) takes
    # about a second, and an interrupt there used to end in a traceback, or in death by SIGINT
    # (rc -2) when it landed in a dataclass being defined (droidtrack/interrupt.py says why)
    previous = interrupt.install()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        interrupt.restore(previous)


def _main(argv: list[str] | None) -> int:
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:   # not the main thread (embedded use): leave signals alone
        pass
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `droidtrack snapshot | head`: the reader left; that is not an error
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as e:  # the last line of defence: say what happened, in one line
        if os.environ.get("DROIDTRACK_DEBUG"):
            raise
        code = getattr(e, "exit_code", None)
        msg = str(e) or e.__class__.__name__
        if code is None:
            print(f"droidtrack: internal error: {e.__class__.__name__}: {msg}\n"
                  "  (run with DROIDTRACK_DEBUG=1 for a traceback, and please report it)", file=sys.stderr)
            return 2
        print(f"droidtrack: {msg}", file=sys.stderr)
        return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
