"""The clients a checked function is handed: real confluent_kafka clients, watched.

`CheckedConsumer` is a `confluent_kafka.Consumer` and `CheckedProducer` a `confluent_kafka.
Producer` (subclasses: isinstance holds, every method not named here is librdkafka's own). The
methods named here call librdkafka exactly as the learner called them — same arguments, same
return value, same exceptions — and around the call tell the session (check/worker.py) what
happened, so it can record it and, on the seeded plan, kill the process *just before* a call.
The learner never calls the lab: `session` is set by the worker after the client is built.
"""
from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition


class InputDone(BaseException):
    """Raised by the lab's consumer at a call made after the whole input was handled: it ends
    the learner's loop as a shutdown would (`finally` blocks run; `except Exception` does not
    catch it)."""


def _arg(args: tuple, kwargs: dict, position: int, name: str) -> Any:
    return args[position] if len(args) > position else kwargs.get(name)


class CheckedConsumer(Consumer):
    """confluent_kafka.Consumer; poll, consume, commit, store_offsets and close are watched."""

    session: Any = None

    def poll(self, *args: Any, **kwargs: Any) -> Message | None:
        self.session.before("poll")
        msg = super().poll(*args, **kwargs)
        self.session.got("poll", [msg] if msg is not None else [])
        return msg

    def consume(self, *args: Any, **kwargs: Any) -> list[Message]:
        self.session.before("consume")
        msgs = super().consume(*args, **kwargs)
        self.session.got("consume", msgs)
        return msgs

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        """commit([message], [offsets], [asynchronous=True]): asynchronous by default, as in
        librdkafka; a synchronous commit's answer says what the broker stored."""
        message, offsets = _arg(args, kwargs, 0, "message"), _arg(args, kwargs, 1, "offsets")
        asynchronous = _arg(args, kwargs, 2, "asynchronous")
        asynchronous = True if asynchronous is None else bool(asynchronous)
        self.session.before("commit")
        meant = self.session.commit_offsets(message, offsets)
        try:
            result = super().commit(*args, **kwargs)
        except KafkaException as exc:
            self.session.commit_answered(meant, asynchronous, None, exc)
            raise
        self.session.commit_answered(meant, asynchronous, result, None)
        return result

    def store_offsets(self, *args: Any, **kwargs: Any) -> Any:
        message, offsets = _arg(args, kwargs, 0, "message"), _arg(args, kwargs, 1, "offsets")
        self.session.before("store_offsets")
        result = super().store_offsets(*args, **kwargs)
        self.session.stored(message, offsets)
        return result

    def close(self, *args: Any, **kwargs: Any) -> Any:
        self.session.before("close")
        result = super().close(*args, **kwargs)
        self.session.after("close")
        return result

    # The lab's own questions go around the watch (they are not the learner's calls).
    def lab_close(self) -> None:
        super().close()


class CheckedProducer(Producer):
    """confluent_kafka.Producer; produce, flush and the transaction calls are watched, and every
    delivery report is recorded before the learner's own callback runs."""

    session: Any = None

    def produce(self, *args: Any, **kwargs: Any) -> None:
        value = _arg(args, kwargs, 1, "value")
        self.session.before("produce")
        args, kwargs = self.session.wrap_report(args, kwargs)
        super().produce(*args, **kwargs)  # BufferError and KafkaException reach the learner
        self.session.produced(_arg(args, kwargs, 0, "topic"), value, _arg(args, kwargs, 2, "key"))

    def flush(self, *args: Any, **kwargs: Any) -> int:
        self.session.before("flush")
        left = super().flush(*args, **kwargs)
        self.session.after("flush")
        return left

    def begin_transaction(self, *args: Any, **kwargs: Any) -> None:
        self.session.before("begin_transaction")
        super().begin_transaction(*args, **kwargs)
        self.session.after("begin_transaction")

    def send_offsets_to_transaction(self, *args: Any, **kwargs: Any) -> None:
        positions: list[TopicPartition] = _arg(args, kwargs, 0, "positions") or []
        self.session.before("send_offsets_to_transaction")
        super().send_offsets_to_transaction(*args, **kwargs)
        self.session.offsets_sent(positions)

    def commit_transaction(self, *args: Any, **kwargs: Any) -> None:
        self.session.before("commit_transaction")
        super().commit_transaction(*args, **kwargs)
        self.session.transaction_ended(committed=True)

    def abort_transaction(self, *args: Any, **kwargs: Any) -> None:
        self.session.before("abort_transaction")
        super().abort_transaction(*args, **kwargs)
        self.session.transaction_ended(committed=False)


__all__ = ["CheckedConsumer", "CheckedProducer", "InputDone"]
