"""The course's words in code, each defined here once and imported everywhere else (notebooks
through deliverylab.course): the delivery models, the workers and their crash points, the
ledger's event kinds, and what can become of a message. A name in a table, a plot, a panel and
a notebook is then the same string, and a typo is an ImportError instead of a silent mismatch.
"""
from __future__ import annotations

# --- delivery models: the order of poll, process and commit in a consumer's loop --------------
AT_MOST_ONCE = "at-most-once"  # commit, then process
AT_LEAST_ONCE = "at-least-once"  # process, then commit
AUTO_COMMIT = "auto-commit"  # librdkafka's default: offset stored at poll(), committed by a timer
AUTO_COMMIT_STORE = "auto-commit-store"  # the timer commits only offsets stored after processing
EXACTLY_ONCE = "exactly-once"  # consume-transform-produce in a Kafka transaction
IDEMPOTENT_CONSUMER = "idempotent-consumer"  # effect and offset in one database transaction
MODELS = (AT_MOST_ONCE, AT_LEAST_ONCE, AUTO_COMMIT, AUTO_COMMIT_STORE, EXACTLY_ONCE,
          IDEMPOTENT_CONSUMER)
AUTO_COMMIT_MODELS = (AUTO_COMMIT, AUTO_COMMIT_STORE)

# --- kinds of runs, and the workers that are not a delivery model ----------------------------
CONSUMER = "consumer"  # a delivery model's run (a Result's kind)
PRODUCER = "producer"  # the producer under test (a worker role, and a Result's kind)
SHARE = "share"  # a share-group member, KIP-932 (a worker role, and a Result's kind)
INPUT = "input"  # the worker that writes a consumer run's input (it never crashes)
RETRY = "retry"  # the retry pipeline's main stage (its crash point; roles below)
RETRY_BLOCKING = "retry-blocking"  # the blocking variant's one worker
HANGING = "hanging-transaction"  # opens a transaction, writes, and hangs (SIGSTOP) before its end


def retry_stage(n: int) -> str:
    """The worker role of the retry pipeline's stage n (0: main, n: retry topic n)."""
    return f"retry-stage-{n}"


# --- crash points: named places in a worker's loop, in loop order -------------------------------
# `mid-process`: the record was handed out and its work (processing_ms) has run, but the worker
# dies before the effect is written. It is a point of its own only where something happens in
# the background while the work runs: auto-commit's timer. (In the other loops it would behave
# exactly like the point before it, so they do not offer it.)
BEFORE_FLUSH = "before-flush"  # the producer: handed to produce(), the process dies before flush()
CRASH_POINTS: dict[str, tuple[str, ...]] = {
    AT_MOST_ONCE: ("after-poll", "after-commit", "commit-in-flight", "after-process"),
    AT_LEAST_ONCE: ("after-poll", "after-process", "commit-in-flight", "after-commit"),
    AUTO_COMMIT: ("after-poll", "mid-process", "after-process"),
    AUTO_COMMIT_STORE: ("after-poll", "mid-process", "after-process"),
    EXACTLY_ONCE: ("after-poll", "mid-transaction", "before-commit-transaction", "after-commit"),
    IDEMPOTENT_CONSUMER: ("after-poll", "mid-transaction", "after-process", "commit-in-flight",
                          "after-commit"),
    PRODUCER: (BEFORE_FLUSH,),
    # A share-group member: before any acknowledgement, processed but not acknowledged, and
    # after the acknowledgements were committed.
    SHARE: ("after-poll", "after-process", "after-ack"),
    # The retry pipeline's main stage: its batch forwarded and acknowledged, its input offsets
    # not yet committed.
    RETRY: ("before-commit",),
}
ALL_POINTS = tuple(dict.fromkeys(p for pts in CRASH_POINTS.values() for p in pts))

# --- the ledger's event kinds (its events table: kind, worker, pid, detail, t) -----------------
# a worker's life, written by its supervisor (a crash by the worker itself, before it dies)
START, RESTART, CRASH, EXIT = "start", "restart", "crash", "exit"
TIMEOUT = "timeout"  # the run's time limit passed: its worker was stopped
INTERRUPTED = "interrupted"  # a kernel interrupt stopped the worker
WORKER_ERROR = "error"  # the worker exited with an error (its last stderr line in detail)
REJOIN = "rejoin"  # a group member refused for now (workers/exits.REJOIN): started again
# the nemesis: a fault struck, and when healing began; what it watched once the heal was done
# (kill-leader-alone: the partition's leader after the heal, and how long it had none)
FAULT, HEAL, HEALED = "fault", "heal", "healed"
# a group member's partitions (detail: member, partitions)
ASSIGNED, REVOKED, PARTITIONS_LOST = "assigned", "revoked", "lost"
STALL = "stall"  # a member's processing stalled (too slow for max.poll.interval.ms)
# the group stood (every starting member held partitions, each partition one member): only then
# is the input written, so crashes and faults strike a stable group (detail: holdings)
GROUP_STANDS = "group-stands"
# deliverylab check: the lab ended a program that does not exit by itself (no lag, output
# quiet), and what a killed program had sent that reached the log or the group just after
STOP, AFTERMATH = "stop", "aftermath"
# Scenario 2, the worker and the coordinator nemesis taking turns (workers/scenario2.py)
S2_READY, S2_PAUSED, S2_SETTLED, S2_RESUMED = "s2-ready", "s2-paused", "s2-settled", "s2-resumed"
# transactions that fail in production (notebook 06): the exactly-once loop aborted a transaction
# on a processing error (detail: the input index, whether it rewound); a hanging transaction was
# opened (its records written, detail: ids) and a second producer committed after it (detail:
# ids); a reader of the stalled partition read a record (detail: reader, id, offset)
ABORT, TXN_OPEN, TXN_COMMITTED, READ = "abort", "txn-open", "txn-committed", "read"
EVENT_KINDS = (START, RESTART, CRASH, EXIT, TIMEOUT, INTERRUPTED, WORKER_ERROR, REJOIN, FAULT, HEAL, HEALED,
               ASSIGNED, REVOKED, PARTITIONS_LOST, STALL, GROUP_STANDS, STOP, AFTERMATH, S2_READY, S2_PAUSED,
               S2_SETTLED, S2_RESUMED, ABORT, TXN_OPEN, TXN_COMMITTED, READ)

# --- outcomes: what can become of a message (the README's first paragraph names them) ---------
DELIVERED_ONCE = "delivered-once"
LOST = "lost"
DUPLICATED = "duplicated"
ACKED_BUT_LOST = "acked-but-lost"
FAILED_REPORTED = "failed-reported"
UNACKED_BUT_STORED = "unacked-but-stored"
ARCHIVED = "archived"  # share groups: the broker gave up on it (rejected, or delivery limit hit)
# archived, and its copy read back from the dead-letter topic (share groups, KIP-1191; the retry
# pipeline's DLT)
DEAD_LETTERED = "dead-lettered"
PROCESSED = "processed"  # the retry pipeline: it reached the processed topic
# consumer runs that hit their time limit: never processed, and no commit or later record of its
# partition went past it: the consumers had not got there yet (not lost: it is still to be read)
UNREAD = "unread"
CONSUMER_OUTCOMES = (DELIVERED_ONCE, LOST, DUPLICATED)
SHARE_OUTCOMES = (DELIVERED_ONCE, DUPLICATED, ARCHIVED, DEAD_LETTERED, LOST)
PRODUCER_OUTCOMES = (DELIVERED_ONCE, DUPLICATED, ACKED_BUT_LOST, FAILED_REPORTED,
                     UNACKED_BUT_STORED, LOST)
RETRY_OUTCOMES = (PROCESSED, DEAD_LETTERED, LOST, DUPLICATED)

# --- anomalies: what went wrong, named by its cause as Jepsen's queue checker names it ----------
# (jepsen/src/jepsen/tests/kafka.clj). A message's outcome says what became of it; its anomaly
# says why. Consumer runs:
POLL_SKIP = "poll-skip"  # the consumer's reading jumped over it: it is still in the log
LOST_WRITE = "lost-write"  # acknowledged to its producer, and gone from the log
NEVER_PRODUCED = "never-produced"  # never acknowledged and not in the log: it never got there
DUPLICATE = "duplicate"  # processed (or stored) more than once
# per partition: the consumer's next read began at or before where its last one left off
# (expected after a crash or a rebalance: it rewinds to the committed offset)
NONMONOTONIC_POLL = "nonmonotonic-poll"
G1A = "G1a"  # aborted read: a read_committed reader saw a record of an aborted transaction
INCONSISTENT_OFFSETS = "inconsistent-offsets"  # one (partition, offset), two different records
CONSUMER_ANOMALIES = (POLL_SKIP, LOST_WRITE, NEVER_PRODUCED, DUPLICATE, NONMONOTONIC_POLL, G1A,
                      INCONSISTENT_OFFSETS)
# Share-group and retry-pipeline runs read no input back: their losses cannot be split into
# skipped and gone (anomalies.unread_input_anomalies)
UNCLASSIFIED_LOSS = "unclassified-loss"
# Producer runs: a delivery report's persistence status as librdkafka's rd_kafka_message_status()
# and Confluent.Kafka's DeliveryResult.Status report it (the Python client does not expose it:
# anomalies.persistence_status derives it from the error name)
PERSISTED = "persisted"
POSSIBLY_PERSISTED = "possibly-persisted"
NOT_PERSISTED = "not-persisted"
PERSISTENCE_STATUSES = (PERSISTED, POSSIBLY_PERSISTED, NOT_PERSISTED)
# .NET's names for them (Confluent.Kafka.PersistenceStatus)
DOTNET_PERSISTENCE = {PERSISTED: "Persisted", POSSIBLY_PERSISTED: "PossiblyPersisted",
                      NOT_PERSISTED: "NotPersisted"}

# --- benchmarks: the control pair, one setting run twice, the second copy's label ending so ---
CONTROL = " (control)"
