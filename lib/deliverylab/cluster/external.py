"""Any Kafka cluster reached by bootstrap servers, with optional SASL/SSL client settings.

Settings come from environment variables (DELIVERYLAB_BOOTSTRAP, DELIVERYLAB_SECURITY_PROTOCOL,
DELIVERYLAB_SASL_MECHANISM, DELIVERYLAB_SASL_USERNAME, DELIVERYLAB_SASL_PASSWORD,
DELIVERYLAB_SSL_CA_LOCATION) or a file of librdkafka keys (DELIVERYLAB_CLIENT_CONFIG, one
``key=value`` a line, the keys verbatim as librdkafka spells them).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from ..errors import LabError
from .base import BrokerInfo, Cluster

_ENV_KEYS = {
    "DELIVERYLAB_SECURITY_PROTOCOL": "security.protocol",
    "DELIVERYLAB_SASL_MECHANISM": "sasl.mechanism",
    "DELIVERYLAB_SASL_USERNAME": "sasl.username",
    "DELIVERYLAB_SASL_PASSWORD": "sasl.password",
    "DELIVERYLAB_SSL_CA_LOCATION": "ssl.ca.location",
}
SECRET_KEYS = ("sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret")


def read_client_config_file(path: str | Path) -> dict[str, str]:
    p = Path(path).expanduser()
    if not p.exists():
        raise LabError(f"The client config file {str(p)!r} does not exist.",
                       "Point DELIVERYLAB_CLIENT_CONFIG at a file of `key=value` lines "
                       "(librdkafka keys, e.g. security.protocol=SASL_SSL).")
    conf = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise LabError(f"Line {n} of {str(p)!r} is not `key=value`.",
                           "Write one librdkafka setting per line, e.g. sasl.mechanism=PLAIN.")
        key, value = line.split("=", 1)
        conf[key.strip()] = value.strip()
    return conf


def external_settings_from_env() -> dict[str, str]:
    conf: dict[str, str] = {}
    if os.environ.get("DELIVERYLAB_CLIENT_CONFIG"):
        conf.update(read_client_config_file(os.environ["DELIVERYLAB_CLIENT_CONFIG"]))
    if os.environ.get("DELIVERYLAB_BOOTSTRAP"):
        conf["bootstrap.servers"] = os.environ["DELIVERYLAB_BOOTSTRAP"]
    for env, key in _ENV_KEYS.items():
        if os.environ.get(env):
            conf[key] = os.environ[env]
    return conf


def redact(conf: dict[str, Any]) -> dict[str, Any]:
    """A copy fit for printing, logs and ledgers: secrets replaced by '***'."""
    return {k: ("***" if k in SECRET_KEYS else v) for k, v in conf.items()}


class ExternalCluster(Cluster):
    kind = "external"

    def __init__(self, conf: dict[str, str] | None = None, check: bool = True,
                 timeout: float = 8.0) -> None:
        conf = dict(conf if conf is not None else external_settings_from_env())
        if not conf.get("bootstrap.servers"):
            raise LabError("No bootstrap servers were given for the external cluster.",
                           "Set DELIVERYLAB_BOOTSTRAP=host:9092 (or bootstrap.servers in the file "
                           "named by DELIVERYLAB_CLIENT_CONFIG).")
        self._conf = conf
        self.bootstrap_servers = conf["bootstrap.servers"]
        self._brokers: list[BrokerInfo] = []
        if check:
            self._check_reachable(timeout)

    def client_config(self) -> dict[str, Any]:
        return dict(self._conf)

    def __repr__(self) -> str:
        return f"ExternalCluster({redact(self._conf)})"

    def _check_reachable(self, timeout: float) -> None:
        from .base import quiet
        from confluent_kafka.admin import AdminClient

        errors: list[str] = []
        conf = quiet({**self._conf, "error_cb": lambda e: errors.append(e.str())})
        try:
            md = AdminClient(conf).list_topics(timeout=timeout)
        except KafkaException as exc:
            hint = f" ({errors[-1]})" if errors else ""
            auth = any("auth" in e.lower() or "sasl" in e.lower() for e in errors)
            fix = ("Check the SASL username, password and mechanism (DELIVERYLAB_SASL_*)."
                   if auth else
                   "Check the host and port, that the cluster runs, and that this machine can reach "
                   "it; for the embedded cluster unset DELIVERYLAB_CLUSTER.")
            problem = ("Authentication to the Kafka cluster at "
                       if auth else "No Kafka broker answered at ")
            raise LabError(f"{problem}{self.bootstrap_servers!r} failed within {timeout:.0f} s"
                           f"{hint}: {exc.args[0].str() if exc.args else exc}.", fix) from None
        except ValueError as exc:
            raise LabError(f"The client settings for {self.bootstrap_servers!r} were refused: {exc}.",
                           "Use librdkafka's own keys and values (see librdkafka's "
                           "CONFIGURATION.md).") from None
        self._brokers = [BrokerInfo(b.id, b.host, b.port, None, "unknown")
                         for b in sorted(md.brokers.values(), key=lambda b: b.id)]

    def brokers(self) -> list[BrokerInfo]:
        if not self._brokers:
            self._check_reachable(8.0)
        return list(self._brokers)
