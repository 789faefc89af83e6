"""What every cluster offers, wherever its brokers come from."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from ..clients import quiet
from ..errors import FaultUnavailable, LabError


@dataclass(frozen=True)
class BrokerInfo:
    id: int
    host: str
    port: int
    pid: int | None
    state: str  # running | paused | dead | unknown (no process control)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # -1 while no leader is elected
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    def followers(self) -> tuple[int, ...]:
        return tuple(b for b in self.replicas if b != self.leader)


class Cluster:
    """Bootstrap servers, client settings and, where the lab controls the brokers, faults."""

    kind = "abstract"
    bootstrap_servers: str = ""

    def client_config(self) -> dict[str, Any]:
        """What any Producer/Consumer/AdminClient needs to reach this cluster."""
        return {"bootstrap.servers": self.bootstrap_servers}

    def admin(self) -> AdminClient:
        return AdminClient(quiet(self.client_config()))

    def brokers(self) -> list[BrokerInfo]:
        raise NotImplementedError

    @property
    def size(self) -> int:
        return len(self.brokers())

    # --- broker faults: only where the lab owns the broker processes -----------------------
    def _no_faults(self, what: str) -> FaultUnavailable:
        return FaultUnavailable(
            f"Broker fault `{what}` is not available on a {self.kind} cluster "
            f"({self.bootstrap_servers}): the lab does not control its broker processes.",
            "Run fault experiments on the embedded cluster (`deliverylab cluster up --brokers 3`, "
            "or unset DELIVERYLAB_CLUSTER) or on the docker-compose cluster.")

    def kill(self, broker_id: int) -> None:
        raise self._no_faults("kill")

    def pause(self, broker_id: int) -> None:
        raise self._no_faults("pause")

    def resume(self, broker_id: int) -> None:
        raise self._no_faults("resume")

    def restart(self, broker_id: int) -> None:
        raise self._no_faults("restart")

    # --- the KRaft controller: its own process where the lab runs the cluster ---------------
    def controllers(self) -> list[BrokerInfo]:
        """The controller process(es) the lab controls (none on an external cluster)."""
        return []

    def kill_controller(self, controller_id: int | None = None) -> None:
        raise self._no_faults("kill-controller")

    def pause_controller(self, controller_id: int | None = None) -> None:
        raise self._no_faults("pause-controller")

    def resume_controller(self, controller_id: int | None = None) -> None:
        raise self._no_faults("resume-controller")

    def restart_controller(self, controller_id: int | None = None) -> None:
        raise self._no_faults("restart-controller")

    # --- network partitions: only the embedded cluster (cluster/network.py) -----------------
    def check_network(self, what: str) -> None:
        """Raise the one paragraph saying why network fault `what` cannot run on this cluster."""
        raise FaultUnavailable(
            f"Network fault {what!r} is not available on a {self.kind} cluster "
            f"({self.bootstrap_servers}): the lab cuts brokers apart with nftables rules matched "
            "per broker process, which it can only do for the JVMs it starts itself.",
            "Run network faults on the embedded cluster, as root (`deliverylab cluster up "
            "--brokers 3`, or unset DELIVERYLAB_CLUSTER).")

    def isolate(self, nodes: list[int], from_nodes: list[int], what: str = "partition") -> None:
        """Cut processes `nodes` off from `from_nodes` (broker or controller ids), both ways."""
        self.check_network(what)

    def lossy(self, nodes: list[int], from_nodes: list[int], loss_pct: float,
              what: str = "lossy-link") -> None:
        """Drop each packet between `nodes` and `from_nodes` with probability loss_pct %."""
        self.check_network(what)

    def slow(self, node: int, from_nodes: list[int], delay_ms: float, what: str = "slow-link") -> None:
        """Connections of `from_nodes` to `node` take delay_ms longer per request and answer."""
        self.check_network(what)

    def heal_network(self) -> None:
        """Nothing to heal where no partition can be made."""

    def stop(self) -> None:
        """Leave an external cluster alone; local/compose clusters override."""

    # --- metadata ---------------------------------------------------------------------------
    def partition_state(self, topic: str, partition: int = 0, timeout: float = 5.0) -> PartitionState:
        md = self.admin().list_topics(topic=topic, timeout=timeout)
        t = md.topics.get(topic)
        if t is None or t.error is not None or partition not in t.partitions:
            raise LabError(f"Topic {topic!r} partition {partition} was not found on "
                           f"{self.bootstrap_servers}.",
                           "Create the topic first (the experiment functions do), and check the name.")
        p = t.partitions[partition]
        return PartitionState(topic, partition, p.leader, tuple(p.replicas), tuple(p.isrs))

    def wait_for_leader(self, topic: str, partition: int = 0, timeout: float = 30.0,
                        exclude: int | None = None) -> PartitionState:
        """Wait until the partition has a leader (other than `exclude`, e.g. a killed broker)."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            try:
                state = self.partition_state(topic, partition, timeout=2.0)
                if state.leader >= 0 and state.leader != exclude:
                    return state
            except (LabError, KafkaException):
                pass
            time.sleep(0.2)
        raise LabError(f"Partition {topic}-{partition} had no leader within {timeout:.0f} s "
                       f"(last seen: {state}).",
                       "Check `deliverylab cluster status`; a cluster with too few live brokers "
                       "cannot elect one.")

    def wait_for_full_isr(self, topic: str, partitions: int = 1, timeout: float = 30.0) -> bool:
        """Wait until every replica is back in the ISR, so a read-back sees the final log
        (a consumer reads only up to the high watermark, which lags while followers catch up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = [self.partition_state(topic, p, timeout=2.0) for p in range(partitions)]
                if all(s.leader >= 0 and set(s.isr) == set(s.replicas) for s in states):
                    return True
            except (LabError, KafkaException):
                pass
            time.sleep(0.2)
        return False

    def create_topic(self, name: str, partitions: int = 1, replication_factor: int | None = None,
                     config: dict[str, str] | None = None, timeout: float = 15.0) -> None:
        from ..topics import check_topic_name
        check_topic_name(name)
        rf = replication_factor or min(3, self.size)
        admin = self.admin()  # keep the handle alive until the future resolves
        fut = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=rf, config=config or {})],
            operation_timeout=timeout, request_timeout=timeout)[name]
        try:
            fut.result(timeout=timeout + 5)
        except KafkaException as exc:
            err = exc.args[0]
            if err.name() == "TOPIC_ALREADY_EXISTS":
                return
            raise LabError(f"Creating topic {name!r} ({partitions} partitions, replication factor "
                           f"{rf}) failed: {err.str()}.",
                           "A replication factor cannot exceed the number of live brokers; check "
                           "the topic settings and `deliverylab cluster status`.") from None

    def delete_topics(self, names: list[str], timeout: float = 15.0) -> None:
        if not names:
            return
        admin = self.admin()
        for fut in admin.delete_topics(names, operation_timeout=timeout).values():
            # exception(), not result(): an error is only "already gone" here, and one raised
            # would keep this frame, and the admin client with its threads, in a reference cycle
            # (future -> exception -> traceback -> frame -> future) until the cycle collector runs.
            fut.exception(timeout=timeout + 5)

    def delete_groups(self, group_ids: list[str], within_s: float = 15.0) -> list[str]:
        """Delete consumer groups (their committed offsets with them); the ids still there after
        `within_s` are returned. Asked from a child process: see group_admin for the librdkafka
        abort this keeps out of the learner's kernel."""
        from ..group_admin import delete_groups
        return delete_groups(self.client_config(), group_ids, within_s)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "bootstrap_servers": self.bootstrap_servers,
                "brokers": [b.to_dict() for b in self.brokers()]}
