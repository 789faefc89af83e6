"""Topic names: Kafka's own rules, checked before a request so the error is readable."""
from __future__ import annotations

import re
import uuid

from .errors import LabError

_LEGAL = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
# The most partitions a run's topic gets: a run reads every partition back and its workers
# fetch each one; past a few dozen a 3-broker laptop cluster spends the run creating, electing
# and deleting them, and ordering (the lesson of partitions) shows with 1 to 6.
MAX_PARTITIONS = 32
PARTITIONS_FIX = f"Use 1 (ordering is per partition) to {MAX_PARTITIONS}."


def check_topic_name(name: str) -> str:
    if not isinstance(name, str) or not _LEGAL.match(name) or name in (".", ".."):
        raise LabError(f"{name!r} is not a valid Kafka topic name.",
                       "Use 1–249 characters from letters, digits, '.', '_' and '-', e.g. "
                       "'payments-at-least-once'.")
    return name


def unique_topic(prefix: str) -> str:
    """One topic per run, so runs never see each other's records."""
    safe = re.sub(r"[^a-zA-Z0-9._-]", "-", prefix)[:200]
    return f"{safe}-{uuid.uuid4().hex[:8]}"


def group_for(topic: str) -> str:
    """The consumer group of the lab's workers reading `topic` (one per topic, so one per run)."""
    return f"{topic}-group"


def transactional_id(topic: str, member: int | None = None) -> str:
    """The transactional.id of the lab's producer writing for `topic`; a group member's own
    (each member fences only its own zombies)."""
    base = f"{topic}-txn"
    return base if member is None else f"{base}-{member}"
