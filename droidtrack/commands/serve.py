"""`droidtrack serve`: a Prometheus exporter for every device of one or more adb servers.

A sampler thread lists each adb server's devices every INTERVAL and collects every wanted device
that is ready (a few at a time, `--jobs`), each through the same live source `snapshot` uses; an
HTTP server answers `GET /metrics` (present/prometheus.py) and `GET /healthz`. A device that
is offline, unauthorized, gone, or whose stream is cut is `droidtrack_up 0` with its failure
counted; nothing a device does stops the exporter.
"""
from __future__ import annotations

import argparse
import http.server
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from droidtrack.commands import add_command
from droidtrack.commands.record import parse_duration
from droidtrack.present.text import safe

EPILOG = """\
examples:
  droidtrack serve --demo                            the built-in simulated phone on 127.0.0.1:9750
  droidtrack serve --listen 0.0.0.0:9750             every device of the local adb server, every 15 s
  droidtrack serve --adb-server 10.0.0.5:5037 --adb-server 10.0.0.6:5037 -i 30s
  droidtrack serve -s R58M12345 -s emulator-5554     only these devices

Prometheus scrape config:   - job_name: droidtrack
                              static_configs: [{targets: ["farmhost:9750"]}]
Metrics: droidtrack_up, droidtrack_dmabuf_bytes{kind}, droidtrack_tag_bytes, droidtrack_exporter_bytes,
droidtrack_process_bytes{pid,process,package,measure}, droidtrack_collect_seconds,
droidtrack_coverage_ratio, droidtrack_collect_failures_total, ... (all labelled by serial).
A Grafana dashboard: docs/grafana-dashboard.json.

GET /healthz answers 200 while the sampler runs and 503 when it has not finished a round for
three intervals (plus the collection timeout).

exit codes: 0 stopped by SIGTERM, 2 bad options or the address cannot be bound, 130 Ctrl-C
"""

DEFAULT_LISTEN = "127.0.0.1:9750"
COLLECT_TIMEOUT = 60.0


def _hostport(s: str, default_host: str, what: str) -> tuple[str, int]:
    host, sep, port = s.rpartition(":")
    if not sep:
        host, port = "", s
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{s!r} is not {what} (HOST:PORT)")
    return host, int(port)


def _listen(s: str) -> tuple[str, int]:
    return _hostport(s, "127.0.0.1", "an address to listen on")


def _server(s: str) -> tuple[str, int]:
    h, p = _hostport(s, "127.0.0.1", "an adb server")
    if p == 0:
        raise argparse.ArgumentTypeError(f"{s!r}: port 0 is no adb server")
    return h, p


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "serve", EPILOG, "a Prometheus exporter for every device of one or more adb servers",
                    "Sample every device of the adb servers at an interval and answer "
                    "GET /metrics in Prometheus' text format.")
    p.add_argument("--listen", type=_listen, default=DEFAULT_LISTEN, metavar="ADDR",
                   help=f"HOST:PORT to serve /metrics and /healthz on (default {DEFAULT_LISTEN}; "
                        "0.0.0.0:PORT for a Prometheus on another host)")
    p.add_argument("-i", "--interval", type=parse_duration, default=15.0, metavar="T",
                   help="time between rounds of collections (default 15s)")
    p.add_argument("-s", "--serial", action="append", default=[], metavar="SERIAL",
                   help="a device to sample (repeatable; default: every device, as --all-devices)")
    p.add_argument("--all-devices", action="store_true",
                   help="every device of every adb server, as they come and go (the default without -s)")
    p.add_argument("--adb-server", type=_server, action="append", default=[], metavar="HOST:PORT",
                   help="an adb server to list devices from (repeatable; default: $ANDROID_ADB_SERVER_ADDRESS/"
                        "PORT or 127.0.0.1:5037)")
    p.add_argument("--demo", action="store_true", help="serve the built-in simulated phone (no device needed)")
    from droidtrack.sources.adb_devices import add_demo_build_argument
    add_demo_build_argument(p)
    p.add_argument("--top", type=int, default=20, metavar="N",
                   help="processes per device with their own series (by PSS; the rest are process=\"other\"; "
                        "default 20)")
    p.add_argument("-j", "--jobs", type=int, default=4, metavar="N",
                   help="devices collected at the same time (default 4)")
    p.add_argument("--su", choices=("auto", "never", "require"), default="auto",
                   help="root on the devices, as for `snapshot` (default auto)")
    p.add_argument("--fd-inodes", choices=("auto", "always", "never"), default="auto",
                   help="as for `snapshot` (default auto)")
    from droidtrack.model.tags import add_rules_arguments
    add_rules_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no log lines on stderr")
    p.set_defaults(func=run)


class Sampler:
    """Rounds of collections over every wanted device of every adb server, into a Board."""

    def __init__(self, board, servers: list[tuple[str, int]], serials: list[str], *, rules, su: str,
                 fd_inodes: str, top: int, jobs: int, log) -> None:
        from droidtrack.sources import adb
        self.adb = adb
        self.board = board
        self.servers = servers
        self.serials = serials
        self.rules = rules
        self.su = su
        self.fd_inodes = fd_inodes
        self.top = top
        self._log = log
        self.pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="collect")
        self.busy: set[tuple] = set()
        self.sources: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def log(self, msg: str) -> None:
        if not self.stopping.is_set():     # collections cut by our own shutdown are no news
            self._log(msg)

    @staticmethod
    def name(server: tuple[str, int]) -> str:
        return f"{server[0]}:{server[1]}"

    def _source(self, key: tuple):
        from droidtrack.sources.live import LiveSource
        src = self.sources.get(key)
        if src is None:
            (host, port), serial = key
            ns = argparse.Namespace(serial=serial, adb_host=host, adb_port=port, su=self.su)
            src = LiveSource(ns, rules=self.rules, fd_inodes=self.fd_inodes)
            src.target.start_server = False
            self.sources[key] = src
        return src

    def _collect(self, key: tuple, serial: str, sname: str) -> None:
        from droidtrack.ci.budgets import collection_cut, coverage
        from droidtrack.model.account import account
        from droidtrack.present.prometheus import device_rows
        from droidtrack.sources import SourceError
        t0 = time.monotonic()
        try:
            try:
                snap = self._source(key).collect().snapshot
            except (SourceError, self.adb.AdbError, OSError) as e:
                self.board.failed(key, serial, sname, str(e), time.monotonic() - t0)
                self.log(f"{serial}: collection failed: {e}")
                return
            cut = collection_cut(snap)
            if cut:
                self.board.failed(key, serial, sname, cut, time.monotonic() - t0)
                self.log(f"{serial}: collection incomplete: {cut}")
                return
            acc = account(snap)
            rows = device_rows(snap, acc, top=self.top, coverage=coverage(snap).value)
            self.board.update(key, serial, sname, rows, time.monotonic() - t0)
        except Exception as e:  # a bug must not stop the exporter: count it, say it, go on
            self.board.failed(key, serial, sname, f"internal error: {e.__class__.__name__}: {e}",
                              time.monotonic() - t0)
            self.log(f"{serial}: internal error: {e.__class__.__name__}: {e}")
        finally:
            with self._lock:
                self.busy.discard(key)

    def round(self) -> list:
        futures = []
        for server in self.servers:
            sname = self.name(server)
            try:
                devs = self.adb.list_devices(server[0], server[1], timeout=10.0, start_server=False)
            except (self.adb.AdbError, OSError) as e:
                self.board.server(sname, False)
                for key in self.board.known(sname):
                    self.board.failed(key, key[1], sname, f"adb server {sname}: {e}", attempted=False)
                self.log(f"adb server {sname}: {e}")
                continue
            self.board.server(sname, True)
            listed = {d.serial: d for d in devs}
            wanted = self.serials or sorted(listed)
            seen = {key[1] for key in self.board.known(sname)}
            for serial in sorted(seen - set(wanted) - set(listed)) if not self.serials else ():
                self.board.failed((server, serial), serial, sname, "no longer listed by adb", attempted=False)
            for serial in wanted:
                key = (server, serial)
                d = listed.get(serial)
                if d is None:
                    self.board.failed(key, serial, sname, "not connected", attempted=bool(self.serials))
                    continue
                if d.state != "device":
                    self.board.failed(key, serial, sname, f"{d.state}: {d.hint}")
                    continue
                with self._lock:
                    if key in self.busy:      # still collecting from the last round (a slow link)
                        continue
                    self.busy.add(key)
                futures.append(self.pool.submit(self._collect, key, serial, sname))
        return futures

    def run(self, interval: float) -> None:
        start = time.monotonic()
        tick = 0
        while not self.stopping.is_set():
            try:
                futures = self.round()
                for f in futures:
                    f.result()
                self.board.cycle_done()
            except Exception as e:  # never let the sampler die silently
                self.log(f"sampler: {e.__class__.__name__}: {e}")
            tick += 1
            now = time.monotonic()
            if start + tick * interval < now:
                tick = int((now - start) // interval) + 1
            self.stopping.wait(max(0.0, start + tick * interval - time.monotonic()))

    def close(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        for src in self.sources.values():
            try:
                src.close()
            except Exception:
                pass


def make_handler(registry, healthy):
    from prometheus_client.exposition import choose_encoder

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "droidtrack-serve"

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encoder, ctype = choose_encoder(self.headers.get("Accept", ""))
                body, code = encoder(registry), 200
            elif path == "/healthz":
                ok, why = healthy()
                body, code, ctype = (why + "\n").encode(), 200 if ok else 503, "text/plain; charset=utf-8"
            elif path == "/":
                body, code, ctype = (b'<html><body><a href="/metrics">/metrics</a> '
                                     b'<a href="/healthz">/healthz</a></body></html>\n'), 200, "text/html"
            else:
                body, code, ctype = b"not found\n", 404, "text/plain; charset=utf-8"
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args) -> None:
            pass

    return Handler


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop


def run(args: argparse.Namespace) -> int:
    import contextlib
    import os

    from droidtrack.present.prometheus import Board
    from droidtrack.sources import adb

    quiet = args.quiet

    def log(msg: str) -> None:
        if not quiet:
            print(f"droidtrack serve: {safe(msg)}", file=sys.stderr, flush=True)

    if args.top < 0 or args.jobs < 1:
        print("droidtrack serve: --top must be 0 or more and --jobs at least 1", file=sys.stderr)
        return 2
    from droidtrack.model.tags import rules_from_args
    try:
        rules = rules_from_args(args)
    except Exception as e:
        print(f"droidtrack serve: {e}", file=sys.stderr)
        return 2
    servers = list(dict.fromkeys(args.adb_server))
    stack = contextlib.ExitStack()
    with stack:
        if args.demo:
            from droidtrack.sim.demo import start_demo_device
            port, serial = stack.enter_context(start_demo_device(build=getattr(args, "demo_build", "userdebug")))
            servers.append(("127.0.0.1", port))
            if args.serial:
                args.serial.append(serial)
        if not servers:
            try:
                env_port = adb._env_port()
            except adb.AdbError as e:
                print(f"droidtrack serve: {e}", file=sys.stderr)
                return 2
            servers = [(os.environ.get("ANDROID_ADB_SERVER_ADDRESS") or adb.DEFAULT_HOST,
                        env_port or adb.DEFAULT_PORT)]
        board = Board()
        sampler = Sampler(board, servers, list(dict.fromkeys(args.serial)), rules=rules, su=args.su,
                          fd_inodes=args.fd_inodes, top=args.top, jobs=args.jobs, log=log)
        stack.callback(sampler.close)
        started = time.monotonic()
        grace = 3 * args.interval + COLLECT_TIMEOUT

        def healthy() -> tuple[bool, str]:
            if not thread.is_alive():
                return False, "the sampler stopped"
            last = board.last_cycle
            if last is None:
                if time.monotonic() - started > grace:
                    return False, "no round of collections finished yet"
                return True, "starting: the first round of collections is running"
            age = time.monotonic() - last
            if age > grace:
                return False, f"the last round of collections finished {age:.0f}s ago"
            ups = sum(1 for s in board.states() if s.up)
            return True, f"ok: {ups}/{len(board.states())} devices up, {board.cycles} rounds"

        try:
            httpd = http.server.ThreadingHTTPServer(args.listen, make_handler(board.registry(), healthy))
        except OSError as e:
            print(f"droidtrack serve: cannot listen on {args.listen[0]}:{args.listen[1]}: {e.strerror or e}",
                  file=sys.stderr)
            return 2
        httpd.daemon_threads = True
        stack.callback(httpd.server_close)
        thread = threading.Thread(target=sampler.run, args=(args.interval,), name="sampler", daemon=True)
        thread.start()
        host, port = httpd.server_address[:2]
        log(f"listening on http://{host}:{port}/metrics; adb servers "
            f"{', '.join(Sampler.name(s) for s in servers)}; every {args.interval:g}s")
        old = None
        if threading.current_thread() is threading.main_thread():
            old = signal.signal(signal.SIGTERM, _raise_stop)
        try:
            httpd.serve_forever(poll_interval=0.2)
        except _Stop:
            log("stopping (SIGTERM)")
            return 0
        finally:
            if old is not None:
                signal.signal(signal.SIGTERM, old)
    return 0
