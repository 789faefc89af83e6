"""A message's identity and its record: written and parsed here only.

    msg_id(7)            # 'm000007' (six digits at least; 'm1234567' past 999,999)
    index_of('m000007')  # 7
    key_for(7, keys=8)   # 'customer-007'
    seq_for(7, keys=8)   # 0: the message's number among those of its key
    record(7, keys=8)    # {'id': 'm000007', 'index': 7, 'key': 'customer-007', 'seq': 0}
    value_for(7, 8, payment)            # the Kafka message value of input message 7 (bytes)
    value_of({"id": "first-0", "key": "first", "seq": 0})   # any lab record as a value
    record_of(value), id_of_value(value)                    # … and back

A value is compact JSON with the record's fields in order, `id` first: `id_of_value` reads the
id from there without parsing the rest (the producers' delivery callbacks run per message).
A payment (JSON already, payloads.payment_for) is embedded under "payment" as it is; a
benchmark pads its values to a size with a "pad" string.

Every run sends at most MAX_MESSAGES messages (`check_messages`): a run is a lesson, and a
million records already takes minutes; a larger number is a typo, refused at once with a
clear error instead of building a list that never ends.
"""
from __future__ import annotations

import json
import operator
from typing import Any, Mapping

from .errors import require_whole

MAX_MESSAGES = 1_000_000
ID_PREFIX = "m"
# A record value written by the lab starts with its id field; `id_of_value` reads the id back
# from there without parsing the whole JSON (the producers' delivery callbacks run per message).
VALUE_HEAD = b'{"id":"'


def msg_id(index: int) -> str:
    """The id of input message number ``index`` (0-based)."""
    index = operator.index(index)
    if index < 0:
        raise ValueError(f"a message index is ≥ 0, not {index}")
    return f"{ID_PREFIX}{index:06d}"


def index_of(ident: str) -> int:
    """The input position of a message id (the inverse of `msg_id`)."""
    if not ident.startswith(ID_PREFIX) or not ident[len(ID_PREFIX):].isdigit():
        raise ValueError(f"{ident!r} is not a lab message id (like 'm000007')")
    return int(ident[len(ID_PREFIX):])


# The keys of a lab group's input over its 6 partitions (notebook 04, the group panel):
# librdkafka's default partitioner (consistent_random) puts a key on CRC32(key) % partitions,
# and the default 8 keys would leave p0 and p3 empty; 12 give every partition records.
GROUP_KEYS = 12


def key_for(index: int, keys: int) -> str:
    """The key of message ``index`` when the input spreads over ``keys`` keys (round robin)."""
    return f"customer-{index % keys:03d}"


def seq_for(index: int, keys: int) -> int:
    """The message's position among the messages of its key (0, 1, 2, … per key)."""
    return index // keys


def record(index: int, keys: int) -> dict[str, Any]:
    """Input message `index` as the lab writes it: its id, index, key and per-key sequence."""
    return {"id": msg_id(index), "index": index, "key": key_for(index, keys),
            "seq": seq_for(index, keys)}


def _json(value: Any) -> str:
    if type(value) is int:
        return str(value)
    if type(value) is str and value.isascii() and value.isprintable() and '"' not in value \
            and "\\" not in value:
        return f'"{value}"'  # the lab's ids and keys: nothing to escape
    return json.dumps(value, separators=(",", ":"))


def _close(text: str, payment: bytes | None, pad_to: int | None) -> bytes:
    """The value from its fields' JSON text (no braces), the payment or the padding last."""
    if payment is not None:
        return b"{" + text.encode() + b',"payment":' + payment + b"}"
    if pad_to is not None:
        head = "{" + text + ',"pad":"'
        return (head + "x" * max(0, pad_to - len(head) - 2) + '"}').encode()
    return ("{" + text + "}").encode()


def value_of(rec: Mapping[str, Any], payment: bytes | None = None,
             pad_to: int | None = None) -> bytes:
    """Any lab record (a mapping with an "id") as a Kafka message value: compact JSON, the id
    first, then the other fields in order; `payment` (JSON bytes) embedded as it is, or `pad_to`
    bytes in all (a "pad" string fills the value up to it)."""
    fields = [f'"id":{_json(rec["id"])}'] + [f'"{k}":{_json(v)}' for k, v in rec.items() if k != "id"]
    return _close(",".join(fields), payment, pad_to)


def value_for(index: int, keys: int, payment: bytes | None = None,
              pad_to: int | None = None) -> bytes:
    """value_of(record(index, keys), payment, pad_to), formatted by hand: the input writer, the
    producer under test and the benchmark send it for every message, and the general path
    (json for each field) takes 2–5 µs a message against 1 µs here — the benchmark would
    measure Python instead of the producer."""
    text = (f'"id":"{msg_id(index)}","index":{index},"key":"{key_for(index, keys)}",'
            f'"seq":{seq_for(index, keys)}')
    return _close(text, payment, pad_to)


def record_of(value: bytes) -> dict[str, Any]:
    """A lab record from its Kafka message value."""
    return json.loads(value)


def id_of_value(value: bytes) -> str:
    """The id from a record value that starts with ``{"id":"…"``, without parsing the rest."""
    if not value.startswith(VALUE_HEAD):
        raise ValueError(f"a lab record value starts with {VALUE_HEAD!r}, not {value[:12]!r}")
    end = value.index(b'"', len(VALUE_HEAD))
    return value[len(VALUE_HEAD):end].decode()


# A run's processes are numbered in the ledger (its `worker` column): a group member's starts
# apart from the others', member * MEMBER_STRIDE + start (member 1's third start is 1002).
MEMBER_STRIDE = 1000


def worker_number(member: int, start: int = 0) -> int:
    return member * MEMBER_STRIDE + start


def member_of(worker: int) -> int:
    """The group member a ledger's worker number belongs to."""
    return int(worker) // MEMBER_STRIDE


def check_messages(value: object, fix: str = "Use e.g. messages=200.") -> None:
    """messages must be a whole number from 1 to MAX_MESSAGES; anything else is a LabError."""
    require_whole("messages", value, fix, most=MAX_MESSAGES)


__all__ = ["MAX_MESSAGES", "msg_id", "index_of", "key_for", "seq_for", "record", "value_of",
           "value_for", "record_of", "id_of_value", "check_messages", "MEMBER_STRIDE",
           "worker_number", "member_of"]
