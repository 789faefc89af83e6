"""Find a Java runtime that can run Kafka 4.x brokers (Java 17 or newer)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import LabError

MIN_JAVA = 17


@dataclass(frozen=True)
class JavaRuntime:
    executable: str
    major: int
    version_text: str


def _candidate() -> str | None:
    override = os.environ.get("DELIVERYLAB_JAVA")
    if override:
        return override
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def parse_major(version_text: str) -> int | None:
    """'openjdk version "17.0.15"' -> 17; 'java version "1.8.0_392"' -> 8."""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if not m:
        return None
    major = int(m.group(1))
    if major == 1 and m.group(2):
        major = int(m.group(2))
    return major


def find_java() -> JavaRuntime:
    exe = _candidate()
    fix = (f"Install a Java {MIN_JAVA}+ runtime (e.g. `apt-get install openjdk-17-jre-headless`, "
           f"`brew install openjdk@17`, or `conda install -c conda-forge openjdk=17`) and put it on "
           f"PATH, or set JAVA_HOME (or DELIVERYLAB_JAVA) to it.")
    if not exe:
        raise LabError("No Java runtime was found (nothing named `java` on PATH and no JAVA_HOME); "
                       "the embedded Kafka cluster runs the official Apache Kafka jars on Java.", fix)
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"The Java runtime `{exe}` could not be started ({exc}).", fix) from None
    text = (out.stderr or out.stdout).strip()
    major = parse_major(text)
    if major is None:
        raise LabError(f"`{exe} -version` did not print a Java version (it printed: {text[:120]!r}).",
                       fix)
    if major < MIN_JAVA:
        raise LabError(f"Java {major} was found at `{exe}`, but Apache Kafka 4.x brokers need "
                       f"Java {MIN_JAVA} or newer.", fix)
    return JavaRuntime(exe, major, text.splitlines()[0])
