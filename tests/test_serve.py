"""`droidtrack serve`: the metrics it exposes, a real Prometheus scraping it, devices that go away.

The Prometheus tests run Debian's `prometheus` binary (apt-get install prometheus) with a temporary
config and TSDB, scraping `serve` over 127.0.0.1, and read the series back over its HTTP API."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import dtfactory as F
from procs import Logged
from device.conftest import *  # noqa: F401,F403  (fixtures)
from droidtrack.double import Fault, free_port
from droidtrack.model import Process
from droidtrack.model.account import account
from droidtrack.present.prometheus import Board, device_rows, label
from droidtrack.present.text import safe
from droidtrack.sim.synth import DeviceTree

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason="needs the Prometheus server: "
                                      "apt-get install prometheus")

HOSTILE = ['evil"} droidtrack_up{serial="x"} 1\n# HELP', "back\\slash\\", "tab\there\rcr",
           "\u202egnp.exe", "=HYPERLINK(\"http://x\")", "bad\udcffutf8", "x" * 5000]


def families(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        out.setdefault(fam.name, []).extend(fam.samples)
    return out


def hostile_snapshot():
    procs = dict(F.PROCS)
    holders = {}
    bufs = []
    for i, name in enumerate(HOSTILE):
        pid = 2000 + i
        procs[pid] = Process(pid, name[:15], (name,), uid=10100 + i, fds_readable=True, maps_readable=True)
        bufs.append(F.buf(100 + i, (i + 1) << 20, tag="camera", exporter=name, holders={pid: F.fd(3)}))
    bufs.append(F.buf(99, 8 << 20, tag="gl", holders={500: F.mapped(4), 1234: F.fd(5)}))
    holders.clear()
    return F.snap(bufs, procs=procs, serial='ser"ial\n1')


# ---- the exposition itself (no device) -----------------------------------------------------------

def test_hostile_label_values_are_escaped_and_read_back_as_safe_text():
    s = hostile_snapshot()
    acc = account(s)
    board = Board()
    board.update(("srv", "x"), s.device.serial, "srv", device_rows(s, acc, top=50, coverage=1.0), 0.5)
    text = generate_latest(board.registry()).decode("utf-8")
    fams = families(text)                              # the official parser accepts every line
    ups = fams["droidtrack_up"]
    assert len(ups) == 1 and ups[0].labels == {"serial": safe('ser"ial\n1')} and ups[0].value == 1
    procs = {smp.labels["process"] for smp in fams["droidtrack_process_bytes"]}
    for name in HOSTILE:
        assert label(name) in procs
        assert all("\n" not in p and "\u202e" not in p for p in procs)
    assert max(len(p) for p in procs) <= 200
    exporters = {smp.labels["exporter"]: smp.value for smp in fams["droidtrack_exporter_bytes"]}
    assert exporters[label(HOSTILE[0])] == 1 << 20
    # the forged series in a name did not become a series
    assert {smp.labels["serial"] for smp in ups} == {safe('ser"ial\n1')}


def test_sums_are_accounts_and_cardinality_is_bounded():
    s = hostile_snapshot()
    acc = account(s)
    rows = device_rows(s, acc, top=3, coverage=0.5)
    by = {}
    for (pid, proc, pkg, m), v in rows.processes:
        by.setdefault(m, []).append((pid, proc, v))
    assert {m: len(v) for m, v in by.items()} == {"rss": 4, "pss": 4, "fd_only": 4}   # 3 + other
    assert sum(v for _, _, v in by["pss"]) == acc.totals.sum_pss
    assert sum(v for _, _, v in by["rss"]) == acc.totals.sum_rss
    assert by["pss"][-1][1] == "other"
    kinds = dict((k[0], v) for k, v in rows.dmabuf)
    t = acc.totals
    assert kinds == {"total": t.bytes, "userspace": t.userspace, "kernel_only": t.kernel_only,
                     "unattributed": t.unattributed, "fd_only": t.fd_only, "mapped": t.mapped}
    assert dict((k[0], v) for k, v in rows.tags) == t.by_tag


def test_a_failed_device_keeps_only_up_zero_and_counts_the_failure():
    s = F.snap([F.buf(1, 4096, holders={500: F.fd(3)})])
    board = Board()
    key = ("srv", "A")
    board.update(key, "A", "srv", device_rows(s, account(s)), 0.1)
    board.failed(key, "A", "srv", "offline", 0.2)
    fams = families(generate_latest(board.registry()).decode())
    assert [x.value for x in fams["droidtrack_up"]] == [0]
    assert [x.value for x in fams["droidtrack_collect_failures"] if x.name.endswith("_total")] == [1]
    assert "droidtrack_dmabuf_bytes" not in fams or not fams["droidtrack_dmabuf_bytes"]


# ---- the exporter process ------------------------------------------------------------------------

class Served(Logged):
    def __init__(self, args: list[str], tmp: Path) -> None:
        self.port = free_port()
        super().__init__([sys.executable, "-m", "droidtrack", "serve", "--listen", f"127.0.0.1:{self.port}", *args],
                         tmp / f"serve-{self.port}.log", env=dict(os.environ, PYTHONPATH=str(REPO)))

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return r.status, r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8")

    def wait_for(self, pred, timeout: float = 60.0, what: str = ""):
        ok, last = self.poll_until(lambda: families(self.get("/metrics")[1]), pred, timeout, 0.3)
        if not ok:
            raise AssertionError(f"timed out waiting for {what}: {last and sorted(last)}\n{self.output()}")
        return last

    def stop(self) -> int:
        return super().stop(30)


def up(fams, value=1.0) -> bool:
    return any(x.value == value for x in fams.get("droidtrack_up", []))


class Prometheus(Logged):
    def __init__(self, tmp: Path, targets: list[str]) -> None:
        self.port = free_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text("global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
                       "scrape_configs:\n  - job_name: droidtrack\n    static_configs:\n"
                       f"      - targets: {json.dumps(targets)}\n")
        (tmp / "tsdb").mkdir()
        super().__init__([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{self.port}"], tmp / "prometheus.log", cwd=tmp)

    def query(self, q: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            raise AssertionError(f"Prometheus refused {q!r}: {e.read()[:500]!r}") from None
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait(self, q: str, pred, timeout: float = 90.0):
        ok, last = self.poll_until(lambda: self.query(q), pred, timeout, 0.5)
        if not ok:
            raise AssertionError(f"Prometheus never answered {q!r} as wanted: {last}\n{self.output()[-3000:]}")
        return last


@pytest.mark.adb
@pytest.mark.slow
@needs_prometheus
def test_a_real_prometheus_scrapes_serve_demo_and_answers_over_its_api(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the demo device needs root (mount namespaces)")
    served = Served(["--demo", "-i", "1", "--top", "4"], tmp_path)
    prom = None
    try:
        served.wait_for(up, what="the demo device up")
        code, body = served.get("/healthz")
        assert code == 200 and body.startswith("ok")
        prom = Prometheus(tmp_path, [f"127.0.0.1:{served.port}"])
        res = prom.wait('droidtrack_up == 1', lambda r: len(r) == 1)
        serial = res[0]["metric"]["serial"]
        assert res[0]["metric"]["job"] == "droidtrack"
        total = prom.wait(f'droidtrack_dmabuf_bytes{{kind="total",serial="{serial}"}}', lambda r: len(r) == 1)
        assert float(total[0]["value"][1]) > 100 << 20
        tags = prom.query(f'droidtrack_tag_bytes{{serial="{serial}"}}')
        by_tag = {r["metric"]["tag"]: float(r["value"][1]) for r in tags}
        assert by_tag["camera"] > 0 and "gl" in by_tag
        # the kinds add up as droidtrack says: userspace + kernel-only + unattributed = total
        parts = prom.query(f'sum(droidtrack_dmabuf_bytes{{serial="{serial}",'
                           'kind=~"userspace|kernel_only|unattributed"})')
        assert float(parts[0]["value"][1]) == float(total[0]["value"][1])
        cam = prom.query(f'droidtrack_process_bytes{{serial="{serial}",package="com.example.camera",measure="fd_only"}}')
        assert len(cam) == 1 and float(cam[0]["value"][1]) > 0
        n = prom.query(f'count(droidtrack_process_bytes{{serial="{serial}"}})')
        assert int(n[0]["value"][1]) <= (4 + 1) * 3
        # the leaking camera app grows between scrapes: Prometheus sees more than one value
        prom.wait(f'changes(droidtrack_process_bytes{{serial="{serial}",package="com.example.camera",'
                  'measure="rss"}[1m])', lambda r: r and float(r[0]["value"][1]) >= 1)
        assert prom.query(f'droidtrack_collect_failures_total{{serial="{serial}"}}')[0]["value"][1] == "0"
        assert float(prom.query(f'droidtrack_coverage_ratio{{serial="{serial}"}}')[0]["value"][1]) == 1.0
        # every query of the shipped Grafana dashboard parses in this Prometheus and names real series
        dash = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
        empty = []
        for panel in dash["panels"]:
            for t in panel["targets"]:
                if not prom.query(t["expr"].replace("$serial", ".*")):
                    empty.append(panel["title"])
        assert set(empty) <= {"Devices down", "Growth over 1 h per package (PSS)",
                              "Failed collections per 10 min"} and "Top processes by PSS" not in empty, empty
    finally:
        if prom:
            prom.stop()
        rc = served.stop()
    assert rc == 0, served.output()


def hostile_phone() -> DeviceTree:
    t = DeviceTree("a13-5.15")
    t.add_process(600, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000)
    names = ['com.evil"} droidtrack_up{serial="forged"} 1', "com.back\\slash", "com.\u202egnp", "=cmd|x"]
    for i, name in enumerate(names):
        pid = 4000 + i
        t.add_process(pid, name[:15], cmdline=(name,), uid=10200 + i)
        b = t.add_buffer((i + 1) << 20, name=name[:31])
        t.hold_fd(pid, b)
        t.hold_fd(600, b)
    return t


@one_adb
@pytest.mark.adb
@pytest.mark.slow
def test_scrape_while_the_device_disconnects_and_comes_back(make_double, tmp_path):
    root = tmp_path / "phone"
    hostile_phone().write(root)
    ph = make_double(root)
    served = Served(["--adb-server", f"127.0.0.1:{ph.server.port}", "-i", "0.5", "--su", "never"], tmp_path)
    try:
        fams = served.wait_for(up, what="the double up")
        procs = {x.labels["process"] for x in fams["droidtrack_process_bytes"]}
        assert label('com.evil"} droidtrack_up{serial="forged"} 1') in procs
        assert label("com.\u202egnp") in procs and "com.back\\slash" in procs
        assert {x.labels["serial"] for x in fams["droidtrack_up"]} == {ph.serial}
        # the cable is pulled mid-stream: up 0, a failure counted, no bytes served as current
        ph.double.add_fault(Fault("drop", after_bytes=2000, match="collect.sh", once=False))
        fams = served.wait_for(lambda f: up(f, 0.0), what="up 0 after the drop")
        fails = [x.value for x in fams["droidtrack_collect_failures"] if x.name.endswith("_total")]
        assert fails and fails[0] >= 1
        assert not fams.get("droidtrack_dmabuf_bytes")
        # it comes back
        ph.double.clear_faults()
        served.wait_for(up, what="up again")
        # the device leaves the adb server altogether
        ph.server.disconnect(ph.serial)
        fams = served.wait_for(lambda f: up(f, 0.0), what="up 0 after adb disconnect")
        assert {x.labels["serial"] for x in fams["droidtrack_up"]} == {ph.serial}
        code, _ = served.get("/healthz")
        assert code == 200
        ph.server.connect(ph.serial)
        served.wait_for(up, what="up after reconnecting")
    finally:
        rc = served.stop()
    assert rc == 0, served.output()


def test_listen_address_in_use_is_a_clear_error(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        r = subprocess.run([sys.executable, "-m", "droidtrack", "serve", "--listen", f"127.0.0.1:{port}",
                            "--adb-server", f"127.0.0.1:{free_port()}"], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    finally:
        s.close()
    assert r.returncode == 2 and "cannot listen" in r.stderr


def test_an_unreachable_adb_server_is_served_as_down_not_a_crash(tmp_path):
    served = Served(["--adb-server", f"127.0.0.1:{free_port()}", "-i", "0.5"], tmp_path)
    try:
        fams = served.wait_for(lambda f: any(x.value == 0 for x in f.get("droidtrack_adb_server_up", [])),
                               what="adb server down")
        assert fams.get("droidtrack_up", []) == []
        code, body = served.get("/healthz")
        assert code == 200, body
        assert served.get("/nothing")[0] == 404
    finally:
        rc = served.stop()
    assert rc == 0, served.output()
