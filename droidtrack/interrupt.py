"""Ctrl-C for the command line: exit 130 with one line, at any moment.

Python's own SIGINT handler raises `KeyboardInterrupt`. When that exact type leaves code run by
`exec()` or `eval()` of a string, CPython notes an "unhandled" interrupt and, however the program
then catches it, ends the process at exit by re-raising SIGINT on itself (exit status -2, not
130). Every `@dataclass` and `namedtuple` runs such code while its module is imported, so a Ctrl-C
during droidtrack's first second of imports hit that often (rc -2 after printing "interrupted").

The command line therefore installs `on_sigint`, which raises `Interrupted`: a subclass, so every
`except KeyboardInterrupt` still catches it, but not the exact type CPython looks for.
"""
from __future__ import annotations

import signal
import threading


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) while droidtrack's command line runs."""


def on_sigint(signum, frame):  # noqa: ARG001
    raise Interrupted()


def install():
    """Make SIGINT raise `Interrupted` where it would raise KeyboardInterrupt (main thread, Python's
    default handler: an ignored SIGINT, as background jobs of a script have, stays ignored).
    Returns the handler it replaced, for `restore`, or None when it left signals alone."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None
    return signal.signal(signal.SIGINT, on_sigint)


def restore(previous) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGINT, previous)
        except (ValueError, OSError, TypeError):
            pass
