"""Experiment commands of the CLI (run, produce, matrix, validate); filled in by the engine."""
from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    return None
