"""Broker settings a learner must be able to see and change, shared by the local cluster and
docker-compose.yml (a test reads the compose file and checks it against these)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import LabError

SUPPORTED_SIZES = (1, 3)
DEFAULT_PORT_BASE = 19092
CONTROLLER_PORT_OFFSET = 100  # broker i's controller listens on client port + 100


def check_port_base(base: object, name: str, brokers: int = 3) -> int:
    """The first client port of a local cluster: every port it takes (brokers from `base`,
    controllers from base + CONTROLLER_PORT_OFFSET) must be a port a user may listen on
    (1024-65535). `name` is how the learner gave it (--port-base, DELIVERYLAB_PORT_BASE=)."""
    low, high = 1024, 65535 - CONTROLLER_PORT_OFFSET - (max(SUPPORTED_SIZES) - 1)
    if isinstance(base, str):
        base = int(base.strip()) if base.strip().isdigit() else base
    if isinstance(base, bool) or not isinstance(base, int) or not low <= base <= high:
        sep = "" if name.endswith("=") else "=" if name.isupper() else " "
        raise LabError(f"{name}{sep}{base!r} is not a port base the lab can use: a cluster listens "
                       f"on {brokers} client port(s) from it and its controllers "
                       f"{CONTROLLER_PORT_OFFSET} above, all within 1024–65535.",
                       f"Use a number from {low} to {high}, e.g. {DEFAULT_PORT_BASE}.")
    return base


def check_size(brokers: int) -> int:
    if brokers not in SUPPORTED_SIZES:
        raise LabError(f"A local cluster of {brokers!r} brokers is not supported.",
                       "Use 1 broker (quick, no broker faults) or 3 brokers (replication, "
                       "leader failover and broker faults), e.g. `--brokers 3`.")
    return brokers


def default_min_insync_replicas(brokers: int) -> int:
    """The lab's brokers' min.insync.replicas when a topic sets none: 2 on three brokers (an
    acks=all write is on two replicas before it is acknowledged), 1 on a single broker."""
    return 2 if brokers >= 3 else 1


@dataclass
class BrokerSettings:
    """The durability knobs of the course, explicit rather than left to broker defaults."""

    brokers: int = 3
    min_insync_replicas: int | None = None  # None: 2 on three brokers, 1 on one
    unclean_leader_election_enable: bool = False
    replica_lag_time_max_ms: int = 5000  # broker default 30000; short so ISR changes show in a lesson
    group_initial_rebalance_delay_ms: int = 0  # no 3 s wait before a lone consumer gets partitions
    broker_session_timeout_ms: int = 4000  # a killed broker is fenced in seconds (default 9000)
    broker_heartbeat_interval_ms: int = 500
    # A follower of a brand-new partition may fetch before its leader knows it leads: it backs
    # off replica.fetch.backoff.ms (default 1000), and a caught-up follower's fetch waits up to
    # replica.fetch.wait.max.ms (default 500) before a partition added meanwhile is fetched.
    # With the defaults the first acks=all write to a new topic waited 0.5-1 s in 3 of 4 runs
    # here; with these, 0.06-0.13 s in 20 of 20. Idle cost: a few fetch requests per second.
    replica_fetch_backoff_ms: int = 50
    replica_fetch_wait_max_ms: int = 100
    # Share groups: the shortest acquisition lock a group may choose (broker default 15000).
    # 1 s lets a lesson show a crashed consumer's records coming back within seconds.
    share_min_record_lock_duration_ms: int = 1000
    # Consumer groups of the KIP-848 protocol (group.protocol=consumer): the broker times a
    # member out after group.consumer.session.timeout.ms (default 45000, floor 45000) and hands
    # out heartbeat intervals of group.consumer.heartbeat.interval.ms (default 5000, floor 5000).
    # A SIGKILLed member holds its partitions until its session expires, so at the defaults
    # every crash of a group run idles its partitions for 45 s (issue 21). The lab gives them
    # the classic groups' figures: a 6 s session (the classic floor,
    # group.min.session.timeout.ms, which the lab's classic groups use) and 0.5 s heartbeats
    # (the heartbeat.interval.ms the lab gives classic members, workers/membership.py).
    consumer_group_session_timeout_ms: int = 6000
    consumer_group_heartbeat_interval_ms: int = 500
    # A transaction its producer never ends (a paused or hung app) is aborted by the
    # coordinator's periodic check, every transaction.abort.timed.out.transaction.cleanup.interval.ms
    # (default 10000), once transaction.timeout.ms has passed: until then every read_committed
    # reader of its partitions waits at the last stable offset. At the default the stall runs up
    # to 10 s past the timeout; at 1 s, notebook 06 shows it ending within about a second of
    # transaction.timeout.ms. The check only reads the coordinator's in-memory state.
    transaction_abort_check_interval_ms: int = 1000
    # How often a broker deletes log segments past their topic's retention (broker default
    # 300000, 5 minutes): a lesson whose topic has a small retention.ms/segment.ms (retention
    # overtaking a lagging consumer, issue 24) sees its segments go within a second or two.
    # Idle cost: one pass over the brokers' few partitions a second. The first pass comes
    # log.initial.task.delay.ms after a broker starts (an internal setting of Kafka's
    # ServerLogConfigs, default 30000): 1000 here, so a lesson right after `cluster up` sees it too.
    log_retention_check_interval_ms: int = 1000
    log_initial_task_delay_ms: int = 1000
    extra: dict[str, str] = field(default_factory=dict)  # any other server.properties key, verbatim

    def __post_init__(self) -> None:
        check_size(self.brokers)

    def cluster_properties(self) -> dict[str, str]:
        """Settings identical on every broker, whatever starts it (local JVMs or Compose)."""
        n = self.brokers
        internal_rf = 3 if n >= 3 else 1
        min_isr = self.min_insync_replicas or default_min_insync_replicas(n)
        props = {
            "min.insync.replicas": str(min_isr),
            "unclean.leader.election.enable": str(self.unclean_leader_election_enable).lower(),
            "replica.lag.time.max.ms": str(self.replica_lag_time_max_ms),
            "group.initial.rebalance.delay.ms": str(self.group_initial_rebalance_delay_ms),
            "broker.session.timeout.ms": str(self.broker_session_timeout_ms),
            "broker.heartbeat.interval.ms": str(self.broker_heartbeat_interval_ms),
            "replica.fetch.backoff.ms": str(self.replica_fetch_backoff_ms),
            "replica.fetch.wait.max.ms": str(self.replica_fetch_wait_max_ms),
            "offsets.topic.replication.factor": str(internal_rf),
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": str(internal_rf),
            "transaction.state.log.min.isr": str(2 if n >= 3 else 1),
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": str(internal_rf),
            "share.coordinator.state.topic.min.isr": str(2 if n >= 3 else 1),
            "group.share.min.record.lock.duration.ms": str(self.share_min_record_lock_duration_ms),
            "group.consumer.session.timeout.ms": str(self.consumer_group_session_timeout_ms),
            "group.consumer.min.session.timeout.ms": str(self.consumer_group_session_timeout_ms),
            "group.consumer.heartbeat.interval.ms": str(self.consumer_group_heartbeat_interval_ms),
            "group.consumer.min.heartbeat.interval.ms": str(self.consumer_group_heartbeat_interval_ms),
            "transaction.abort.timed.out.transaction.cleanup.interval.ms":
                str(self.transaction_abort_check_interval_ms),
            "default.replication.factor": str(internal_rf),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "log.retention.check.interval.ms": str(self.log_retention_check_interval_ms),
            "log.initial.task.delay.ms": str(self.log_initial_task_delay_ms),
        }
        props.update({k: str(v) for k, v in self.extra.items()})
        return props


def client_port(port_base: int, node_id: int) -> int:
    return port_base + node_id - 1


def controller_port(port_base: int, node_id: int) -> int:
    """Where a combined node's controller (1 broker) or the controller process (3 brokers)
    listens: client port of broker 1 + 100, i.e. 19192 by default."""
    return client_port(port_base, node_id) + CONTROLLER_PORT_OFFSET


# --- topology -------------------------------------------------------------------------------
# Three brokers run beside a KRaft controller of their own (process.roles=controller), as
# production clusters do: a broker fault in a lesson then hits replication only, never the
# metadata quorum, and a controller fault is its own, named fault. One controller process, not
# three: a laptop's memory and cores go to the brokers, and a one-voter quorum makes the
# controller fault plain (paused = no leader election, no ISR change), where a three-voter
# quorum would need two of them stopped to show anything. A 1-broker cluster stays combined
# (one JVM, quick to start; it has no broker faults anyway).
CONTROLLER_ID_BASE = 100  # controller k has node.id 100 + k, so no id is shared with a broker
CONTROLLERS = 1


def isolated(brokers: int) -> bool:
    """Whether a cluster of this size runs its controller(s) apart from the brokers."""
    return brokers >= 3


def controller_ids(brokers: int) -> list[int]:
    if not isolated(brokers):
        return list(range(1, brokers + 1))  # combined: every node votes
    return [CONTROLLER_ID_BASE + k for k in range(1, CONTROLLERS + 1)]


def controller_listen_port(port_base: int, controller_id: int) -> int:
    """Controller k (node.id 100 + k) of an isolated cluster listens on port_base + 100 + k - 1."""
    return controller_port(port_base, controller_id - CONTROLLER_ID_BASE)


def quorum_voters(n: int, port_base: int) -> str:
    if not isolated(n):
        return ",".join(f"{i}@127.0.0.1:{controller_port(port_base, i)}" for i in range(1, n + 1))
    return ",".join(f"{c}@127.0.0.1:{controller_listen_port(port_base, c)}" for c in controller_ids(n))


def node_properties(settings: BrokerSettings, node_id: int, port_base: int, log_dir: str) -> dict[str, str]:
    """server.properties of broker `node_id` on 127.0.0.1: a broker only when the cluster has
    its own controller (3 brokers), a combined broker+controller when it has one broker."""
    port = client_port(port_base, node_id)
    if isolated(settings.brokers):
        props = {
            "process.roles": "broker",
            "node.id": str(node_id),
            "controller.quorum.voters": quorum_voters(settings.brokers, port_base),
            "listeners": f"PLAINTEXT://127.0.0.1:{port}",
        }
    else:
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node_id),
            "controller.quorum.voters": quorum_voters(settings.brokers, port_base),
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port(port_base, node_id)}",
        }
    props.update({
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": log_dir,
    })
    props.update(settings.cluster_properties())
    return props


def controller_properties(settings: BrokerSettings, controller_id: int, port_base: int,
                          log_dir: str) -> dict[str, str]:
    """server.properties of a controller process (isolated layout). It gets the cluster
    settings too: the controller applies unclean.leader.election.enable, min.insync.replicas
    (for Eligible Leader Replicas), broker.session.timeout.ms and the topic defaults."""
    props = {
        "process.roles": "controller",
        "node.id": str(controller_id),
        "controller.quorum.voters": quorum_voters(settings.brokers, port_base),
        "listeners": f"CONTROLLER://127.0.0.1:{controller_listen_port(port_base, controller_id)}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
        "log.dirs": log_dir,
    }
    props.update(settings.cluster_properties())
    return props
