"""pytest plugin: snapshot the device before and after a test (or the whole session) and fail the
test when a dma-buf budget is exceeded or a buffer leaks. Off unless enabled.

Enable it with `-p droidtrack.ci.pytest_plugin`, or, when droidtrack is installed (its `pytest11`
entry point), with `--droidtrack`. Then:

    pytest --droidtrack --droidtrack-budget budgets.yaml          tests marked/using the fixture
    pytest --droidtrack --droidtrack-scope all                    every test
    pytest --droidtrack --droidtrack-scope session                once around the whole session
    pytest --droidtrack --droidtrack-serial emulator-5554         (default: $ANDROID_SERIAL)
    pytest --droidtrack --droidtrack-args "--root fixtures/x"     any source options of `droidtrack check`
    pytest --droidtrack --droidtrack-args --demo                  one word works too (as does
                                                                  --droidtrack-args=--demo)

In a test:

    @pytest.mark.droidtrack                     # or: @pytest.mark.droidtrack(budget="camera.yaml")
    def test_open_camera(d):                    # a uiautomator2 / Appium session as usual
        ...

    def test_preview(droidtrack):               # the fixture: .before, .snapshot(), .serial
        ...

The budget file is `droidtrack check`'s (docs/ci.md); growth budgets compare after with before,
and leak gates look at [before, after]. Without a budget file the default is
`leaks: {max_suspects: 0, min_bytes: 1MiB}`: no buffer of 1 MiB or more created by the test may
outlive it, and none may be orphaned. Same options as ini keys: droidtrack_budget,
droidtrack_scope, droidtrack_args.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading

import pytest

DEFAULT_BUDGET = "version: 1\nleaks: {max_suspects: 0, min_bytes: 1MiB, min_confidence: 0.5}\n"
SCOPES = ("marked", "all", "session")

_via_entry_point = False      # set when only the pytest11 entry point loaded us: stay off without --droidtrack


class _EntryPoint:
    """What the `pytest11` entry point loads. It registers this module (once) so that the entry point
    and `-p droidtrack.ci.pytest_plugin` can both be used without registering the hooks twice."""

    @staticmethod
    def pytest_addoption(parser, pluginmanager):
        global _via_entry_point
        mod = sys.modules[__name__]
        if pluginmanager.get_plugin(__name__) is None and not pluginmanager.is_registered(mod):
            _via_entry_point = True
            pluginmanager.register(mod, __name__)


entry = _EntryPoint()


ARGS_FLAG = "--droidtrack-args"


def _take_next_word_as_value(parser, flag: str) -> None:
    """argparse reads a word that starts with '-' and holds no space ("--demo", "--su=never") as an
    option of its own, so `--droidtrack-args --demo` failed with "expected one argument". Make the
    word right after `flag` its value, whatever it looks like (as `flag=--demo` already was).
    Uses pytest's Parser._getparser and argparse's _parse_optional; if either is missing (another
    pytest or Python), the space form of a multi-word value and the `=` form still work."""
    make = getattr(parser, "_getparser", None)
    if make is None or getattr(make, "_droidtrack_value_after", None) == flag:
        return

    def getparser():
        optparser = make()
        orig = getattr(optparser, "_parse_optional", None)
        if orig is None:
            return optparser
        prev: list[str | None] = [None]

        def parse_optional(arg_string):
            was, prev[0] = prev[0], arg_string
            if was == flag:
                return None          # a positional word: the flag's value
            return orig(arg_string)
        optparser._parse_optional = parse_optional
        return optparser
    getparser._droidtrack_value_after = flag
    parser._getparser = getparser


def pytest_addoption(parser):
    _take_next_word_as_value(parser, ARGS_FLAG)
    g = parser.getgroup("droidtrack", "dma-buf budgets and leak checks around tests (droidtrack)")
    g.addoption("--droidtrack", action="store_true", default=False,
                help="enable droidtrack's before/after snapshots (implied by -p droidtrack.ci.pytest_plugin)")
    g.addoption("--droidtrack-budget", metavar="YAML", default=None,
                help="budget file (droidtrack check's format); default: fail on leaked buffers >= 1 MiB")
    g.addoption("--droidtrack-scope", choices=SCOPES, default=None,
                help="marked: tests marked droidtrack or using the fixture (default); all: every test; "
                     "session: one snapshot before the first test and one after the last")
    g.addoption("--droidtrack-serial", metavar="SERIAL", default=None,
                help="the device (default: $ANDROID_SERIAL, else the only device)")
    g.addoption(ARGS_FLAG, metavar="ARGS", default=None,
                help='source options as for `droidtrack check`, one shell-quoted word: "--root DIR", '
                     '--demo, "-H host -P port" (or --droidtrack-args=--demo)')
    parser.addini("droidtrack_budget", "droidtrack budget file", default=None)
    parser.addini("droidtrack_scope", "droidtrack scope: marked, all or session", default=None)
    parser.addini("droidtrack_args", "droidtrack source options", default=None)


def _enabled(config) -> bool:
    return bool(config.getoption("droidtrack")) or not _via_entry_point


def pytest_configure(config):
    config.addinivalue_line("markers", "droidtrack(budget=None): check dma-buf budgets and leaks around "
                                       "this test (droidtrack)")
    if not _enabled(config):
        return
    config.pluginmanager.register(DroidtrackSession(config), "droidtrack-session")


class DroidtrackSession:
    def __init__(self, config):
        self.config = config
        self.scope = config.getoption("droidtrack_scope") or config.getini("droidtrack_scope") or "marked"
        if self.scope not in SCOPES:
            raise pytest.UsageError(f"droidtrack_scope {self.scope!r}: choose one of {', '.join(SCOPES)}")
        self.budget_path = config.getoption("droidtrack_budget") or config.getini("droidtrack_budget") or None
        extra = config.getoption("droidtrack_args") or config.getini("droidtrack_args") or ""
        self.serial = config.getoption("droidtrack_serial")
        self._src = None
        self._lock = threading.Lock()
        self._budgets: dict[str | None, object] = {}
        self.session_before = None
        self.session_report = None
        p = argparse.ArgumentParser(prog="--droidtrack-args", add_help=False)
        from droidtrack.sources import add_source_arguments
        add_source_arguments(p)
        try:
            self.args = p.parse_args(shlex.split(extra))
        except SystemExit:
            raise pytest.UsageError(f"--droidtrack-args {extra!r}: not valid droidtrack source options") from None
        if self.serial:
            self.args.serial = self.serial
        from droidtrack.model.tags import RulesError, load_rules
        try:
            self.rules = load_rules(getattr(self.args, "rules", None))
        except RulesError as e:
            raise pytest.UsageError(f"droidtrack: {e}") from None
        # the session's budget file is read now: a typo stops the run before any test (exit 4)
        from droidtrack.ci.budget_file import BudgetError
        try:
            self.budgets(self.budget_path)
        except BudgetError as e:
            raise pytest.UsageError(f"droidtrack: {e}") from None

    # ---- measuring ----
    def budgets(self, path: str | None):
        from droidtrack.ci.budget_file import load_budgets, parse_budgets
        if path not in self._budgets:
            self._budgets[path] = load_budgets(path) if path else parse_budgets(DEFAULT_BUDGET, "default")
        return self._budgets[path]

    def source(self):
        from droidtrack.sources import source_from_args
        if self._src is None:
            self._src = source_from_args(self.args)
        return self._src

    def snapshot(self):
        from droidtrack.sources import SourceError
        with self._lock:
            try:
                return self.source().collect().snapshot
            except SourceError as e:
                raise MeasureError(str(e)) from None

    def evaluate(self, before, after, budget_path):
        from droidtrack.ci.budgets import evaluate
        return evaluate(self.budgets(budget_path), [after], baseline=before, rules=self.rules,
                        label=after.device.serial or after.origin)

    # ---- hooks ----
    def _wants(self, item) -> bool:
        if self.scope == "session":
            return False
        return self.scope == "all" or item.get_closest_marker("droidtrack") is not None \
            or "droidtrack" in getattr(item, "fixturenames", ())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        if not self._wants(item):
            return (yield)
        m = item.get_closest_marker("droidtrack")
        budget = (m.kwargs.get("budget") if m else None) or self.budget_path
        try:
            before = item._droidtrack_before if hasattr(item, "_droidtrack_before") else self.snapshot()
        except MeasureError as e:
            pytest.fail(f"droidtrack could not measure before the test: {e}", pytrace=False)
        res = yield                       # the test body; its own failure propagates untouched
        try:
            after = self.snapshot()
        except MeasureError as e:
            pytest.fail(f"droidtrack could not measure after the test: {e}", pytrace=False)
        from droidtrack.ci.budget_file import BudgetError
        try:
            rep = self.evaluate(before, after, budget)
        except BudgetError as e:
            pytest.fail(f"droidtrack: {e}", pytrace=False)
        item._droidtrack_report = rep
        for r in rep.results:
            item.user_properties.append((f"droidtrack {r.budget.id}", f"{r.status} {r.measured}/{r.allowed}"))
        if rep.exit_code:
            pytest.fail(_explain(rep), pytrace=False)
        return res

    def pytest_runtestloop(self, session):
        if self.scope == "session" and session.testscollected and not session.config.option.collectonly:
            try:
                self.session_before = self.snapshot()
            except MeasureError as e:
                raise pytest.UsageError(f"droidtrack could not measure before the session: {e}") from None

    def pytest_sessionfinish(self, session, exitstatus):
        if self.session_before is not None:
            try:
                after = self.snapshot()
                self.session_report = self.evaluate(self.session_before, after, self.budget_path)
            except MeasureError as e:
                self.session_report = e
            bad = isinstance(self.session_report, MeasureError) or self.session_report.exit_code
            if bad and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self._src is not None:
            self._src.close()
            self._src = None

    def pytest_terminal_summary(self, terminalreporter):
        rep = self.session_report
        if rep is None:
            return
        terminalreporter.section("droidtrack (whole session)")
        if isinstance(rep, MeasureError):
            terminalreporter.write_line(f"FAILED: droidtrack could not measure after the session: {rep}")
        elif rep.exit_code:
            terminalreporter.write_line("FAILED: " + _explain(rep))
        else:
            terminalreporter.write_line(f"within budget ({len(rep.results)} budget(s))")


class MeasureError(Exception):
    pass


def _explain(rep) -> str:
    from droidtrack.model.units import human_size
    from droidtrack.present.text import safe
    lines = [f"droidtrack: {safe(rep.label)}:"]
    if rep.unmeasurable:
        lines.append(f"  {safe(rep.unmeasurable)}")
    for r in rep.failed:
        if r.budget.scope == "leaks":
            lines.append(f"  {r.budget.id}: {r.measured} suspect(s), {r.allowed} allowed: {safe(r.detail)}")
        else:
            lines.append(f"  {r.budget.id}: {human_size(r.measured)} > {human_size(r.allowed)} ({safe(r.detail)})")
    return "\n".join(lines)


@pytest.fixture
def droidtrack(request):
    """Before/after dma-buf snapshots around this test. `.before` is the snapshot taken before the
    test body, `.snapshot()` takes one now, `.serial` is the device's serial. The budgets are checked
    after the test body (the test fails if one is exceeded)."""
    plugin = request.config.pluginmanager.get_plugin("droidtrack-session")
    if plugin is None:
        pytest.skip("droidtrack is not enabled (pass --droidtrack or -p droidtrack.ci.pytest_plugin)")
    try:
        before = plugin.snapshot()
    except MeasureError as e:
        pytest.fail(f"droidtrack could not measure before the test: {e}", pytrace=False)
    request.node._droidtrack_before = before
    yield _Handle(plugin, before)


class _Handle:
    def __init__(self, plugin, before):
        self._plugin = plugin
        self.before = before
        self.serial = before.device.serial or os.environ.get("ANDROID_SERIAL")

    def snapshot(self):
        return self._plugin.snapshot()
