"""Check a learner's librdkafka settings before a worker starts, so a typo is one clear sentence
instead of a worker crash, a hang, or a broker rejecting every request."""
from __future__ import annotations

import difflib
from typing import Any

from confluent_kafka import KafkaException, Producer, Consumer

from .clients import error_text, quiet
from .secrets import is_secret
from .errors import LabError

# Settings the course uses, for "did you mean" hints (librdkafka accepts many more, verbatim).
COMMON_KEYS = (
    "acks", "enable.idempotence", "message.send.max.retries", "retries", "retry.backoff.ms",
    "retry.backoff.max.ms", "max.in.flight.requests.per.connection", "max.in.flight",
    "request.timeout.ms", "delivery.timeout.ms", "message.timeout.ms", "linger.ms", "batch.size",
    "batch.num.messages", "compression.type", "transactional.id", "transaction.timeout.ms",
    "enable.auto.commit", "auto.commit.interval.ms", "enable.auto.offset.store",
    "isolation.level", "group.instance.id", "session.timeout.ms", "auto.offset.reset",
    "fetch.min.bytes", "fetch.wait.max.ms", "queue.buffering.max.messages",
)
ACKS_VALUES = ("0", "1", "-1", "all")


def _client_error(exc: Exception, conf: dict[str, Any]) -> LabError:
    text = error_text(exc)
    if "No such configuration property" in text:
        bad = text.split('"')[1] if '"' in text else text
        close = difflib.get_close_matches(bad, COMMON_KEYS, n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        return LabError(f"{bad!r} is not a librdkafka configuration key.",
                        f"{hint}Keys pass through verbatim as librdkafka spells them (see "
                        "librdkafka's CONFIGURATION.md), e.g. 'acks', 'enable.idempotence'.")
    named = [k for k in conf if f'"{k}"' in text or f"'{k}'" in text] or _refused_keys(conf)
    bad = f"{named[0]}={conf[named[0]]!r}" if named else "a setting"
    return LabError(f"{bad} was refused by librdkafka: {text.rstrip('.')}.",
                    "Fix that value (librdkafka's CONFIGURATION.md lists each key's type and range).")


def _refused_keys(conf: dict[str, Any]) -> list[str]:
    """Which key librdkafka refuses, tried one at a time (its message may name an alias:
    linger.ms is reported as queue.buffering.max.ms)."""
    bad = []
    for key, value in conf.items():
        try:
            Producer(quiet({"bootstrap.servers": "127.0.0.1:1", key: value}))
        except (KafkaException, ValueError, TypeError):
            bad.append(key)
    return bad


def _refuse_secrets(config: dict[str, Any]) -> None:
    """Experiment settings are recorded with the run; credentials belong to the cluster settings."""
    secret = [k for k in config if is_secret(k)]
    if secret:
        raise LabError(f"{secret[0]!r} is a credential and does not belong in an experiment's "
                       "settings (they are recorded with the run).",
                       "Give credentials to the cluster instead: DELIVERYLAB_SASL_USERNAME / "
                       "DELIVERYLAB_SASL_PASSWORD, or the file named by DELIVERYLAB_CLIENT_CONFIG.")


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def acks_all(config: dict[str, Any]) -> bool:
    """Whether a producer config asks every in-sync replica to acknowledge: acks all or -1, or no
    acks at all (librdkafka's default is all, CONFIGURATION.md)."""
    return str(config.get("acks", "all")).strip().lower() in ("all", "-1")


def _check_idempotence(config: dict[str, Any]) -> None:
    """What librdkafka refuses when idempotence is on (enable.idempotence=true, or a
    transactional.id): max.in.flight > 5, acks other than all, retries=0 ("`max.in.flight` must be
    set <= 5 when `enable.idempotence` is true", as rd_kafka_new says; the broker keeps the last 5
    batches per producer, KAFKA-17926). Its own message names an alias and no value."""
    if not (_truthy(config.get("enable.idempotence", False)) or config.get("transactional.id")):
        return
    why = ("enable.idempotence=true" if _truthy(config.get("enable.idempotence", False))
           else "a transactional.id (it turns idempotence on)")
    for key in ("max.in.flight.requests.per.connection", "max.in.flight"):
        if key in config and str(config[key]).strip().lstrip("-").isdigit() and int(config[key]) > 5:
            raise LabError(f"{key}={config[key]!r} with {why}: an idempotent producer keeps at most "
                           "5 requests in flight per connection (the broker tracks the last 5 "
                           "batches per producer to drop duplicates), so librdkafka refuses it.",
                           f"Use {key} from 1 to 5, or enable.idempotence=false.")
    if not acks_all(config):
        raise LabError(f"acks={config['acks']!r} with {why}: librdkafka refuses it (idempotence "
                       "needs every in-sync replica to acknowledge).",
                       "Use acks='all', or enable.idempotence=false.")
    for key in ("retries", "message.send.max.retries"):
        if key in config and str(config[key]).strip() == "0":
            raise LabError(f"{key}=0 with {why}: librdkafka refuses it (idempotence is about "
                           "retrying safely).", f"Use {key} ≥ 1 (the default is 2147483647), or "
                           "enable.idempotence=false.")


def check_producer_config(config: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise LabError(f"Producer settings must be a dict of librdkafka keys, not {config!r}.",
                       "E.g. {'acks': 'all', 'enable.idempotence': True}.")
    _refuse_secrets(config)
    if "acks" in config and str(config["acks"]).strip().lower() not in ACKS_VALUES:
        raise LabError(f"acks={config['acks']!r} is not a valid acknowledgement level.",
                       "Use 0 (no ack), 1 (leader only) or 'all' (= -1, every in-sync replica); "
                       "the .NET property is Acks = None / Leader / All.")
    _check_idempotence(config)
    try:
        Producer(quiet({"bootstrap.servers": "127.0.0.1:1", **config}))
    except (KafkaException, ValueError, TypeError) as exc:
        raise _client_error(exc, config) from None
    return config


def check_consumer_config(config: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise LabError(f"Consumer settings must be a dict of librdkafka keys, not {config!r}.",
                       "E.g. {'isolation.level': 'read_committed'}.")
    _refuse_secrets(config)
    try:
        Consumer(quiet({"bootstrap.servers": "127.0.0.1:1", "group.id": "check", **config})).close()
    except (KafkaException, ValueError, TypeError) as exc:
        raise _client_error(exc, config) from None
    return config
