"""The outcome vocabulary of the course: what can become of a message, in code, tables and plots
alike (the README's first paragraph names them)."""
from __future__ import annotations

DELIVERED_ONCE = "delivered-once"
LOST = "lost"
DUPLICATED = "duplicated"
ACKED_BUT_LOST = "acked-but-lost"
FAILED_REPORTED = "failed-reported"
UNACKED_BUT_STORED = "unacked-but-stored"
ARCHIVED = "archived"  # share groups: the broker gave up on it (rejected, or delivery limit hit)
# share groups with a dead-letter topic (KIP-1191): archived, and its copy read back from that topic
DEAD_LETTERED = "dead-lettered"
# consumer runs that hit their time limit: never processed, and no commit or later record of its
# partition went past it: the consumers had not got there yet (not lost: it is still to be read)
UNREAD = "unread"
CONSUMER_OUTCOMES = (DELIVERED_ONCE, LOST, DUPLICATED)
SHARE_OUTCOMES = (DELIVERED_ONCE, DUPLICATED, ARCHIVED, DEAD_LETTERED, LOST)
PRODUCER_OUTCOMES = (DELIVERED_ONCE, DUPLICATED, ACKED_BUT_LOST, FAILED_REPORTED,
                     UNACKED_BUT_STORED, LOST)
