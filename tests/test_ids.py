"""The message identity (deliverylab.ids): ids past 999,999 round-trip, values give their id
back without a fixed slice, and a message count over the cap is one clear error at once."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from deliverylab.errors import LabError
from deliverylab.experiments import ConsumerExperiment, ProducerExperiment
from deliverylab.ids import (GROUP_KEYS, MAX_MESSAGES, check_messages, id_of_value, index_of, key_for, msg_id,
                             record, record_of, seq_for, value_for, value_of)
from deliverylab.experiments import RetryPipeline


@pytest.mark.parametrize("i", [0, 7, 999_999, 1_000_000, 1_234_567, 10**9])
def test_ids_round_trip_past_six_digits(i):
    assert index_of(msg_id(i)) == i
    value = value_for(i, 8, b'{"amount":1}')
    assert id_of_value(value) == msg_id(i)  # no fixed slice: 'm1000000' is read whole
    assert record_of(value) == {**record(i, 8), "payment": {"amount": 1}}
    assert key_for(i, 8) == f"customer-{i % 8:03d}" and seq_for(i, 8) == i // 8


def test_ids_sort_like_their_index_up_to_the_cap():
    ids = [msg_id(i) for i in (0, 9, 10, 999_999)]
    assert ids == sorted(ids)


def test_bad_ids_are_refused():
    for bad in ("x000001", "m", "m12a"):
        with pytest.raises(ValueError):
            index_of(bad)
    with pytest.raises(ValueError):
        id_of_value(b'{"key":"a"}')


@pytest.mark.parametrize("make", [lambda n: ConsumerExperiment(messages=n),
                                  lambda n: ProducerExperiment(messages=n),
                                  lambda n: RetryPipeline(messages=n)])
def test_messages_cap_is_one_clear_error(make):
    make(MAX_MESSAGES).check()  # the cap itself is allowed
    with pytest.raises(LabError, match="limit of 1,000,000") as e:
        make(MAX_MESSAGES + 1).check()
    assert "messages=1,000,001" in str(e.value)
    with pytest.raises(LabError, match="whole number"):
        check_messages(0)


def test_cli_refuses_a_huge_message_count_at_once():
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "deliverylab.tools.cli", "run", "at-least-once",
                          "--messages", "99999999999999999999"], capture_output=True, text=True,
                         timeout=10)
    assert time.monotonic() - t0 < 10
    assert out.returncode != 0
    assert "limit of 1,000,000" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("i", [0, 7, 999_999])
def test_the_fast_value_is_the_general_one_byte_for_byte(i):
    """value_for (hand-formatted, per message) and value_of (any record) write one format."""
    for extra in ({}, {"payment": b'{"amount":"6.14"}'}, {"pad_to": 200}):
        assert value_for(i, 8, **extra) == value_of(record(i, 8), **extra)
    assert len(value_for(i, 8, pad_to=200)) == 200


def test_any_record_round_trips_with_its_id_first():
    rec = {"key": 'a "quoted" key', "id": "first-0", "seq": 0, "created": 1.5, "processed": True,
           "error": None, "note": "päyment\\n"}
    value = value_of(rec)
    assert value.startswith(b'{"id":"first-0",') and id_of_value(value) == "first-0"
    assert record_of(value) == rec
    assert b" " not in value_of({"id": "first-0", "key": "first", "seq": 0})  # compact: id_of_value reads it


def test_group_keys_put_records_on_all_six_partitions_of_a_lab_group():
    """librdkafka's default partitioner: CRC32(key) % partitions (zlib's CRC-32)."""
    import zlib

    def filled(keys: int) -> set[int]:
        return {zlib.crc32(key_for(i, keys).encode()) % 6 for i in range(keys)}
    assert filled(8) == {1, 2, 4, 5}  # the default 8 keys: p0 and p3 empty
    assert filled(GROUP_KEYS) == set(range(6))
