"""Run a device double in its own process (benchmarks, manual exploring).

    python -m droidtrack.double DEVICE_ROOT [--rooted] [--su aosp] [--bandwidth BYTES_PER_S]

Prints one JSON line {"port": P, "serial": "127.0.0.1:P"}; then `adb connect 127.0.0.1:P`.
Reads commands on stdin, one per line, and answers each with a JSON line:
    stats       {"services": N, "shell": N, "errors": [...]}
It stops at end of input or on SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys

from droidtrack.double import DeviceConfig, DeviceDouble


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m droidtrack.double", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", help="a device-root directory (proc/, sys/, dev/, system/build.prop)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--rooted", action="store_true", help="adbd runs as root from the start")
    p.add_argument("--user-build", action="store_true", help="`adb root` is refused")
    p.add_argument("--su", choices=("none", "aosp", "magisk", "deny"), default="none")
    p.add_argument("--bandwidth", type=float, default=None, help="bytes/s towards the host (slow link)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added per packet")
    a = p.parse_args(argv)
    cfg = DeviceConfig(rooted=a.rooted, adb_root=not a.user_build, su=a.su, bandwidth=a.bandwidth,
                       latency=a.latency)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with DeviceDouble(a.root, cfg, port=a.port) as d:
        print(json.dumps({"port": d.port, "serial": d.serial}), flush=True)
        try:
            for line in sys.stdin:
                if line.strip() == "stats":
                    print(json.dumps({"services": len(d.services), "shell": len(d.shell_services()),
                                      "errors": d.errors}), flush=True)
                else:
                    print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
