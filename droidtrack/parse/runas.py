"""What `run-as PKG ...` printed on stderr when the collector's run-as pass did not run (or ran
and complained): AOSP's run-as (system/core/run-as) reports every refusal through error(3), one
line "run-as: <why>[: <package>]", and exits 1. Recognised:

    run-as: unknown package: PKG                   not installed (for that Android user)
    run-as: package not debuggable: PKG            a release build of the app
    run-as: package not an application: PKG        a system uid below 10000
    run-as: package has corrupt installation: PKG
    run-as: only 'shell' or 'root' users can run this program
    run-as: run-as is disabled from the kernel commandline
    run-as: couldn't chdir to package's data directory '...'  (and other "couldn't ..." lines)
    sh: run-as: not found / inaccessible or not found          no run-as on the device

`read(text, package)` -> a RunAsOutcome; never raises, never reads a refusal as data: text that
matches none of these is kept whole (shortened) as the outcome's message, kind "error".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from droidtrack.model.problems import ParseResult
from droidtrack.parse._lines import guard

KINDS = ("unknown-package", "not-debuggable", "not-an-application", "corrupt-installation", "not-allowed",
         "disabled", "no-data-dir", "no-run-as", "error")

_REFUSALS = (
    (re.compile(r"run-as: unknown package: (.*)$"), "unknown-package", "is not installed"),
    (re.compile(r"run-as: package not debuggable: (.*)$"), "not-debuggable",
     "is not debuggable (a release build): run-as refuses it"),
    (re.compile(r"run-as: package not an application: (.*)$"), "not-an-application",
     "is not an application (a system uid): run-as refuses it"),
    (re.compile(r"run-as: package has corrupt installation: (.*)$"), "corrupt-installation",
     "has a corrupt installation: run-as refuses it"),
    (re.compile(r"run-as: only 'shell' or 'root' users can run this program"), "not-allowed",
     "cannot be entered: run-as runs for shell or root only"),
    (re.compile(r"run-as: run-as is disabled from the kernel commandline"), "disabled",
     "cannot be entered: run-as is disabled on this device (ro.boot.disable_runas)"),
    (re.compile(r"run-as: couldn't chdir to package's data directory"), "no-data-dir",
     "has no data directory run-as could enter"),
    (re.compile(r"run-as: (?:inaccessible or )?not found$|run-as: (?:command )?not found|"
                r"can't execute 'run-as'|run-as: No such file or directory$"), "no-run-as",
     "cannot be entered: this device has no run-as"),
)


@dataclass(frozen=True, slots=True)
class RunAsOutcome:
    kind: str            # one of KINDS, or "ok" (no refusal on stderr)
    message: str         # for a person: "com.foo is not debuggable (a release build): ..."
    text: str = ""       # the stderr line it was read from (shortened)


def read(text: str, package: str) -> RunAsOutcome:
    res = guard("run-as", _read, text, package)
    if res.problems or not res.records:      # guard's internal error: say it, read nothing from it
        return RunAsOutcome("error", f"{package}: run-as's answer could not be read", text[:200])
    return res.records[0]


def _read(text: str, package: str):
    lines = [l.strip() for l in text.replace("\r", "\n").split("\n") if l.strip()]
    for line in lines[:50]:
        for rx, kind, why in _REFUSALS:
            if rx.search(line):
                return ParseResult([RunAsOutcome(kind, f"{package} {why}", line[:200])], [])
    if not lines:
        return ParseResult([RunAsOutcome("ok", "")], [])
    first = lines[0][:200]
    return ParseResult([RunAsOutcome("error", f"{package}: run-as said: {first}", first)], [])
