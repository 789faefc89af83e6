"""The course's catalog: the .NET ↔ librdkafka settings map the notebooks show, and the named
producer configurations that the matrix, the validation and the cheat sheet run.

    settings_table(["acks", "EnableIdempotence"])   # librdkafka key, .NET name, default, meaning
    PRODUCER_CONFIGS["idempotent"]                  # librdkafka keys, verbatim
"""
from __future__ import annotations

import textwrap
from typing import Any, Sequence

import pandas as pd

from .errors import LabError

__all__ = ["SETTINGS", "SettingsTable", "settings_table", "PRODUCER_CONFIGS", "SAFE", "ACKS_ALL", "config_label"]

# The course's recommended producer (notebook 12): every in-sync replica acknowledges, and the
# broker drops a retried batch it already has. The story's "recommended" side and the
# benchmark's "acks=all + idempotence" run it.
SAFE: dict[str, Any] = {"acks": "all", "enable.idempotence": True}
# acks=all, every other key librdkafka's default: what a producer spec runs when given no config.
ACKS_ALL: dict[str, Any] = {"acks": "all"}

# The named producer configurations the matrix, the validation and the cheat sheet run
# (librdkafka keys verbatim). request.timeout.ms=1000 makes a request to a paused broker time out
# (and be retried) within a run's fault window.
PRODUCER_CONFIGS: dict[str, dict[str, Any]] = {
    "acks=0": {"acks": "0"},
    "acks=1": {"acks": "1"},
    "acks=all": {"acks": "all", "enable.idempotence": False},
    "acks=all, retries, 5 in flight, no idempotence": {
        "acks": "all", "enable.idempotence": False, "max.in.flight.requests.per.connection": 5,
        "request.timeout.ms": 1000},
    "idempotent": {"acks": "all", "enable.idempotence": True, "request.timeout.ms": 1000},
}


# The settings map: librdkafka key, its Confluent.Kafka (.NET) property, librdkafka's default and
# what it does. Defaults as in librdkafka's CONFIGURATION.md.
SETTINGS: tuple[tuple[str, str, str, str], ...] = (
    ("acks", "Acks (None / Leader / All)", "all (-1)",
     "How many replicas must have a write before the leader acknowledges it: 0, 1 or all in-sync."),
    ("message.send.max.retries", "MessageSendMaxRetries", "2147483647",
     "How often the producer retries a failed send (alias: retries)."),
    ("retry.backoff.ms", "RetryBackoffMs", "100 (growing to retry.backoff.max.ms 1000)",
     "Pause before a retry; it grows exponentially up to retry.backoff.max.ms."),
    ("retry.backoff.max.ms", "RetryBackoffMaxMs", "1000",
     "The longest pause between retries: set it with retry.backoff.ms (must not be smaller)."),
    ("enable.idempotence", "EnableIdempotence", "false",
     "Producer sequence numbers: the broker drops a retried batch it already has; sets acks=all "
     "and at most 5 requests in flight where you leave them unset (an incompatible value you set, "
     "e.g. acks=1, makes the producer fail to start). Does not catch a message the application "
     "sends twice."),
    ("max.in.flight.requests.per.connection", "MaxInFlight", "1000000",
     "Requests sent but not yet answered, per broker; above 1 without idempotence a retry can "
     "reorder (alias: max.in.flight)."),
    ("message.timeout.ms", "MessageTimeoutMs", "300000",
     "How long a message may take in total (queue, sends, retries) before it is reported failed "
     "(alias: delivery.timeout.ms)."),
    ("request.timeout.ms", "RequestTimeoutMs", "30000",
     "The produce request's ack timeout, enforced by the broker: how long the leader waits for "
     "the replicas `acks` asks for before it answers REQUEST_TIMED_OUT (the records may be written)."),
    ("socket.timeout.ms", "SocketTimeoutMs", "60000",
     "The client's own timeout for a network request: a produce request times out in the client "
     "after the lesser of this and the first message's remaining message.timeout.ms."),
    ("linger.ms", "LingerMs", "5",
     "How long the producer waits to fill a batch before sending it."),
    ("partitioner", "Partitioner", "consistent_random",
     "Which partition a keyed message goes to: librdkafka hashes the key with CRC32, Java's "
     "producer with murmur2 — set murmur2_random (.NET Partitioner.Murmur2Random) for the same "
     "partition as a Java producer."),
    ("transactional.id", "TransactionalId", "—",
     "A stable name for a transactional producer; a new instance with the same id fences the old "
     "one."),
    ("transaction.timeout.ms", "TransactionTimeoutMs", "60000",
     "How long the transaction coordinator lets a transaction stay open, counted from its start "
     "(its first partition added), before it aborts it. Until then every read_committed reader "
     "of its partitions waits at the last stable offset — also for records other producers "
     "committed after it."),
    ("enable.auto.commit", "EnableAutoCommit", "true",
     "Commit the stored offsets in the background, every auto.commit.interval.ms."),
    ("auto.commit.interval.ms", "AutoCommitIntervalMs", "5000",
     "The period of the background auto-commit."),
    ("enable.auto.offset.store", "EnableAutoOffsetStore", "true",
     "Store a message's offset for the next commit as soon as poll() returns it (before it is "
     "processed)."),
    ("isolation.level", "IsolationLevel", "read_committed",
     "read_committed hides records of open and aborted transactions; read_uncommitted shows "
     "everything."),
    ("group.instance.id", "GroupInstanceId", "—",
     "Static membership: a consumer restarted with the same id within session.timeout.ms takes "
     "its partitions back without a rebalance (classic protocol; under KIP-848 a restart before "
     "the dead member's session ends is refused, UNRELEASED_INSTANCE_ID)."),
    ("session.timeout.ms", "SessionTimeoutMs", "45000",
     "How long the group coordinator waits for a silent consumer before it gives its partitions "
     "to others."),
    ("heartbeat.interval.ms", "HeartbeatIntervalMs", "3000",
     "How often a classic group member heartbeats; a rebalance is learnt from a heartbeat's answer."),
    ("max.poll.interval.ms", "MaxPollIntervalMs", "300000",
     "The longest time between two polls: a member slower than this leaves the group and its "
     "later commits fail."),
    ("group.protocol", "GroupProtocol", "classic",
     "classic: client-side assignors; consumer (KIP-848): the broker assigns, and "
     "session.timeout.ms, heartbeat.interval.ms, partition.assignment.strategy are refused."),
    ("partition.assignment.strategy", "PartitionAssignmentStrategy", "range,roundrobin",
     "Classic assignors: range and roundrobin revoke every partition on a rebalance (eager); "
     "cooperative-sticky revokes only those that move."),
)
_SETTING_COLUMNS = ["librdkafka key", ".NET property", "librdkafka default", "meaning"]


class SettingsTable(pd.DataFrame):
    """The settings table as a DataFrame that shows its text whole: pandas cuts a cell at
    display.max_colwidth (50 characters) in the text and the HTML view, and the meaning column
    is longer than that."""

    @property
    def _constructor(self):
        return SettingsTable

    def __repr__(self) -> str:
        if list(self.columns) != _SETTING_COLUMNS:  # a learner's selection of columns
            with pd.option_context("display.max_colwidth", None):
                return super().__repr__()
        # One block per setting, the meaning wrapped: readable in a terminal and a text output.
        return "\n".join(
            f"{key}  ·  .NET {dotnet}  ·  default {default}\n"
            + textwrap.fill(meaning, 96, initial_indent="    ", subsequent_indent="    ")
            for key, dotnet, default, meaning in self.itertuples(index=False))

    def _repr_html_(self) -> str | None:
        with pd.option_context("display.max_colwidth", None):
            return (self.style.hide(axis="index")
                    .set_properties(**{"text-align": "left", "white-space": "normal"})
                    .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
                    .to_html())


def settings_table(keys: Sequence[str] | str | None = None) -> pd.DataFrame:
    """librdkafka key, .NET property, librdkafka default and meaning, for `keys` (default: all).

    A key may be given as the librdkafka key (``"acks"``) or the .NET name (``"Acks"``).
    """
    table = SettingsTable(list(SETTINGS), columns=_SETTING_COLUMNS)
    if keys is None:
        return table
    keys = [keys] if isinstance(keys, str) else list(keys)
    dotnet = {row[1].split(" ")[0].lower(): row[0] for row in SETTINGS}
    rows = []
    for key in keys:
        name = dotnet.get(str(key).lower(), str(key))
        if name not in set(table["librdkafka key"]):
            raise LabError(f"{key!r} is not in the course's settings table.",
                           f"Use one of {', '.join(table['librdkafka key'])} (or its .NET name).")
        rows.append(table[table["librdkafka key"] == name])
    return SettingsTable(pd.concat(rows, ignore_index=True))


def config_label(config: dict[str, Any]) -> str:
    """A configuration as a label: its librdkafka keys and values, or 'defaults'."""
    return ", ".join(f"{k}={v}" for k, v in config.items()) or "defaults"
