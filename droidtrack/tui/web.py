"""`droidtrack top --web ADDR`: the same Textual app in a browser, served by textual-serve.

textual-serve runs one app process per browser tab (its web driver speaks to the page over a
websocket); this module is both sides: `serve(args)` starts the web server with the options of
this `top` command, and `python -m droidtrack.tui.web` is the process each tab gets, which opens
the same sources as `droidtrack top` would and runs the app. The options travel in an environment
variable (JSON), so nothing is re-parsed from a command line.

There is no authentication: whoever reaches ADDR sees the device and drives the UI (it can save
captures and reports into --save-dir). The default and the advice is a loopback address.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shlex
import socket
import sys

from textual_serve.server import Server

ARGS_ENV = "DROIDTRACK_TOP_WEB_ARGS"
DEFAULT_PORT = 8000


def parse_addr(text: str) -> tuple[str, int]:
    """'127.0.0.1:8000', 'localhost:9000', '[::1]:8000', ':8000' or '8000' -> (host, port)."""
    text = text.strip()
    host, port = "127.0.0.1", str(DEFAULT_PORT)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"--web {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"--web {text!r}: expected [HOST]:PORT")
            port = rest[1:]
    elif text.isdigit():
        port = text
    elif ":" in text:
        h, port = text.rsplit(":", 1)
        host = h or host
    elif text:
        host = text
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--web {text!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def child_args(args: argparse.Namespace) -> dict:
    """The options each browser tab's process opens its sources with (everything but --web)."""
    return {k: v for k, v in vars(args).items() if k not in ("func", "web")}


def serve(args: argparse.Namespace) -> int:
    try:
        host, port = parse_addr(args.web)
    except ValueError as e:
        print(f"droidtrack top: {e}", file=sys.stderr)
        return 2
    try:   # say so now, not from inside the web server's loop
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        print(f"droidtrack top: cannot listen on {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 2
    if not is_loopback(host):
        print(f"droidtrack top: serving on {host}:{port} without authentication: anyone who reaches it "
              "sees this device and drives the UI", file=sys.stderr)
    os.environ[ARGS_ENV] = json.dumps(child_args(args))
    command = f"{shlex.quote(sys.executable)} -m droidtrack.tui.web"
    Server(command, host=host, port=port, title="droidtrack top").serve()
    return 0


def main() -> int:
    """One browser tab's app process (started by textual-serve with its web driver)."""
    raw = os.environ.get(ARGS_ENV)
    if raw is None:
        print(f"droidtrack.tui.web is started by `droidtrack top --web` ({ARGS_ENV} is not set)", file=sys.stderr)
        return 2
    from droidtrack.commands.top import show
    return show(argparse.Namespace(**json.loads(raw)))


if __name__ == "__main__":
    raise SystemExit(main())
