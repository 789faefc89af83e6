"""One Kafka node as a JVM: its options, log configuration and properties file, the storage
format before its first start, its command line, and what its logs say when it fails.

Kafka 4.x is started here without the distribution's shell scripts (which need bash and the
whole tarball): the main classes and flags are those the scripts pass (see REFERENCE.md).
"""
from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from ..errors import LabError

# Small heaps: a learner's laptop runs three brokers beside JupyterLab. SerialGC and C1-only JIT
# start faster and use less memory than the server defaults; a teaching cluster is not a benchmark.
JVM_OPTS = ["-Xms64m", "-Xmx{heap}m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-XX:MaxMetaspaceSize=160m", "-XX:ReservedCodeCacheSize=48m", "-Xss512k",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
DEFAULT_HEAP_MB = 320
CONTROLLER_HEAP_MB = 160  # a controller holds the metadata log only
LOG4J2 = "log4j2.xml"  # in the run folder, shared by every node

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="file" fileName="${sys:kafka.logs.dir}/server.log"
                 filePattern="${sys:kafka.logs.dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="20 MB"/></Policies>
      <DefaultRolloverStrategy max="2"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as `kafka-storage
    random-uuid` prints it)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def write_log_config(home: Path) -> Path:
    path = home / LOG4J2
    path.write_text(LOG4J2_XML)
    return path


def write_properties(path: Path, props: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def format_storage(java: str, cp: str, home: Path, node_dirs: dict[int, Path], cluster_id: str) -> None:
    """`kafka-storage format` for every node at once (each is a JVM start: in parallel they take
    the time of one); raises the first failure as one paragraph."""
    log4j = home / LOG4J2
    formatters = {
        node_id: subprocess.Popen(
            [java, "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", cp,
             f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={node_dir / 'logs'}",
             "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
             "-c", str(node_dir / "server.properties")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for node_id, node_dir in node_dirs.items()}
    for node_id, proc in formatters.items():
        out, _ = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise LabError(f"Formatting the storage of node {node_id} failed: "
                           f"{out.strip()[-300:]}", "Delete the run folder "
                           f"{home} and try again; if it persists, check Java and disk space.")


def node_command(java: str, cp: str, home: Path, node_dir: Path, heap_mb: int) -> list[str]:
    """The JVM of one broker or controller (class kafka.Kafka and its properties file)."""
    return [java, *[o.format(heap=heap_mb) for o in JVM_OPTS],
            f"-Dlog4j2.configurationFile={home / LOG4J2}",
            f"-Dkafka.logs.dir={node_dir / 'logs'}",
            "-cp", cp, "kafka.Kafka", str(node_dir / "server.properties")]


def log_tail(node_dir: Path, lines: int = 400) -> str:
    text = ""
    for name in ("logs/server.log", "stdout.log"):
        p = node_dir / name
        if p.exists():
            text += "\n".join(p.read_text(errors="replace").splitlines()[-lines:]) + "\n"
    return text


def first_error(log: str) -> str:
    for line in log.splitlines():
        if " ERROR " in line or " FATAL " in line or "Exception" in line:
            return line.strip()[:300]
    return ""


def port_taken(log: str) -> bool:
    return "Address already in use" in log or "BindException" in log
