"""Run one of Apache Kafka's own command-line tools (the classes behind kafka-*.sh) from the
pinned jars: an independent Java client to check what the lab reports against."""
from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .errors import LabError
from .ids import record_of
from .java import find_java
from .kafka_dist import classpath, libs_dir

# The classes behind the kafka-*.sh scripts of Kafka's distribution (bin/kafka-run-class.sh runs
# them with the jars on the classpath; the lab has the jars, not the scripts).
TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"  # kafka-topics.sh
CONSUMER_GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"  # kafka-consumer-groups.sh
SHARE_GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ShareGroupCommand"  # kafka-share-groups.sh
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"  # kafka-console-consumer.sh
GET_OFFSET_SHELL = "org.apache.kafka.tools.GetOffsetShell"  # kafka-get-offsets.sh
EARLIEST = "-2"  # GetOffsetShell --time -2: each partition's log start offset

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


def console_records(client: dict[str, Any], topic: str, timeout_ms: int = 3000,
                    version: str | None = None) -> list[tuple[int, int, str, str, int]]:
    """(partition, offset, message id, key, seq) of every record of `topic`, as Kafka's own ConsoleConsumer
    (a Java client, read_committed) reads them from the beginning: a witness of what the
    partition holds, independent of librdkafka. `client`: the cluster's client settings."""
    with tempfile.TemporaryDirectory(prefix="console-") as tmp:
        props = Path(tmp) / "consumer.properties"  # security settings; never on the command line
        props.write_text("".join(f"{k}={v}\n" for k, v in client.items()
                                 if k != "bootstrap.servers" and not callable(v)))
        out = run_tool(CONSOLE_CONSUMER,
                       ["--bootstrap-server", client["bootstrap.servers"], "--topic", topic,
                        "--from-beginning", "--timeout-ms", str(timeout_ms),
                        "--isolation-level", "read_committed", "--consumer.config", str(props),
                        "--formatter-property", "print.partition=true",
                        "--formatter-property", "print.offset=true"], version)
    rows = []
    for line in out.stdout.splitlines():
        found = re.match(r"Partition:(\d+)\s+Offset:(\d+)\s+(.*)$", line.strip())
        if found:
            rec = record_of(found[3].encode())
            rows.append((int(found[1]), int(found[2]), rec["id"], rec["key"], int(rec["seq"])))
    if not rows and out.returncode not in (0, 1):
        raise LabError(f"Kafka's ConsoleConsumer could not read topic {topic!r} (exit "
                       f"{out.returncode}): {out.stderr.strip()[-300:]}",
                       "Check that the topic exists and the cluster runs (`deliverylab cluster status`).")
    return rows


TRANSACTIONS_COMMAND = "org.apache.kafka.tools.TransactionsCommand"  # kafka-transactions.sh
MESSAGE_COPIER = "org.apache.kafka.tools.TransactionalMessageCopier"  # Kafka's system-test app


def describe_transaction(bootstrap: str, transactional_id: str,
                         version: str | None = None) -> dict[str, str]:
    """What the transaction coordinator holds for `transactional_id`, as Kafka's
    TransactionsCommand describes it: {"ProducerId": …, "ProducerEpoch": …, "TransactionState": …}."""
    out = run_tool(TRANSACTIONS_COMMAND, ["--bootstrap-server", bootstrap, "describe",
                                          "--transactional-id", transactional_id], version)
    lines = [line.split("\t") for line in out.stdout.splitlines() if "\t" in line]
    if len(lines) < 2:
        raise LabError(f"Kafka's TransactionsCommand did not describe transactional id "
                       f"{transactional_id!r} (exit {out.returncode}): {out.stderr.strip()[-300:]}",
                       "Check that a producer with that transactional.id committed a transaction "
                       "and that the cluster runs (`deliverylab cluster status`).")
    return {k.strip(): v.strip() for k, v in zip(lines[0], lines[1]) if k.strip()}


def copy_transactionally(bootstrap: str, source: str, target: str, transactional_id: str,
                         group: str, messages: int, per_transaction: int,
                         version: str | None = None) -> int:
    """Kafka's own TransactionalMessageCopier (a Java client's consume-transform-produce loop,
    read_committed) copies `messages` records of partition 0 of `source` to `target`,
    `per_transaction` in each transaction; returns how many it reported copied."""
    out = run_tool(MESSAGE_COPIER, ["--broker-list", bootstrap, "--input-topic", source,
                                    "--input-partition", "0", "--output-topic", target,
                                    "--consumer-group", group, "--transactional-id", transactional_id,
                                    "--transaction-size", str(per_transaction),
                                    "--transaction-timeout", "10000",
                                    "--max-messages", str(messages)], version)
    done = [int(n) for n in re.findall(r'"stage":"ShutdownComplete".*?"totalProcessed":(\d+)', out.stdout)]
    if out.returncode != 0 or not done:
        raise LabError(f"Kafka's TransactionalMessageCopier did not finish copying {source!r} "
                       f"(exit {out.returncode}): {(out.stderr or out.stdout).strip()[-300:]}",
                       "Check that the cluster runs (`deliverylab cluster status`).")
    return done[-1]


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


def log_start_offsets(bootstrap: str, topic: str, version: str | None = None) -> dict[int, int]:
    """Each partition's log start offset (the earliest offset still in the log), as Kafka's
    GetOffsetShell (kafka-get-offsets.sh --time -2) reads it: a witness apart from the lab's
    Python client, e.g. of retention having deleted segments."""
    out = run_tool(GET_OFFSET_SHELL, ["--bootstrap-server", bootstrap, "--topic", topic,
                                      "--time", EARLIEST], version)
    found = {int(p): int(o) for p, o in re.findall(rf"^{re.escape(topic)}:(\d+):(\d+)$",
                                                     out.stdout, re.M)}
    if not found:
        raise LabError(f"Kafka's GetOffsetShell read no offset of {topic} from {bootstrap} "
                       f"(exit {out.returncode}): {out.stderr.strip()[-300:]}",
                       "Check that the cluster runs (`deliverylab cluster status`).")
    return found


def command_line(main_class: str, args: list[str], version: str | None = None) -> str:
    """The shell command that runs `main_class` with `args` from the cached jars (to paste into a
    terminal; nothing is downloaded to write it)."""
    return shlex.join(["java", "-cp", f"{libs_dir(version)}/*", main_class, *args])


def inspect_commands(kept: dict[str, Any], share: bool = False) -> list[str]:
    """Kafka's own tools on a kept run (`Run.names()`): describe each topic and group, and read
    the first topic from its beginning (for 5 s)."""
    bootstrap = ["--bootstrap-server", kept["bootstrap"]]
    groups = SHARE_GROUP_COMMAND if share else CONSUMER_GROUP_COMMAND
    lines = [command_line(TOPIC_COMMAND, [*bootstrap, "--describe", "--topic", t]) for t in kept["topics"]]
    lines += [command_line(groups, [*bootstrap, "--describe", "--group", g]) for g in kept["groups"]]
    if kept["topics"]:
        lines.append(command_line(CONSOLE_CONSUMER, [*bootstrap, "--topic", kept["topics"][0],
                                                     "--from-beginning", "--timeout-ms", "5000",
                                                     "--formatter-property", "print.key=true"]))
    return lines
