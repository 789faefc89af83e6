"""Any Kafka cluster reached by bootstrap servers, with optional SASL/SSL client settings.

Settings come from environment variables (DELIVERYLAB_BOOTSTRAP, DELIVERYLAB_SECURITY_PROTOCOL,
DELIVERYLAB_SASL_MECHANISM, DELIVERYLAB_SASL_USERNAME, DELIVERYLAB_SASL_PASSWORD,
DELIVERYLAB_SSL_CA_LOCATION) or a file of librdkafka keys (DELIVERYLAB_CLIENT_CONFIG, one
``key=value`` a line, the keys verbatim as librdkafka spells them).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from ..clients import error_text
from ..errors import LabError
from ..secrets import redact, scrub
from .base import BrokerInfo, Cluster

_ENV_KEYS = {
    "DELIVERYLAB_SECURITY_PROTOCOL": "security.protocol",
    "DELIVERYLAB_SASL_MECHANISM": "sasl.mechanism",
    "DELIVERYLAB_SASL_USERNAME": "sasl.username",
    "DELIVERYLAB_SASL_PASSWORD": "sasl.password",
    "DELIVERYLAB_SSL_CA_LOCATION": "ssl.ca.location",
}
_UPPER_KEYS = ("security.protocol", "sasl.mechanism")  # librdkafka compares mechanisms case-sensitively


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
            # Never echo the line: it may be a password that lost its key.
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
            conf[key] = os.environ[env].strip() if key != "sasl.password" else os.environ[env]
    for key in _UPPER_KEYS:
        if key in conf:
            conf[key] = conf[key].upper()
    return conf


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
        _check_sasl_settings(conf)
        if check:
            self._check_reachable(timeout)

    def client_config(self) -> dict[str, Any]:
        return dict(self._conf)

    def __repr__(self) -> str:
        return f"ExternalCluster({redact(self._conf)})"

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["client_config"] = {k: v for k, v in redact(self._conf).items() if k != "bootstrap.servers"}
        return d

    def _who(self) -> str:
        mech = self._conf.get("sasl.mechanism", "GSSAPI")
        user = self._conf.get("sasl.username")
        return f" as {user!r} (SASL mechanism {mech})" if user else f" (SASL mechanism {mech})"

    def _check_reachable(self, timeout: float) -> None:
        from confluent_kafka import KafkaError
        from confluent_kafka.admin import AdminClient

        from .base import quiet

        errors: list[KafkaError] = []
        try:
            admin = AdminClient(quiet({**self._conf, "error_cb": errors.append}))
        except (KafkaException, ValueError, TypeError) as exc:
            detail = error_text(exc)
            raise LabError(f"The client settings for {self.bootstrap_servers!r} were refused: "
                           f"{scrub(detail, self._conf)}.",
                           "Use librdkafka's own keys and values (see librdkafka's "
                           "CONFIGURATION.md).") from None
        # The error callback is served by poll(): ask in short slices, so a refused login or
        # an untrusted certificate fails in about a second instead of at the timeout.
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            try:
                md = admin.list_topics(timeout=max(0.1, min(0.5, deadline - time.monotonic())))
                break
            except KafkaException as exc:
                last = exc
            admin.poll(0)
            auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
            ssl = [e for e in errors if e.code() == KafkaError._SSL]
            if auth:
                raise LabError(f"Authentication to the Kafka cluster at {self.bootstrap_servers!r}"
                               f"{self._who()} failed: {scrub(auth[-1].str(), self._conf)}.",
                               "Check the user name and password (DELIVERYLAB_SASL_USERNAME, "
                               "DELIVERYLAB_SASL_PASSWORD, or sasl.username/sasl.password in the "
                               "DELIVERYLAB_CLIENT_CONFIG file) and that DELIVERYLAB_SASL_MECHANISM "
                               "is one the cluster enables (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).")
            if ssl:
                raise LabError(f"The TLS connection to {self.bootstrap_servers!r} failed: "
                               f"{scrub(ssl[-1].str(), self._conf)}.",
                               "If the cluster's certificate is signed by your own CA, point "
                               "DELIVERYLAB_SSL_CA_LOCATION (ssl.ca.location) at that CA's PEM file; "
                               "check that DELIVERYLAB_SECURITY_PROTOCOL matches the listener "
                               "(SASL_SSL or SSL).")
            if time.monotonic() >= deadline:
                hint = f" ({scrub(errors[-1].str(), self._conf)})" if errors else ""
                what = error_text(last) if last else "no answer"
                raise LabError(f"No Kafka broker answered at {self.bootstrap_servers!r} within "
                               f"{timeout:.0f} s{hint}: {scrub(what, self._conf)}.",
                               "Check the host and port, that the cluster runs, and that this "
                               "machine can reach it; check DELIVERYLAB_SECURITY_PROTOCOL against "
                               "the listener (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL); for the "
                               "embedded cluster unset DELIVERYLAB_CLUSTER.")
        self._brokers = [BrokerInfo(b.id, b.host, b.port, None, "unknown")
                         for b in sorted(md.brokers.values(), key=lambda b: b.id)]

    def brokers(self) -> list[BrokerInfo]:
        if not self._brokers:
            self._check_reachable(8.0)
        return list(self._brokers)


def _check_sasl_settings(conf: dict[str, Any]) -> None:
    protocol = str(conf.get("security.protocol", "PLAINTEXT")).upper()
    mech = str(conf.get("sasl.mechanism", "GSSAPI")).upper()
    if protocol.startswith("SASL_") and mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        missing = [env for env, key in _ENV_KEYS.items()
                   if key in ("sasl.username", "sasl.password") and not conf.get(key)]
        if missing:
            raise LabError(f"security.protocol={protocol} with sasl.mechanism={mech} needs a user "
                           f"name and a password, and {' and '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not set.",
                           f"Set {', '.join(missing)} (or sasl.username/sasl.password in the "
                           "DELIVERYLAB_CLIENT_CONFIG file).")
