"""pytest: a test's dma-buf peak (dmabuf_rss_hwm, Android 15+ kernels), also on user builds.

Enable with `-p droidtrack.ci.peak_plugin`. The `dmabuf_peak` fixture resets every high-water
mark the reader may write before the test and reads them after it; with run-as for the apps
named (a debuggable app's own processes on a user build):

    @pytest.mark.dmabuf_peak(package="com.example.camera", max="64MiB")
    def test_preview(dmabuf_peak):
        ...                              # dmabuf_peak.peaks after the test: {pid: bytes}

The device: $ANDROID_SERIAL, the adb server at $ANDROID_ADB_SERVER_ADDRESS/PORT (else
localhost:5037). With `max`, the test fails when one process's peak is above it. The peak is
recorded as the test's `dmabuf_peak` user property (the JUnit XML carries it). A kernel without
dmabuf_rss_hwm, or a refused run-as, makes the fixture skip the gate and say why.
"""
from __future__ import annotations

import os

import pytest

from droidtrack.ci.budget_file import parse_size
from droidtrack.ci.peak import Peak, PeakError
from droidtrack.model.units import human_size
from droidtrack.sources.adb_wire import AdbTarget


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "dmabuf_peak(package=None, max=None): reset dmabuf_rss_hwm before the "
                                       "test, read it after; fail above max (bytes or 64MiB)")


def _target() -> AdbTarget:
    port = os.environ.get("ANDROID_ADB_SERVER_PORT", "")
    return AdbTarget(serial=os.environ.get("ANDROID_SERIAL") or None,
                     host=os.environ.get("ANDROID_ADB_SERVER_ADDRESS") or "127.0.0.1",
                     port=int(port) if port.isdigit() else 5037, start_server=False)


class _Peak:
    def __init__(self, peak: Peak, limit: int | None) -> None:
        self.peak = peak
        self.limit = limit
        self.reset_count = 0
        self.peaks: dict[int, int] = {}


@pytest.fixture
def dmabuf_peak(request):
    mark = request.node.get_closest_marker("dmabuf_peak")
    kw = dict(mark.kwargs) if mark is not None else {}
    pkgs = kw.get("package") or ()
    pkgs = (pkgs,) if isinstance(pkgs, str) else tuple(pkgs)
    limit = None
    if kw.get("max") is not None:
        try:
            limit = parse_size(kw["max"])
        except ValueError as e:
            pytest.fail(f"dmabuf_peak(max=...): {e}", pytrace=False)
    p = _Peak(Peak(_target(), packages=pkgs), limit)
    try:
        p.reset_count = p.peak.reset()
    except PeakError as e:
        pytest.skip(f"dmabuf_peak: {e}")
    yield p
    try:
        p.peaks = p.peak.read()
    except PeakError as e:
        pytest.fail(f"dmabuf_peak: could not read the peak after the test: {e}", pytrace=False)
    top = max(p.peaks.values(), default=0)
    request.node.user_properties.append(("dmabuf_peak", top))
    if p.limit is not None:
        if not p.reset_count:
            request.node.user_properties.append(("dmabuf_peak_note", "; ".join(p.peak.notes)))
            return
        over = {pid: v for pid, v in p.peaks.items() if v > p.limit}
        if over:
            pid, v = max(over.items(), key=lambda kv: kv[1])
            pytest.fail(f"dmabuf peak of pid {pid}: {human_size(v)}, above the {human_size(p.limit)} allowed "
                        f"({v} > {p.limit} bytes)", pytrace=False)
