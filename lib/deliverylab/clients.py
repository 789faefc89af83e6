"""What every Kafka client of the lab does the same way: produce under back-pressure, and turn
a Kafka exception into the text a learner reads."""
from __future__ import annotations

from typing import Any, Callable

from confluent_kafka import Producer


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


def error_text(exc: BaseException) -> str:
    """The broker's or librdkafka's own words from a KafkaException (its KafkaError's str()),
    else the exception's text."""
    err = exc.args[0] if exc.args else None
    return err.str() if hasattr(err, "str") else str(exc)


__all__ = ["produce", "error_text"]
