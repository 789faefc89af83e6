"""The scenario matrix: the experiment behind each cell, and the recording notebook 12 reads."""
from __future__ import annotations

from pathlib import Path

import pytest

from deliverylab.errors import LabError
from deliverylab.experiments.matrix import (AUTO_COMMIT_INTERVAL_MS, consumer_scenarios, consumer_spec,
                                producer_scenarios, producer_spec, read_matrix)

RECORDING = Path(__file__).resolve().parents[1] / "data" / "matrix.csv"


def test_every_cell_is_a_valid_experiment():
    for model, point in consumer_scenarios():
        spec = consumer_spec(model, point).check()
        assert spec.processing_ms > 0  # commits and timer ticks fall between crashes
        if point == "mid-process":  # a tick inside the crashed record's work, every time
            assert spec.processing_ms > spec.auto_commit_interval_ms == AUTO_COMMIT_INTERVAL_MS
            assert spec.crash.expected_crashes(spec.messages) >= 3
    for config, fault in producer_scenarios():
        producer_spec(config, fault).check()
    with pytest.raises(LabError, match="Unknown producer configuration"):
        producer_spec("acks=2", "kill-leader")


def test_the_recording_covers_the_matrix_with_its_command():
    frame, made_by = read_matrix(RECORDING)
    assert made_by.startswith("made by: deliverylab matrix")
    consumers = frame[frame["kind"] == "consumer"]
    assert {(m, p) for m, p in zip(consumers["model"], consumers["crash_point"])} == \
        set(consumer_scenarios())  # every consumer-group model at each of its crash points
    assert (consumers["crashes"] > 0).all()  # every cell's crash schedule fired
    producers = frame[frame["kind"] == "producer"]
    assert {(c, f) for c, f in zip(producers["config"], producers["fault"])} == set(producer_scenarios())
