"""droidtrack's device double: a fake adbd driven by a real adb server (see device.py).

Used by the test suite (tests/device/) and by `droidtrack demo`, which is why it ships in the
package.
"""
from droidtrack.double.adbserver import AdbServer, AdbServerError, free_port, system_adb, wheel_adb
from droidtrack.double.device import DeviceConfig, DeviceDouble, Fault
from droidtrack.double.sandbox import Sandbox, SandboxError

__all__ = ["AdbServer", "AdbServerError", "DeviceConfig", "DeviceDouble", "Fault", "Sandbox",
           "SandboxError", "free_port", "system_adb", "wheel_adb"]
