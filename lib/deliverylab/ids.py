"""A message's identity: its id, its key and its place in the input, written and parsed here only.

    msg_id(7)            # 'm000007' (six digits at least; 'm1234567' past 999,999)
    index_of('m000007')  # 7
    key_for(7, keys=8)   # 'customer-007'
    seq_for(7, keys=8)   # 0: the message's number among those of its key

Every run sends at most MAX_MESSAGES messages (`check_messages`): a run is a lesson, and a
million records already takes minutes; a larger number is a typo, refused at once with a
clear error instead of building a list that never ends.
"""
from __future__ import annotations

import operator

from .errors import LabError, require_whole

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


def key_for(index: int, keys: int) -> str:
    """The key of message ``index`` when the input spreads over ``keys`` keys (round robin)."""
    return f"customer-{index % keys:03d}"


def seq_for(index: int, keys: int) -> int:
    """The message's position among the messages of its key (0, 1, 2, … per key)."""
    return index // keys


def id_of_value(value: bytes) -> str:
    """The id from a record value that starts with ``{"id":"…"``, without parsing the rest."""
    if not value.startswith(VALUE_HEAD):
        raise ValueError(f"a lab record value starts with {VALUE_HEAD!r}, not {value[:12]!r}")
    end = value.index(b'"', len(VALUE_HEAD))
    return value[len(VALUE_HEAD):end].decode()


def check_messages(value: object, fix: str = "Use e.g. messages=200.") -> None:
    """messages must be a whole number from 1 to MAX_MESSAGES; anything else is a LabError."""
    require_whole("messages", value, fix, most=MAX_MESSAGES)


__all__ = ["MAX_MESSAGES", "msg_id", "index_of", "key_for", "seq_for", "id_of_value",
           "check_messages"]
