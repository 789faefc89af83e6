"""Kafka Delivery Lab: see what each delivery model and producer setting does when things fail."""
from __future__ import annotations

from .cluster import connect
from .errors import LabError

__version__ = "0.1.0"
__all__ = ["LabError", "connect", "__version__"]
