"""Crash schedules and their validation (pure)."""
from __future__ import annotations

import pytest

from deliverylab.crash import CrashPoints, CrashSpec
from deliverylab.vocabulary import ALL_POINTS, CRASH_POINTS
from deliverylab.errors import LabError


def test_every_k_crashes_at_known_indices():
    spec = CrashSpec("after-process", every=50)
    assert [i for i in range(200) if spec.scheduled(i)] == [49, 99, 149, 199]
    assert spec.expected_crashes(200) == 4


def test_probability_is_seeded_and_roughly_right():
    a = [i for i in range(5000) if CrashSpec("after-poll", prob=0.1, seed=3).scheduled(i)]
    b = [i for i in range(5000) if CrashSpec("after-poll", prob=0.1, seed=3).scheduled(i)]
    c = [i for i in range(5000) if CrashSpec("after-poll", prob=0.1, seed=4).scheduled(i)]
    assert a == b and a != c and 400 < len(a) < 600


def test_listed_indices():
    spec = CrashSpec("after-commit", at=(3, 7))
    assert [i for i in range(10) if spec.scheduled(i)] == [3, 7]


@pytest.mark.parametrize("model, point, needle", [
    ("at-most-once", "mid-transaction", "has no crash point"),
    ("auto-commit", "after-commit", "after-poll, mid-process, after-process"),
    ("at-least-once", "mid-process", "has no crash point"),
    ("at-least-once", "after-comit", "Did you mean 'after-commit'"),
    ("exactly-once", "before-flush", "has no crash point"),
    ("at_least_once", "after-process", "Unknown delivery model"),
])
def test_points_a_model_lacks_are_errors(model, point, needle):
    with pytest.raises(LabError, match=needle):
        CrashSpec(point, every=5).check(model)


@pytest.mark.parametrize("kwargs", [dict(), dict(every=0), dict(every=5, prob=0.1), dict(prob=1.5),
                                    dict(at=(-1,))])
def test_bad_schedules(kwargs):
    with pytest.raises(LabError, match="after-process|every|prob|indices"):
        CrashSpec("after-process", **kwargs).check("at-least-once")


def test_every_model_has_its_points_in_the_vocabulary():
    for model, points in CRASH_POINTS.items():
        assert set(points) <= set(ALL_POINTS)


def test_a_misspelt_crash_point_in_a_loop_is_an_error_not_a_crash_that_never_fires():
    points = CrashPoints(CrashSpec("after-process", every=1), [], lambda point, index: None)
    with pytest.raises(ValueError, match="not a crash point"):
        points.hit("after-proces", 0)
    CrashPoints(None, [], lambda point, index: None).hit("after-poll", 0)  # no schedule: no crash
