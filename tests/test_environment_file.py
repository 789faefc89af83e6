"""environment.yml (conda) must install what pyproject.toml (pip) installs.

Same packages, same minimum versions: add or raise a dependency in pyproject.toml without
doing the same in environment.yml and these tests fail.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from deliverylab.java import MIN_JAVA

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
ENVIRONMENT = ROOT / "environment.yml"

# PyPI name -> conda-forge name, where they differ.
CONDA_FORGE_NAME = {"confluent-kafka": "python-confluent-kafka"}
# In environment.yml but not a Python dependency of the package.
CONDA_ONLY = {"python", "openjdk", "pip"}

CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?\s*$")


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def pyproject() -> dict:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)


def pip_minimums() -> dict[str, str]:
    """{normalised name: minimum version} of [project] dependencies and the test extra."""
    project = pyproject()["project"]
    out = {}
    for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        req = Requirement(line)
        minimums = [s.version for s in req.specifier if s.operator == ">="]
        assert len(minimums) == 1, f"{line!r}: expected exactly one '>=' minimum version"
        out[normalise(req.name)] = minimums[0]
    return out


def environment() -> dict:
    with ENVIRONMENT.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def conda_minimums() -> dict[str, str | None]:
    """{normalised name: minimum version or None} of environment.yml's conda packages."""
    out = {}
    for dep in environment()["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            continue
        match = CONDA_SPEC.match(str(dep))
        assert match, f"environment.yml: {dep!r} is not of the form 'name' or 'name>=version'"
        name = normalise(match.group(1))
        assert name not in out, f"environment.yml lists {name} twice"
        out[name] = match.group(2)
    return out


def as_conda(pip_name: str) -> str:
    return CONDA_FORGE_NAME.get(pip_name, pip_name)


def test_name_and_channel():
    env = environment()
    assert env["name"] == "kafka-delivery-lab"
    assert env["channels"] == ["conda-forge"]


def test_same_packages():
    conda = set(conda_minimums()) - CONDA_ONLY
    pip = {as_conda(name) for name in pip_minimums()}
    assert sorted(pip - conda) == [], "in pyproject.toml but missing in environment.yml"
    assert sorted(conda - pip) == [], "in environment.yml but not in pyproject.toml"


def test_same_minimum_versions():
    conda = conda_minimums()
    for name, minimum in pip_minimums().items():
        assert conda[as_conda(name)] == minimum, (
            f"{name}: pyproject.toml wants >={minimum}, environment.yml has "
            f"{as_conda(name)}>={conda[as_conda(name)]}")


def test_confluent_kafka_uses_its_conda_forge_name():
    conda = conda_minimums()
    assert "python-confluent-kafka" in conda
    assert "confluent-kafka" not in conda, "conda-forge's package is python-confluent-kafka"


def test_python_and_java():
    conda = conda_minimums()
    requires_python = pyproject()["project"]["requires-python"]
    assert requires_python == f">={conda['python']}"
    assert conda["openjdk"] == str(MIN_JAVA), "the local brokers need this Java (deliverylab.java)"


def test_installs_the_package_itself_with_pip():
    deps = environment()["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [["-e ."]]
    assert "pip" in deps, "list pip itself when environment.yml has a pip: section"
