"""A SASL listener (PLAIN and SCRAM, optionally over TLS) on a 1-broker local cluster.

This is the lab's stand-in for a secured cloud cluster: the same Kafka jars as the embedded
cluster, the PLAINTEXT listener kept (the lab's readiness probe and admin calls use it), and one
extra SASL_PLAINTEXT or SASL_SSL listener that a learner reaches with ``DELIVERYLAB_CLUSTER=external``
and the DELIVERYLAB_SASL_* variables, exactly as they would reach Confluent Cloud or MSK::

    users = {"alice": "alice-secret"}
    extra = sasl_settings(sasl_port, users, port_base=base)   # tls=make_tls_files(d) for SASL_SSL
    cluster = LocalCluster.start(1, BrokerSettings(brokers=1, extra=extra), port_base=base)
    add_scram_users(cluster, users)                            # SCRAM needs stored credentials

The properties returned hold the passwords (the broker needs them): they are broker-side files,
never client settings, and never go into a run folder.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from ..clients import error_text, quiet
from ..cluster import Cluster
from ..errors import LabError
from ..cluster.settings import DEFAULT_PORT_BASE, client_port, controller_port

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_ITERATIONS = 8192  # Kafka's minimum is 4096
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a broker key pair for 127.0.0.1 (PKCS12 stores, PEM CA for clients)."""

    dir: Path
    ca_pem: Path  # clients: ssl.ca.location
    keystore: Path  # broker: its key and certificate chain (PKCS12)
    truststore: Path  # broker: the CA (PKCS12), for client certificates if ever enabled
    password: str = field(repr=False)  # of both stores and of the key


def _quote(value: str) -> str:
    if '"' in value or "\\" in value or ";" in value:
        raise LabError("A SASL user name or password contains a quote, backslash or semicolon.",
                       "Use letters, digits and -_.!@#%+ for lab users; JAAS config values are "
                       "quoted strings and these characters would break them.")
    return f'"{value}"'


def _check_mechanisms(mechanisms: Iterable[str]) -> tuple[str, ...]:
    mechs = tuple(m.upper() for m in mechanisms)
    bad = [m for m in mechs if m not in MECHANISMS]
    if bad or not mechs:
        raise LabError(f"SASL mechanism(s) {bad or list(mechs)!r} are not supported by the lab's "
                       "secure listener.", f"Use one or more of {', '.join(MECHANISMS)}.")
    return mechs


def sasl_settings(port: int, users: dict[str, str], mechanisms: Iterable[str] = MECHANISMS,
                  tls: TlsFiles | None = None, *, port_base: int | None = None,
                  node_id: int = 1) -> dict[str, str]:
    """server.properties for BrokerSettings(brokers=1, extra=...): PLAINTEXT and CONTROLLER as
    the lab always has them, plus a SASL_PLAINTEXT (or, with `tls`, SASL_SSL) listener on
    127.0.0.1:`port` that accepts `users` (name → password) with the given mechanisms.

    `listeners` replaces the lab's own list, so the PLAINTEXT and controller ports are computed
    from `port_base` exactly as LocalCluster does (default: DELIVERYLAB_PORT_BASE or 19092) —
    pass the same port_base to LocalCluster.start. SCRAM users also need `add_scram_users`
    after the broker starts (KRaft keeps SCRAM credentials in the metadata log).
    """
    mechs = _check_mechanisms(mechanisms)
    if not users:
        raise LabError("sasl_settings() needs at least one user.", 'Pass users={"alice": "secret"}.')
    base = port_base or int(os.environ.get("DELIVERYLAB_PORT_BASE", DEFAULT_PORT_BASE))
    plain_port, ctrl_port = client_port(base, node_id), controller_port(base, node_id)
    if port in (plain_port, ctrl_port):
        raise LabError(f"The SASL listener port {port} is the broker's PLAINTEXT or controller port.",
                       "Pick another free port for the SASL listener.")
    protocol = "SASL_SSL" if tls else "SASL_PLAINTEXT"
    name = protocol  # the listener's name; its settings are prefixed listener.name.<lowercase>.
    prefix = f"listener.name.{name.lower()}."
    props = {
        "listeners": f"PLAINTEXT://127.0.0.1:{plain_port},CONTROLLER://127.0.0.1:{ctrl_port},"
                     f"{name}://127.0.0.1:{port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{plain_port},{name}://127.0.0.1:{port}",
        "listener.security.protocol.map": f"PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,{name}:{protocol}",
        "sasl.enabled.mechanisms": ",".join(mechs),
        f"{prefix}sasl.enabled.mechanisms": ",".join(mechs),
    }
    if "PLAIN" in mechs:
        entries = " ".join(f"user_{u}={_quote(p)}" for u, p in users.items())
        props[f"{prefix}plain.sasl.jaas.config"] = f"{_PLAIN_MODULE} required {entries};"
    for mech in mechs:
        if mech.startswith("SCRAM-"):
            props[f"{prefix}{mech.lower()}.sasl.jaas.config"] = f"{_SCRAM_MODULE} required;"
    if tls:
        props.update({
            f"{prefix}ssl.keystore.type": "PKCS12",
            f"{prefix}ssl.keystore.location": str(tls.keystore),
            f"{prefix}ssl.keystore.password": tls.password,
            f"{prefix}ssl.key.password": tls.password,
            f"{prefix}ssl.truststore.type": "PKCS12",
            f"{prefix}ssl.truststore.location": str(tls.truststore),
            f"{prefix}ssl.truststore.password": tls.password,
            f"{prefix}ssl.client.auth": "none",
        })
    return props


def add_scram_users(cluster: Cluster | dict[str, Any], users: dict[str, str],
                    mechanisms: Iterable[str] = ("SCRAM-SHA-256", "SCRAM-SHA-512"),
                    timeout: float = 30.0) -> None:
    """Store SCRAM credentials for `users` through the Admin API (over the PLAINTEXT listener,
    which has no authorizer in the lab). `cluster` is a Cluster or a client config."""
    mechs = [m for m in _check_mechanisms(mechanisms) if m.startswith("SCRAM-")]
    if not mechs or not users:
        return
    conf = cluster.client_config() if isinstance(cluster, Cluster) else dict(cluster)
    admin = AdminClient(quiet(conf))
    for mech in mechs:  # Kafka refuses two changes to one user's credentials in one request
        upserts = [UserScramCredentialUpsertion(
            user, ScramCredentialInfo(getattr(ScramMechanism, mech.replace("-", "_")),
                                      SCRAM_ITERATIONS), password.encode())
            for user, password in users.items()]
        futures = admin.alter_user_scram_credentials(upserts, request_timeout=timeout)
        for user, fut in futures.items():
            try:
                fut.result(timeout=timeout + 5)
            except KafkaException as exc:
                raise LabError(f"Storing the {mech} credentials of user {user!r} failed: "
                               f"{error_text(exc)}.",
                               "Check that the broker runs and that its PLAINTEXT listener "
                               "answers (`deliverylab cluster status`).") from None


# --- TLS files ----------------------------------------------------------------------------------
def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        # The command line holds the store password: show the tool and its own message only.
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{what} failed ({Path(cmd[0]).name} exit code {proc.returncode}: "
                       f"{msg[-1][:200] if msg else 'no message'}).",
                       "Check that the JDK's keytool (and openssl) work on this machine.")


def _keytool() -> str:
    from ..java import find_java

    path = Path(find_java().executable).resolve().parent / "keytool"
    if path.exists():
        return str(path)
    found = shutil.which("keytool")
    if not found:
        raise LabError("keytool (part of the JDK) was not found.",
                       "Install a full JDK 17+ (not only a JRE), or put its bin folder on PATH.")
    return found


def make_tls_files(directory: str | Path, password: str | None = None, days: int = 2,
                   use_openssl: bool | None = None) -> TlsFiles:
    """A self-signed CA and a broker certificate for 127.0.0.1/localhost, signed by it.

    Uses openssl for the keys and certificates when it is installed (fast), keytool for the
    PKCS12 truststore (Java needs its trusted-certificate attribute); keytool alone otherwise.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    pw = password or os.urandom(12).hex()
    files = TlsFiles(d, d / "ca.pem", d / "broker.keystore.p12", d / "broker.truststore.p12", pw)
    for p in (files.ca_pem, files.keystore, files.truststore):
        p.unlink(missing_ok=True)
    if use_openssl is None:
        use_openssl = shutil.which("openssl") is not None
    san = "IP:127.0.0.1,DNS:localhost"
    keytool = _keytool()
    if use_openssl:
        openssl = shutil.which("openssl") or "openssl"
        ca_key, key, csr, crt, ext = (d / "ca.key", d / "broker.key", d / "broker.csr",
                                      d / "broker.crt", d / "broker.ext")
        _run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
              "-out", str(files.ca_pem), "-days", str(days), "-subj", "/CN=deliverylab test CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], "Creating the test CA")
        _run([openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
              "-subj", "/CN=127.0.0.1"], "Creating the broker key")
        ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n")
        _run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(files.ca_pem), "-CAkey", str(ca_key),
              "-CAcreateserial", "-out", str(crt), "-days", str(days), "-extfile", str(ext)],
             "Signing the broker certificate")
        _run([openssl, "pkcs12", "-export", "-in", str(crt), "-inkey", str(key),
              "-certfile", str(files.ca_pem), "-name", "broker", "-out", str(files.keystore),
              "-passout", f"pass:{pw}"], "Writing the broker keystore")
        for p in (ca_key, key, csr, ext, d / "ca.srl"):
            p.unlink(missing_ok=True)
    else:
        ca_store, csr, crt = d / "ca.p12", d / "broker.csr", d / "broker.crt"
        ca_store.unlink(missing_ok=True)
        common = ["-storetype", "PKCS12", "-storepass", pw]
        _run([keytool, "-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048",
              "-dname", "CN=deliverylab test CA", "-ext", "bc:c", "-validity", str(days),
              "-keystore", str(ca_store), *common], "Creating the test CA")
        _run([keytool, "-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store),
              "-file", str(files.ca_pem), *common], "Exporting the test CA")
        _run([keytool, "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
              "-dname", "CN=127.0.0.1", "-validity", str(days), "-keystore", str(files.keystore),
              *common], "Creating the broker key")
        _run([keytool, "-certreq", "-alias", "broker", "-keystore", str(files.keystore),
              "-file", str(csr), *common], "Creating the broker certificate request")
        _run([keytool, "-gencert", "-alias", "ca", "-keystore", str(ca_store), "-infile", str(csr),
              "-outfile", str(crt), "-rfc", "-validity", str(days), "-ext", f"SAN={san.lower()}",
              "-ext", "eku=serverAuth", *common], "Signing the broker certificate")
        _run([keytool, "-importcert", "-noprompt", "-alias", "ca", "-file", str(files.ca_pem),
              "-keystore", str(files.keystore), *common], "Adding the CA to the broker keystore")
        _run([keytool, "-importcert", "-noprompt", "-alias", "broker", "-file", str(crt),
              "-keystore", str(files.keystore), *common], "Adding the signed broker certificate")
        for p in (ca_store, csr):
            p.unlink(missing_ok=True)
    _run([keytool, "-importcert", "-noprompt", "-alias", "ca", "-file", str(files.ca_pem),
          "-keystore", str(files.truststore), "-storetype", "PKCS12", "-storepass", pw],
         "Writing the broker truststore")
    (d / "broker.crt").unlink(missing_ok=True)
    return files


__all__ = ["MECHANISMS", "TlsFiles", "add_scram_users", "make_tls_files", "sasl_settings"]
