"""check --package: budgets measured on the app's processes (ci/budgets.py with `packages`,
account.package_group), on model snapshots without a device."""
from __future__ import annotations

import dataclasses

import dtfactory as f
from dtfactory import MiB
from droidtrack.ci.budget_file import parse_budgets
from droidtrack.ci.budgets import evaluate, report_to_dict
from droidtrack.model import Process
from droidtrack.model.account import account, package_group

APP = "com.example.camera"
BUDGETS = "version: 1\ntotal: 20MiB\ntags: {camera: 9MiB, gl: 1MiB}\nexporters: {'sys*': 30MiB}\n"


def _procs(**changes):
    procs = dict(f.PROCS)
    # the app's service and isolated processes are the app's; another app with a longer name is not
    procs[1300] = Process(1300, "camera:remote", (f"{APP}:remote",), uid=10123, fds_readable=True, maps_readable=True)
    procs[1400] = Process(1400, "camera:iso", (f"{APP}:isolated0",), uid=99001, fds_readable=True, maps_readable=True)
    procs[1500] = Process(1500, "camera2", (f"{APP}2",), uid=10124, fds_readable=True, maps_readable=True)
    for pid, kw in changes.items():
        procs[int(pid[1:])] = dataclasses.replace(procs[int(pid[1:])], **kw)
    return procs


def _snap(**changes):
    bufs = [f.buf(1, 8 * MiB, "camera", holders={1234: f.mapped(5), 500: f.fd(9)}),   # the app and SF
            f.buf(2, 2 * MiB, "camera", holders={1234: f.fd(6), 1300: f.fd(3)}),    # shared inside the app: once
            f.buf(3, 1 * MiB, "gl", exporter="qcom,system", holders={1400: f.fd(4)}),
            f.buf(4, 16 * MiB, "camera", holders={1500: f.fd(4)}),                  # the other app
            f.buf(5, 32 * MiB, "gl", holders={500: f.fd(10)})]                      # SurfaceFlinger's own
    return f.snap(bufs, procs=_procs(**changes))


def test_package_group_is_the_apps_processes_each_buffer_once():
    s = _snap()
    g = package_group(s, account(s), (APP,))
    assert g.pids == (1234, 1300, 1400)
    assert (g.rss, g.buffers) == (11 * MiB, 3)
    assert g.by_tag == {"camera": 10 * MiB, "gl": 1 * MiB}
    assert g.by_exporter == {"qcom,system": 1 * MiB, "system": 10 * MiB}
    assert package_group(s, account(s), ("com.absent",)).pids == ()


def test_budgets_measure_the_app_with_packages_and_the_device_without():
    bf = parse_budgets(BUDGETS, "b.yaml")
    s = _snap()
    whole = {r.name: r.measured for r in evaluate(bf, [s]).results}
    assert whole == {"total": 59 * MiB, "tag camera": 26 * MiB, "tag gl": 33 * MiB, "exporter sys*": 58 * MiB}
    rep = evaluate(bf, [s], packages=(APP,))
    got = {r.name: (r.measured, r.status) for r in rep.results}
    assert got == {"total": (11 * MiB, "pass"), "tag camera": (10 * MiB, "fail"), "tag gl": (1 * MiB, "pass"),
                   "exporter sys*": (10 * MiB, "pass")}      # 'sys*' is not qcom,system
    assert rep.warnings == [] and rep.exit_code == 1
    d = report_to_dict(rep)
    assert d["packages"] == [APP] and d["measured_for"] == f"budgets measured for {APP}"
    assert "3 process(es) of com.example.camera" in d["results"][0]["detail"]


def test_growth_of_the_app_against_a_baseline():
    bf = parse_budgets("version: 1\ngrowth: {total: 1MiB}\n", "b.yaml")
    before = f.snap([f.buf(1, 8 * MiB, "camera", holders={1234: f.fd(5)})], procs=_procs())
    after = _snap()
    (r,) = evaluate(bf, [after], baseline=before, packages=(APP,)).results
    assert (r.measured, r.status) == (3 * MiB, "fail")


def test_an_app_not_read_exactly_warns_and_fails_under_strict():
    bf = parse_budgets(BUDGETS.replace("9MiB", "64MiB"), "b.yaml")
    s = _snap(p1300=dict(fds_readable=False, maps_readable=False))
    rep = evaluate(bf, [s], packages=(APP,))
    assert not rep.failed and rep.exit_code == 0
    (w,) = rep.warnings
    assert w.startswith(f"--package {APP}: 1 of its processes could not be read exactly")
    assert "pid 1300, unknown" in w
    rep.strict = True
    assert rep.exit_code == 1 and rep.verdict == "1 warning(s) under --strict"


def test_an_app_with_no_process_says_its_budgets_measure_0():
    bf = parse_budgets(BUDGETS, "b.yaml")
    rep = evaluate(bf, [_snap()], packages=("com.absent",))
    assert all(r.measured == 0 for r in rep.results)
    assert rep.warnings[0] == ("--package com.absent has no running process in 1 of 1 measured snapshot(s): "
                               "its budgets measure 0 there")


def test_a_process_budget_on_an_unread_app_is_not_a_silent_0():
    """A user build without --package: the app's fds are unreadable, its budget measures 0 B."""
    bf = parse_budgets(f"version: 1\nprocesses: {{'{APP}': 1MiB}}\n", "b.yaml")
    s = f.snap([f.buf(1, 8 * MiB, "camera", holders={500: f.fd(9)})],
               procs=_procs(p1234=dict(fds_readable=False, maps_readable=False)))
    rep = evaluate(bf, [s])
    assert rep.results[0].status == "pass"
    assert any("matches 1 process(es) whose fds could not be read (com.example.camera (pid 1234))" in w
               for w in rep.warnings), rep.warnings


def test_no_readable_process_is_said():
    bf = parse_budgets("version: 1\ntotal: 1MiB\n", "b.yaml")
    unread = {pid: dataclasses.replace(p, fds_readable=False, maps_readable=False) for pid, p in _procs().items()}
    rep = evaluate(bf, [f.snap([f.buf(1, 8 * MiB, "camera")], procs=unread)])
    assert rep.warnings[-1].startswith(f"no process's fds could be read (0 of {len(unread)}; a user build?)")
    rep = evaluate(bf, [_snap()])
    assert rep.warnings == []
