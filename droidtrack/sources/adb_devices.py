"""Which device: adb's own options and environment (-s, -H, -P, ANDROID_SERIAL, ...), the device
list in every state (`host:devices-l`, with what to do about each state), the only device."""
from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field

from droidtrack.sources.adb_wire import (DEFAULT_HOST, DEFAULT_PORT, STALL_TIMEOUT, STATE_HINTS, AdbError,
                                         AdbTarget, host_query)

SLOW_SILENCE = 120.0      # what a framework dump (dumpsys, dmabuf_dump) may stay silent

SU_MODES = ("auto", "never", "require")


@dataclass
class DeviceEntry:
    serial: str
    state: str
    props: dict[str, str] = field(default_factory=dict)

    @property
    def hint(self) -> str:
        s = self.state
        if s.startswith("no permissions"):
            return "the USB device is not accessible to you: install udev rules for Android devices"
        return STATE_HINTS.get(s, f"adb reports state {s!r}")

    @property
    def description(self) -> str:
        p = self.props
        return " ".join(x for x in (p.get("model", "").replace("_", " "), f"({p['device']})" if "device" in p else "") if x)


# ---- arguments ---------------------------------------------------------------------------
def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """-s/--serial, -H/--adb-host, -P/--adb-port, --su, --demo (adb's own spelling where it has one)."""
    g = parser.add_argument_group("device (like adb: -s, ANDROID_SERIAL, the only device if there is one)")
    g.add_argument("-s", "--serial", metavar="SERIAL", default=None,
                   help="the device to use (default: $ANDROID_SERIAL, else the only device)")
    g.add_argument("-H", "--adb-host", metavar="HOST", default=None,
                   help="host of the adb server (default: $ANDROID_ADB_SERVER_ADDRESS or localhost)")
    g.add_argument("-P", "--adb-port", metavar="PORT", type=int, default=None,
                   help="port of the adb server (default: $ANDROID_ADB_SERVER_PORT or 5037)")
    g.add_argument("--stall-timeout", metavar="SECONDS", type=float, default=None,
                   help=f"give up on a device that sends nothing for this long mid-snapshot (default "
                        f"{STALL_TIMEOUT:g}; framework dumps of --dumpsys may think up to {SLOW_SILENCE:g} s); "
                        "what arrived is kept and marked truncated")
    g.add_argument("--su", choices=SU_MODES, default="auto",
                   help="root: auto = `adb root` if the build allows it, else su, else run as shell with "
                        "reduced coverage (default); never = always as shell; require = fail without root")
    if not any("--demo" in a.option_strings for a in parser._actions):
        g.add_argument("--demo", action="store_true",
                       help="use the built-in simulated phone instead of a real device (no phone needed)")
    add_demo_build_argument(g)


def add_demo_build_argument(g) -> None:
    """--demo-build: which build the demo phone is (every command that takes --demo)."""
    g.add_argument("--demo-build", choices=("userdebug", "user"), default="userdebug",
                   help="the demo phone as a userdebug build (default: adb root works) or as a user build "
                        "(shell uid 2000, no root, no debugfs; run-as works for com.example.camera only)")


def _env_port() -> int | None:
    v = os.environ.get("ANDROID_ADB_SERVER_PORT", "").strip()
    if not v:
        return None
    if not v.isdigit() or not 0 < int(v) < 65536:
        raise AdbError(f"ANDROID_ADB_SERVER_PORT={v!r} is not a port number")
    return int(v)


def target_from_args(args: argparse.Namespace) -> AdbTarget:
    """-s, else ANDROID_SERIAL; -H, else ANDROID_ADB_SERVER_ADDRESS, else localhost; -P, else
    ANDROID_ADB_SERVER_PORT, else 5037. The serial stays None when not given: the device is
    resolved (the only one) when collecting."""
    serial = getattr(args, "serial", None) or os.environ.get("ANDROID_SERIAL") or None
    host = getattr(args, "adb_host", None) or os.environ.get("ANDROID_ADB_SERVER_ADDRESS") or DEFAULT_HOST
    port = getattr(args, "adb_port", None)
    if port is None:
        port = _env_port() or DEFAULT_PORT
    if not 0 < int(port) < 65536:
        raise AdbError(f"adb port {port} is not a port number")
    su = getattr(args, "su", None) or "auto"
    if su not in SU_MODES:
        raise AdbError(f"--su {su}: choose one of {', '.join(SU_MODES)}")
    stall = getattr(args, "stall_timeout", None)
    if stall is None:
        stall = STALL_TIMEOUT
    if not 0 < stall <= 3600:
        raise AdbError(f"--stall-timeout {stall:g}: give a number of seconds above 0 (at most 3600)")
    return AdbTarget(serial=serial, host=host, port=int(port), su=su, stall_timeout=float(stall))


_PROP_RE = re.compile(r"^(product|model|device|transport_id|usb|features):(\S*)$")


def parse_devices_l(text: str) -> list[DeviceEntry]:
    """Lines of `host:devices-l`: `SERIAL  STATE [key:value...]`. A state can contain spaces
    ("no permissions (...); see [...]"), so key:value words are taken from the end."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        serial, _, rest = line.strip().partition(" ") if "\t" not in line else line.partition("\t")
        serial = serial.strip()
        if not serial:
            continue          # no serial before the tab: not a device line
        words = rest.split()
        props: dict[str, str] = {}
        while words:
            m = _PROP_RE.match(words[-1])
            if not m:
                break
            props[m.group(1)] = m.group(2)
            words.pop()
        out.append(DeviceEntry(serial, " ".join(words) or "unknown", dict(reversed(props.items()))))
    return out


def list_devices(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, timeout: float = 10.0,
                 start_server: bool = True) -> list[DeviceEntry]:
    """Every device the adb server knows, in every state (unlike adbutils' device_list())."""
    return parse_devices_l(host_query(AdbTarget(None, host, port, start_server=start_server),
                                      "host:devices-l", timeout))


def resolve_serial(target: AdbTarget, timeout: float = 10.0) -> str:
    """The serial to use: the given one, else the only device, else a clear error listing them."""
    if target.serial:
        return target.serial
    devs = list_devices(target.host, target.port, timeout=timeout, start_server=target.start_server)
    if not devs:
        raise AdbError("no device connected (enable USB debugging and plug the phone in, or `adb connect HOST:PORT`)")
    if len(devs) > 1:
        listing = ", ".join(f"{d.serial} ({d.state})" for d in devs)
        raise AdbError(f"{len(devs)} devices connected: pass -s SERIAL or set ANDROID_SERIAL. Devices: {listing}")
    d = devs[0]
    if d.state != "device":
        raise AdbError(f"device {d.serial} is {d.state}: {d.hint}")
    return d.serial


def device_state(target: AdbTarget, serial: str, timeout: float = 5.0) -> str | None:
    try:
        for d in list_devices(target.host, target.port, timeout=timeout, start_server=False):
            if d.serial == serial:
                return d.state
    except AdbError:
        return None
    return "gone"
