"""Kafka's own tools as independent witnesses: read a topic with Apache Kafka's ConsoleConsumer
(the class behind kafka-console-consumer.sh), started from the same jars as the brokers, and
compare with what the lab counted. Different client (Java), different code, same log."""
from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..kafka_tool import run_tool


@dataclass(frozen=True)
class WitnessCount:
    records: int  # every record read
    distinct: int  # distinct message ids
    duplicated: int  # extra copies
    ids: Counter


def console_consumer_ids(client: dict[str, Any], topic: str, isolation: str = "read_committed",
                         timeout_ms: int = 3000) -> WitnessCount:
    """Message ids of every record in `topic`, as Kafka's ConsoleConsumer reads them."""
    with tempfile.TemporaryDirectory(prefix="witness-") as tmp:
        props = Path(tmp) / "consumer.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in client.items()
                                 if k != "bootstrap.servers" and not callable(v)))
        out = run_tool("org.apache.kafka.tools.consumer.ConsoleConsumer",
                       ["--bootstrap-server", client["bootstrap.servers"], "--topic", topic,
                        "--from-beginning", "--timeout-ms", str(timeout_ms),
                        "--isolation-level", isolation, "--consumer.config", str(props)])
    ids: Counter = Counter()
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            ids[json.loads(line)["id"]] += 1
    if not ids and out.returncode not in (0, 1):
        raise LabError(f"Kafka's ConsoleConsumer failed on topic {topic!r} (exit {out.returncode}): "
                       f"{out.stderr.strip()[-300:]}", "Check that the topic exists and the cluster runs.")
    total = sum(ids.values())
    return WitnessCount(total, len(ids), total - len(ids), ids)
