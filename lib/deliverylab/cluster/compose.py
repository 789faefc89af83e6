"""The docker-compose twin of the local 3-broker cluster; broker faults go through the docker CLI."""
from __future__ import annotations

import shutil
import subprocess

from ..errors import LabError
from .base import BrokerInfo, Cluster
from .settings import DEFAULT_PORT_BASE, client_port

COMPOSE_BROKERS = 3
CONTROLLER_CONTAINER = "deliverylab-controller"  # the one KRaft controller (isolated layout)


def container_name(broker_id: int) -> str:
    return f"deliverylab-kafka-{broker_id}"


class ComposeCluster(Cluster):
    kind = "compose"

    def __init__(self, port_base: int = DEFAULT_PORT_BASE) -> None:
        self.port_base = port_base
        self.bootstrap_servers = ",".join(f"127.0.0.1:{client_port(port_base, i)}"
                                          for i in range(1, COMPOSE_BROKERS + 1))

    def brokers(self) -> list[BrokerInfo]:
        return [BrokerInfo(i, "127.0.0.1", client_port(self.port_base, i), None,
                           self._container_state(i)) for i in range(1, COMPOSE_BROKERS + 1)]

    def _docker(self, *args: str) -> str:
        if shutil.which("docker") is None:
            raise LabError("The docker CLI was not found, and faults on the Compose cluster go "
                           "through `docker kill`/`docker pause`.",
                           "Install Docker, or use the embedded cluster (unset DELIVERYLAB_CLUSTER).")
        out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise LabError(f"`docker {' '.join(args)}` failed: {out.stderr.strip()[:300]}",
                           "Is `docker compose up -d` running in the project folder?")
        return out.stdout.strip()

    def _container_state(self, broker_id: int) -> str:
        try:
            status = self._docker("inspect", "-f", "{{.State.Status}}", container_name(broker_id))
        except LabError:
            return "unknown"
        return {"running": "running", "paused": "paused"}.get(status, "dead")

    def _check_id(self, broker_id: int) -> str:
        if broker_id not in range(1, COMPOSE_BROKERS + 1):
            raise LabError(f"Broker {broker_id!r} is not part of the Compose cluster (brokers 1, 2, 3).",
                           "Pick 1, 2 or 3.")
        return container_name(broker_id)

    def kill(self, broker_id: int) -> None:
        self._docker("kill", "--signal", "KILL", self._check_id(broker_id))

    def pause(self, broker_id: int) -> None:
        self._docker("pause", self._check_id(broker_id))

    def resume(self, broker_id: int) -> None:
        self._docker("unpause", self._check_id(broker_id))

    def restart(self, broker_id: int) -> None:
        self._docker("restart", self._check_id(broker_id))

    # --- the controller, a service of its own ------------------------------------------------
    def controllers(self) -> list[BrokerInfo]:
        status = "unknown"
        try:
            status = self._docker("inspect", "-f", "{{.State.Status}}", CONTROLLER_CONTAINER)
        except LabError:
            pass
        state = {"running": "running", "paused": "paused", "unknown": "unknown"}.get(status, "dead")
        return [BrokerInfo(101, "controller", 9093, None, state)]

    def kill_controller(self, controller_id: int | None = None) -> None:
        self._docker("kill", "--signal", "KILL", CONTROLLER_CONTAINER)

    def pause_controller(self, controller_id: int | None = None) -> None:
        self._docker("pause", CONTROLLER_CONTAINER)

    def resume_controller(self, controller_id: int | None = None) -> None:
        self._docker("unpause", CONTROLLER_CONTAINER)

    def restart_controller(self, controller_id: int | None = None) -> None:
        self._docker("restart", CONTROLLER_CONTAINER)
