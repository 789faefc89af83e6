"""Any program, in any language, under the lab's crashes: the contract it keeps.

The contract (docs/CHECK.md says it to the program's author):
- The program gets KAFKA_BOOTSTRAP_SERVERS, INPUT_TOPIC, OUTPUT_TOPIC, GROUP_ID and
  TRANSACTIONAL_ID in its environment (and KAFKA_CLIENT_CONFIG_JSON: every librdkafka setting of
  the cluster, e.g. SASL for an external one), and the same values as placeholders in its
  command line: {bootstrap}, {input_topic}, {output_topic}, {group}, {transactional_id}.
- It consumes INPUT_TOPIC as member of GROUP_ID, commits its offsets there, and writes, for each
  input record it processed, one record to OUTPUT_TOPIC whose value is the input record's value
  copied, or any JSON object whose "id" field is the input record's id ({"id":"m000007",...}).
- It may run until stopped (the lab sends SIGTERM once the group has no lag and the output has
  been quiet for a second, then SIGKILL after 5 s) or exit by itself when it has caught up (the
  lab starts it again while the group has lag).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ..errors import LabError

PLACEHOLDERS = ("bootstrap", "input_topic", "output_topic", "group", "transactional_id")
# Only a word in single braces is a placeholder, so a JSON argument or a script given with -c
# keeps its own braces as they are.
PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
ENVIRONMENT = {"bootstrap": "KAFKA_BOOTSTRAP_SERVERS", "input_topic": "INPUT_TOPIC",
               "output_topic": "OUTPUT_TOPIC", "group": "GROUP_ID",
               "transactional_id": "TRANSACTIONAL_ID"}


def check_command(argv: list[str] | tuple[str, ...], option: str = "--") -> list[str]:
    """The command line, checked before anything starts: not empty, known placeholders only, and
    an executable that exists."""
    argv = [str(a) for a in (argv or [])]
    if not argv:
        raise LabError(f"No program to check was given after {option}.",
                       "Put the program's command line last, e.g. `deliverylab check --claim "
                       "at-least-once -- python my_app.py`.")
    for arg in argv:
        for name in PLACEHOLDER.findall(arg):
            if name not in PLACEHOLDERS:
                raise LabError(f"The command line's placeholder {{{name}}} (in {arg[:80]!r}) is "
                               "not one the lab fills in.",
                               f"Use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}.")
    if shutil.which(argv[0]) is None:
        raise LabError(f"The command {argv[0]!r} was not found (not a file, and not on PATH).",
                       "Check its spelling, give its full path, or install it; e.g. "
                       "`-- python my_app.py` or `-- java -cp 'libs/*' my.App`.")
    return argv


def command_line(argv: list[str], values: dict[str, str]) -> list[str]:
    return [PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), a) for a in argv]


def environment(client: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The contract's environment variables for the program."""
    settings = {k: v for k, v in client.items() if isinstance(v, (str, int, float, bool))}
    return {**{ENVIRONMENT[k]: v for k, v in values.items()},
            "KAFKA_CLIENT_CONFIG_JSON": json.dumps(settings)}


def last_line(log: Path) -> str:
    """'; its last line of output: …' from a program's log, for an error's paragraph."""
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return f"; its last line of output: {lines[-1][:200]!r}" if lines else "; it printed nothing"


__all__ = ["PLACEHOLDERS", "ENVIRONMENT", "check_command", "command_line", "environment",
           "last_line"]
