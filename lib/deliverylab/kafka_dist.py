"""Fetch the official Apache Kafka jars from Maven Central once, verify them, reuse them.

Why not the .tgz distribution: the lab needs only Python and Java on a learner's machine, and the
jars (with checksums pinned in ``kafka-jars-<version>.txt``) come from the same registry every Java
build uses. Each list was made with ``mvn dependency:list -DincludeScope=runtime`` on
``org.apache.kafka:kafka_2.13``, ``org.apache.kafka:kafka-tools`` (VerifiableConsumer and friends)
and log4j2's slf4j binding.

Which version: the newest pinned one, unless ``DELIVERYLAB_KAFKA_VERSION`` names another pinned
line (an older one is kept so a learner can compare, e.g. share groups are off by default before
4.2). A pin file is the one place a version is declared; a running cluster records the version it
was started with, and restarts its brokers from those jars whatever the variable says later.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import LabError
from .paths import cache_dir, folder_lock

DEFAULT_REPO = "https://repo.maven.apache.org/maven2"
_PIN_DIR = Path(__file__).parent
VERSION_ENV = "DELIVERYLAB_KAFKA_VERSION"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def supported_versions() -> list[str]:
    """Every Kafka version with a pinned jar list, newest first."""
    found = [p.name[len("kafka-jars-"):-len(".txt")] for p in _PIN_DIR.glob("kafka-jars-*.txt")]
    return sorted(found, key=_version_key, reverse=True)


DEFAULT_KAFKA_VERSION = supported_versions()[0]


def kafka_version() -> str:
    """The version a new local cluster runs: DELIVERYLAB_KAFKA_VERSION or the newest pinned."""
    wanted = os.environ.get(VERSION_ENV, "").strip() or DEFAULT_KAFKA_VERSION
    if wanted not in supported_versions():
        raise LabError(f"{VERSION_ENV}={wanted} is not a Kafka version the lab has pinned jars for.",
                       f"Use one of {', '.join(supported_versions())}, or unset {VERSION_ENV} "
                       f"for the newest ({DEFAULT_KAFKA_VERSION}).")
    return wanted


def _pins(version: str) -> Path:
    return _PIN_DIR / f"kafka-jars-{version}.txt"


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    def url(self, repo: str) -> str:
        return f"{repo.rstrip('/')}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"


def pinned_jars(version: str | None = None) -> list[Jar]:
    jars = []
    for line in _pins(version or kafka_version()).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        coords, sha, size = line.split()
        group, artifact, version = coords.split(":")
        jars.append(Jar(group, artifact, version, sha, int(size)))
    return jars


def libs_dir(version: str | None = None) -> Path:
    return cache_dir() / f"kafka-{version or kafka_version()}" / "libs"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_verified(path: Path, jar: Jar) -> bool:
    return path.exists() and path.stat().st_size == jar.size and _sha256(path) == jar.sha256


def _fetch(jar: Jar, dest: Path, repo: str) -> None:
    part = dest.with_suffix(".part")
    url = jar.url(repo)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, part.open("wb") as out:
            while block := resp.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise LabError(
            f"Downloading Kafka's jar {jar.filename} from {url} failed ({exc}).",
            "Check your internet connection or proxy, or point DELIVERYLAB_MAVEN_REPO at a Maven "
            "mirror you can reach; then run `make setup` again.") from None
    if not _is_verified(part, jar):
        part.unlink(missing_ok=True)
        raise LabError(f"The download of {jar.filename} from {url} does not match its pinned "
                       f"SHA-256 {jar.sha256[:16]}….",
                       "The mirror served a different file; use Maven Central or a faithful mirror "
                       "(DELIVERYLAB_MAVEN_REPO).")
    part.rename(dest)


def ensure_kafka(progress: bool = False, version: str | None = None) -> Path:
    """Return the folder of verified Kafka jars, downloading what is missing (once)."""
    version = version or kafka_version()
    libs = libs_dir(version)
    libs.mkdir(parents=True, exist_ok=True)
    jars = pinned_jars(version)
    pins = _pins(version).read_text()
    marker = libs / ".verified"
    if marker.exists() and marker.read_text() == pins:
        return libs
    repo = os.environ.get("DELIVERYLAB_MAVEN_REPO", DEFAULT_REPO)
    with folder_lock(libs.parent):  # two notebooks starting at once download once
        missing = [j for j in jars if not _is_verified(libs / j.filename, j)]
        if progress and missing:
            mb = sum(j.size for j in missing) / 1e6
            print(f"Fetching Apache Kafka {version}: {len(missing)} jars, {mb:.0f} MB, into {libs}")
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda j: _fetch(j, libs / j.filename, repo), missing))
        wanted = {j.filename for j in jars}
        for stray in libs.glob("*.jar"):
            if stray.name not in wanted:  # an older pin's jar must not join the classpath
                stray.unlink()
        marker.write_text(pins)
    return libs


def classpath(version: str | None = None) -> str:
    return str(ensure_kafka(version=version) / "*")
