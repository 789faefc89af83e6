"""Which client and broker settings are secrets, and how the lab keeps them out of what it shows:
printed settings, logs, state files, ledgers and error messages."""
from __future__ import annotations

from typing import Any

SECRET_KEYS = ("sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret",
               "ssl.key.pem", "ssl_key", "sasl.oauthbearer.config", "sasl.jaas.config")


def is_secret(key: str) -> bool:
    """A secret key: the client's own (SECRET_KEYS) and broker-side ones too, e.g.
    listener.name.sasl_ssl.plain.sasl.jaas.config (which lists user passwords)."""
    k = key.lower()
    return (k in SECRET_KEYS or k.endswith(".sasl.jaas.config") or "password" in k
            or "secret" in k)


def redact(conf: dict[str, Any]) -> dict[str, Any]:
    """A copy fit for printing, logs and ledgers: secrets replaced by '***'."""
    return {k: ("***" if is_secret(k) else v) for k, v in conf.items()}


def scrub(text: str, conf: dict[str, Any]) -> str:
    """`text` with every secret value of `conf` replaced by '***' (for error messages)."""
    for k, v in conf.items():
        if is_secret(k) and isinstance(v, str) and v:
            text = text.replace(v, "***")
    return text


__all__ = ["SECRET_KEYS", "is_secret", "redact", "scrub"]
