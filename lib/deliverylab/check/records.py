"""The input id an output (or input) record carries, as the check reads it.

Accepted: the lab's own input value, or a copy of it (it starts with ``{"id":"m000007",``), or
any JSON object whose "id" field is a lab id. Nothing else: a record without such an id cannot
be counted, and the check says so instead of counting it as noise.
"""
from __future__ import annotations

import json
from typing import Any

from ..ids import VALUE_HEAD, id_of_value, index_of


def lab_id(value: Any) -> str | None:
    """The input id a record value carries, or None."""
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, (bytes, bytearray)):
        return None
    value = bytes(value)
    try:
        ident = id_of_value(value) if value.startswith(VALUE_HEAD) else json.loads(value).get("id")
        index_of(ident)
        return ident
    except (ValueError, AttributeError, TypeError):
        return None


__all__ = ["lab_id"]
