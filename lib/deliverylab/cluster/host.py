"""The platform this machine is, as far as the lab's mechanisms care: Linux (WSL2 included),
macOS, or native Windows — the one place that reads ``sys.platform``.

``DELIVERYLAB_PLATFORM=darwin`` (or ``win32``, ``linux``) makes the lab act as if it ran there:
the test suite takes the macOS and Windows paths on Linux that way (the parent watch of
processes.die_with_parent, the fault support table, the refusal below). Nothing else changes:
the real platform's libraries still do the work.
"""
from __future__ import annotations

import os
import platform
import shutil
import sys

from ..errors import LabError

PLATFORM_ENV = "DELIVERYLAB_PLATFORM"


def system() -> str:
    """sys.platform, or what DELIVERYLAB_PLATFORM forces: 'linux', 'darwin', 'win32', …"""
    return os.environ.get(PLATFORM_ENV, "").strip().lower() or sys.platform


def is_linux() -> bool:
    return system().startswith("linux")


def is_macos() -> bool:
    return system() == "darwin"


def is_native_windows() -> bool:
    """Windows itself (also Cygwin and MSYS), not WSL2: there, Python says 'linux'."""
    return system().startswith(("win", "cygwin", "msys"))


def is_wsl() -> bool:
    """WSL's kernel names itself in its release: '5.15.153.1-microsoft-standard-WSL2' (older
    WSL2 '4.19.104-microsoft-standard', WSL1 '4.4.0-19041-Microsoft')."""
    return is_linux() and "microsoft" in platform.uname().release.lower()


def name() -> str:
    if is_wsl():
        return "Linux (WSL)"
    if is_linux():
        return "Linux"
    if is_macos():
        return "macOS"
    if is_native_windows():
        return "Windows"
    return system()


def system_tool(name: str) -> str | None:
    """A system command's path, also where PATH leaves out the sbin folders (a non-root user's
    PATH on Debian has no /usr/sbin, where nft and sysctl live)."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None)


def native_windows_refused() -> LabError:
    return LabError(
        "Kafka Delivery Lab does not run on native Windows: its crash points and broker faults "
        "are real process deaths and pauses (SIGKILL, SIGSTOP and SIGCONT), which Windows does "
        "not have, and its brokers' run folder needs POSIX file locks.",
        "Use WSL2 (in PowerShell `wsl --install`, then clone the course inside the Ubuntu it "
        "installs and run `make setup` there), or open the course in its dev container "
        "(`.devcontainer/`: VS Code's Dev Containers or GitHub Codespaces). The README's "
        "platform table says what each one runs.")


def refuse_native_windows() -> None:
    if is_native_windows():
        raise native_windows_refused()
