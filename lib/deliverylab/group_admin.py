"""Deleting consumer groups, asked from a child process.

Deleting a group is an admin request to the group's coordinator. In librdkafka 2.16 (the one in
confluent-kafka 2.16.1, the newest on PyPI) such a request that meets a dropped connection can
abort the whole process that asked: a use-after-free in the admin client's coordinator-request
error path trips `rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0'`
(confluentinc/librdkafka#4605; the fix, PR #5397, is not released). The lab deletes a run's
groups right after runs that kill, pause and restart brokers — coordinators among them — and it
does so in the learner's kernel. A child process asks instead, so an abort ends only the child,
and the parent asks once more.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

ATTEMPTS = 2  # a child that failed (an abort: killed by SIGABRT) or hung is asked once more


def delete_groups(config: dict[str, Any], group_ids: list[str], within_s: float) -> list[str]:
    """Delete the groups (their committed offsets with them); the ids still there are returned."""
    left = list(group_ids)
    for _ in range(ATTEMPTS):
        if not left:
            break
        request = json.dumps({"config": config, "groups": left, "within_s": within_s})
        try:
            done = subprocess.run([sys.executable, "-m", "deliverylab.group_admin"], input=request,
                                  capture_output=True, text=True, timeout=within_s + 60)
        except subprocess.TimeoutExpired:
            continue
        if done.returncode == 0:
            return json.loads(done.stdout)
    return left


def _delete_in_this_process(config: dict[str, Any], group_ids: list[str], within_s: float) -> list[str]:
    """A member SIGKILLed by a run stays in its group until its session times out, and the broker
    refuses to delete a group with members (NON_EMPTY_GROUP), so those are asked again until
    then."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    from .clients import quiet

    admin = AdminClient(quiet(config))
    left = list(group_ids)
    deadline = time.monotonic() + within_s
    while left:
        retry = []
        for gid, fut in admin.delete_consumer_groups(left, request_timeout=10).items():
            try:
                fut.result(timeout=15)
            except KafkaException as exc:
                if exc.args and getattr(exc.args[0], "code", lambda: None)() == KafkaError.NON_EMPTY_GROUP:
                    retry.append(gid)  # anything else: already gone, or not ours to fix
            except TimeoutError:
                retry.append(gid)
        left = retry
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return left


def main() -> None:
    request = json.loads(sys.stdin.read())
    print(json.dumps(_delete_in_this_process(request["config"], request["groups"], request["within_s"])))


if __name__ == "__main__":
    main()
