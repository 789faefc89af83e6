"""The sample payments: a seeded script makes them, payloads.py serves them to the workers."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from deliverylab import payloads
from deliverylab.errors import LabError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "data" / "make_payments.py"
COMMITTED = ROOT / "data" / "payments.jsonl"
FIELDS = ["payment_id", "customer_id", "merchant", "amount", "currency", "method", "created_at"]


def make(out: Path, *args: str) -> bytes:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args],
                   check=True, capture_output=True, text=True, timeout=60)
    return out.read_bytes()


def test_same_seed_same_bytes(tmp_path):
    first = make(tmp_path / "a.jsonl", "--count", "200", "--seed", "3")
    second = make(tmp_path / "b.jsonl", "--count", "200", "--seed", "3")
    assert first == second
    assert make(tmp_path / "c.jsonl", "--count", "200", "--seed", "4") != first


def test_committed_file_is_a_fresh_run_with_the_defaults(tmp_path):
    assert COMMITTED.is_file(), "data/payments.jsonl is missing: run `python data/make_payments.py`"
    fresh = make(tmp_path / "payments.jsonl")
    assert COMMITTED.read_bytes() == fresh, (
        "data/payments.jsonl differs from `python data/make_payments.py`: if the generator "
        "changed on purpose, run it again and commit the new file")


def test_the_sample_looks_like_payments():
    rows = payloads.load_payments()
    assert len(rows) == 500
    assert all(list(row) == FIELDS for row in rows)
    assert len({r["payment_id"] for r in rows}) == 500
    assert 30 <= len({r["customer_id"] for r in rows}) <= 40
    assert all(re.fullmatch(r"\d+\.\d\d", r["amount"]) and float(r["amount"]) > 0 for r in rows)
    currencies = Counter(r["currency"] for r in rows)
    assert set(currencies) <= {"EUR", "USD", "GBP"}
    assert currencies.most_common(1)[0][0] == "EUR" and currencies["EUR"] > len(rows) / 2
    assert {r["method"] for r in rows} == {"card", "sepa", "wallet"}
    assert all(r["currency"] == "EUR" for r in rows if r["method"] == "sepa")
    times = [datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")) for r in rows]
    assert all(a < b for a, b in zip(times, times[1:])), "created_at must increase"


def test_payment_for_cycles_through_the_sample():
    rows = payloads.load_payments()
    n = len(rows)
    assert json.loads(payloads.payment_for(0)) == rows[0]
    assert json.loads(payloads.payment_for(n - 1)) == rows[-1]
    assert payloads.payment_for(n) == payloads.payment_for(0)
    assert payloads.payment_for(2 * n + 7) == payloads.payment_for(7)
    assert payloads.payment_for(1) != payloads.payment_for(0)


def test_payment_for_is_compact_utf8_json():
    value = payloads.payment_for(3)
    assert isinstance(value, bytes)
    assert b": " not in value and b", " not in value
    assert json.loads(value.decode("utf-8"))["payment_id"] == "pay-000004"


def test_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(LabError, match="make_payments.py"):
        payloads.load_payments(tmp_path / "nope.jsonl")


def test_a_broken_file_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"payment_id": "pay-1"}\n{not json\n', encoding="utf-8")
    with pytest.raises(LabError, match="Line 2"):
        payloads.load_payments(bad)


def test_a_given_path_is_read(tmp_path):
    rows = [{"payment_id": "pay-x", "amount": "1.00"}]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert payloads.load_payments(path) == rows
    assert payloads.load_payments(str(path)) == rows
