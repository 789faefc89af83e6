"""Entry point of a worker process: ``python -m deliverylab.workers ROLE RUN_DIR WORKER``."""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from .. import vocabulary as v
from ..cluster.processes import die_with_parent
from . import (at_least_once, at_most_once, auto_commit, exactly_once, hanging,
               idempotent_consumer, input_producer, producer, retry_stage, share_consumer)
from . import exits
from .common import WorkerContext

ROLES = {
    v.INPUT: input_producer.run,
    v.PRODUCER: producer.run,
    v.AT_MOST_ONCE: at_most_once.run,
    v.AT_LEAST_ONCE: at_least_once.run,
    v.AUTO_COMMIT: auto_commit.run,
    v.AUTO_COMMIT_STORE: auto_commit.run_store,
    v.EXACTLY_ONCE: exactly_once.run,
    v.IDEMPOTENT_CONSUMER: idempotent_consumer.run,
    v.SHARE: share_consumer.run,
    v.HANGING: hanging.run,
    v.RETRY_BLOCKING: retry_stage.run_blocking,
    **{v.retry_stage(n): partial(retry_stage.run_stage, n) for n in range(retry_stage.MAX_STAGES)},
}


def main(argv: list[str]) -> int:
    role, run_dir, worker = argv[0], Path(argv[1]), int(argv[2])
    die_with_parent()
    ctx = WorkerContext.load(run_dir, worker, role)
    ROLES[role](ctx)
    ctx.ledger.close()
    return exits.TIME_LIMIT if ctx.out_of_time else exits.DONE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
