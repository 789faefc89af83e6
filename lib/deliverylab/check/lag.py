"""The group's committed offsets against the end of the input: how much is left to do.

Asked with a consumer of the group's id that never joins it (an offset fetch needs no
membership), so asking changes nothing for the members under check.
"""
from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ..clients import quiet


class GroupLag:
    def __init__(self, client: dict[str, Any], group: str, topic: str, ends: dict[int, int]) -> None:
        self.topic, self.ends = topic, ends
        self.consumer = Consumer(quiet({**client, "group.id": group,
                                        "client.id": f"deliverylab-lag-{uuid.uuid4().hex[:6]}",
                                        "enable.auto.commit": False}))
        self.last: dict[int, int] = {p: 0 for p in ends}

    def committed(self, timeout: float = 5.0) -> dict[int, int] | None:
        """partition -> committed offset (0 for none yet); None when the coordinator did not
        answer in time (a broker fault): the caller asks again later."""
        try:
            got = self.consumer.committed([TopicPartition(self.topic, p) for p in self.ends],
                                          timeout=timeout)
        except KafkaException:
            return None
        if any(tp.error for tp in got):
            return None
        self.last = {tp.partition: max(tp.offset, 0) for tp in got}
        return self.last

    def left(self, committed: dict[int, int] | None = None) -> int:
        """Records not yet committed past (from the last answer when none is given)."""
        committed = self.last if committed is None else committed
        return sum(max(0, e - committed.get(p, 0)) for p, e in self.ends.items())

    def close(self) -> None:
        self.consumer.close()


__all__ = ["GroupLag"]
