"""Entry point of a worker process: ``python -m deliverylab.workers ROLE RUN_DIR WORKER``."""
from __future__ import annotations

import sys
from pathlib import Path

from . import (at_least_once, at_most_once, auto_commit, exactly_once, idempotent_consumer,
               input_producer, producer)
from .common import WorkerContext, die_with_parent

ROLES = {
    "input": input_producer.run,
    "producer": producer.run,
    "at-most-once": at_most_once.run,
    "at-least-once": at_least_once.run,
    "auto-commit": auto_commit.run,
    "auto-commit-store": auto_commit.run_store,
    "exactly-once": exactly_once.run,
    "idempotent-consumer": idempotent_consumer.run,
}


def main(argv: list[str]) -> int:
    role, run_dir, worker = argv[0], Path(argv[1]), int(argv[2])
    die_with_parent()
    ctx = WorkerContext.load(run_dir, worker)
    ROLES[role](ctx)
    ctx.ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
