"""Run one of Apache Kafka's own command-line tools (the classes behind kafka-*.sh) from the
pinned jars: an independent Java client to check what the lab reports against."""
from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from .errors import LabError
from .java import find_java
from .kafka_dist import classpath

_QUIET_LOG4J = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="OFF"><Loggers><Root level="OFF"/></Loggers></Configuration>
"""


def run_tool(main_class: str, args: list[str], version: str | None = None,
             timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run `main_class` with `args` on the jars of Kafka `version` (default: the one in force),
    logging off, and return the finished process (stdout, stderr, returncode)."""
    java = find_java()
    with tempfile.TemporaryDirectory(prefix="kafka-tool-") as tmp:
        log4j = Path(tmp) / "log4j2.xml"
        log4j.write_text(_QUIET_LOG4J)
        cmd = [java.executable, "-Xmx256m", "-XX:TieredStopAtLevel=1",
               f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath(version), main_class, *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LabError(f"Kafka's {main_class.rsplit('.', 1)[-1]} did not finish within "
                           f"{timeout:.0f} s.", "Check that the cluster runs "
                           "(`deliverylab cluster status`).") from None


def features(bootstrap: str, version: str | None = None) -> dict[str, dict[str, str]]:
    """The cluster's feature levels as Kafka's FeatureCommand (kafka-features.sh describe) reads
    them from a broker: {feature: {"SupportedMaxVersion": …, "FinalizedVersionLevel": …}}."""
    out = run_tool("org.apache.kafka.tools.FeatureCommand",
                   ["--bootstrap-server", bootstrap, "describe"], version)
    found: dict[str, dict[str, str]] = {}
    for line in out.stdout.splitlines():
        fields = dict(re.findall(r"(\w+):\s+(\S+)", line))
        if "Feature" in fields:
            found[fields.pop("Feature")] = fields
    if not found:
        raise LabError(f"Kafka's FeatureCommand read no feature from {bootstrap} "
                       f"(exit {out.returncode}): {out.stderr.strip()[-300:]}",
                       "Check that the cluster runs (`deliverylab cluster status`).")
    return found
