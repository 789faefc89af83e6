"""Entry point of a worker process: ``python -m deliverylab.workers ROLE RUN_DIR WORKER``."""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from ..cluster.processes import die_with_parent
from . import (at_least_once, at_most_once, auto_commit, exactly_once, idempotent_consumer,
               input_producer, producer, retry_stage, share_consumer)
from . import exits
from .common import WorkerContext

ROLES = {
    "input": input_producer.run,
    "producer": producer.run,
    "at-most-once": at_most_once.run,
    "at-least-once": at_least_once.run,
    "auto-commit": auto_commit.run,
    "auto-commit-store": auto_commit.run_store,
    "exactly-once": exactly_once.run,
    "idempotent-consumer": idempotent_consumer.run,
    "share": share_consumer.run,
    "retry-blocking": retry_stage.run_blocking,
    **{f"retry-stage-{n}": partial(retry_stage.run_stage, n) for n in range(retry_stage.MAX_STAGES)},
}


def main(argv: list[str]) -> int:
    role, run_dir, worker = argv[0], Path(argv[1]), int(argv[2])
    die_with_parent()
    ctx = WorkerContext.load(run_dir, worker)
    ROLES[role](ctx)
    ctx.ledger.close()
    return exits.TIME_LIMIT if ctx.out_of_time else exits.DONE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
