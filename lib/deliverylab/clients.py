"""What every Kafka client of the lab does the same way: keep librdkafka's log lines out of the
notebook, produce under back-pressure, ask a group's committed offsets, hand the client settings
to another process, and turn a Kafka exception into the text a learner reads."""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Callable

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

_QUIET = logging.getLogger("deliverylab.librdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False  # librdkafka's connection chatter must never reach a notebook


def quiet(conf: dict[str, Any]) -> dict[str, Any]:
    """A client config whose librdkafka log lines go to a silent logger instead of stderr."""
    return {**conf, "logger": _QUIET}


# The lab's own producers (the input writer, the retry pipeline's stages): idempotent, every
# replica — so what they write is exactly what was sent, and only the settings under test vary.
RELIABLE_PRODUCER: dict[str, Any] = {"enable.idempotence": True, "acks": "all", "linger.ms": 5}


def produce(producer: Producer, topic: str, key: bytes | None, value: bytes,
            on_delivery: Callable[[Any, Any], None] | None = None, wait_s: float = 0.05) -> None:
    """produce(), and while librdkafka's local queue is full (BufferError) serve delivery
    reports and try again: the app waits instead of dropping the message."""
    while True:
        try:
            producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(wait_s)


def poll_until(producer: Producer, due: float, clock: Callable[[], float] = time.monotonic) -> None:
    """Serve delivery reports until `due` (on `clock`): how a producer keeps a send rate.
    poll(timeout) returns as soon as it has served one report, long before its timeout while
    acks stream in, so a single poll(wait) per message sends at ack speed, not at the rate."""
    while (wait := due - clock()) > 0:
        producer.poll(wait)


def error_text(exc: BaseException) -> str:
    """The broker's or librdkafka's own words from a KafkaException (its KafkaError's str()),
    else the exception's text."""
    err = exc.args[0] if exc.args else None
    return err.str() if hasattr(err, "str") else str(exc)


# A run's processes get the client settings (which may hold a SASL password) through the
# environment of their own process, never through a file in the run folder, and without touching
# the caller's os.environ.
CLIENT_ENV = "DELIVERYLAB_CLIENT_JSON"


def client_env(config: dict[str, Any]) -> dict[str, str]:
    """The environment variables that hand `config` to a process of the run."""
    return {CLIENT_ENV: json.dumps(config)}


def client_from_env(**overrides: Any) -> dict[str, Any]:
    """In a process of the run: the client settings it was handed, with `overrides`, quiet."""
    return quiet({**json.loads(os.environ[CLIENT_ENV]), **overrides})


__all__ = ["quiet", "RELIABLE_PRODUCER", "produce", "poll_until", "error_text", "client_env",
           "client_from_env", "CLIENT_ENV"]


def fetch_committed(consumer: Consumer, partitions: list[TopicPartition],
                    within_s: float) -> list[TopicPartition] | None:
    """The group's committed offsets, asked explicitly and retried while its coordinator is
    starting or moving (NOT_COORDINATOR, a dead coordinator); None if not served within
    `within_s`. The caller decides what a timeout means (a worker exits, the library raises)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            committed = consumer.committed(partitions, timeout=5)
            if not any(t.error for t in committed):
                return committed
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)
