"""Make the sample payment events the experiments send as message values.

    python data/make_payments.py                      # 500 events, seed 7 -> data/payments.jsonl
    python data/make_payments.py --count 50 --seed 1 --out /tmp/p.jsonl

One JSON object per line:
payment_id, customer_id, merchant, amount, currency, method, created_at.

Deterministic: the same --count and --seed give the same bytes on every machine (only the
standard library's seeded random.Random, no clock, no locale). The values are invented but
shaped like real card/SEPA/wallet traffic: a few customers pay often, most rarely; each merchant
has its own typical amount (fixed prices for subscriptions); SEPA payments are in euros only.
"""
from __future__ import annotations

import argparse
import json
import math
import random
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "payments.jsonl"
START = datetime(2025, 3, 3, 8, 0, 0, tzinfo=timezone.utc)  # a Monday morning
MEAN_GAP_S = 40.0  # average seconds between two payments
N_CUSTOMERS = 40

# merchant: (median amount, spread of log(amount)); spread 0 means a fixed price
MERCHANTS = {
    "Bakkerij Jansen": (6.80, 0.45),
    "FreshMart Groceries": (38.00, 0.60),
    "CityRail Tickets": (14.50, 0.50),
    "Café Lumen": (4.20, 0.35),
    "Nordlicht Books": (22.00, 0.40),
    "Pharmacie Centrale": (17.50, 0.55),
    "StreamBox": (12.99, 0.0),
    "Velo Repair Shop": (45.00, 0.70),
    "Hotel Aurora": (189.00, 0.45),
    "Kleinod Electronics": (129.00, 0.90),
    "Urban Fuel": (62.00, 0.30),
    "CloudDesk Hosting": (29.00, 0.0),
}
# how often each merchant is paid, in the same order as MERCHANTS
MERCHANT_WEIGHTS = [14, 16, 12, 14, 5, 6, 4, 3, 2, 3, 8, 2]
CURRENCIES = (("EUR", 84), ("USD", 10), ("GBP", 6))
METHODS = (("card", 60), ("sepa", 25), ("wallet", 15))
CENT = Decimal("0.01")


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    names, weights = zip(*weighted)
    return rng.choices(names, weights=weights)[0]


def make_payments(count: int = 500, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    customers = [f"cust-{i:04d}" for i in range(1, N_CUSTOMERS + 1)]
    # Zipf-like activity: the first customers pay far more often than the last.
    activity = [1.0 / (rank ** 0.6) for rank in range(1, N_CUSTOMERS + 1)]
    merchants = list(MERCHANTS)
    created = START
    rows = []
    for i in range(1, count + 1):
        created += timedelta(milliseconds=max(1, round(rng.expovariate(1.0 / MEAN_GAP_S) * 1000)))
        merchant = rng.choices(merchants, weights=MERCHANT_WEIGHTS)[0]
        median, spread = MERCHANTS[merchant]
        amount = median if spread == 0 else max(0.5, median * math.exp(rng.gauss(0.0, spread)))
        currency = _pick(rng, CURRENCIES)
        method = _pick(rng, METHODS)
        if method == "sepa" and currency != "EUR":
            method = "card"  # SEPA moves euros only
        rows.append({
            "payment_id": f"pay-{i:06d}",
            "customer_id": rng.choices(customers, weights=activity)[0],
            "merchant": merchant,
            "amount": str(Decimal(repr(amount)).quantize(CENT, rounding=ROUND_HALF_EVEN)),
            "currency": currency,
            "method": method,
            "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        })
    return rows


def write_jsonl(rows: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="number of events (default 500)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output file (default: data/payments.jsonl in the repository)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    rows = make_payments(args.count, args.seed)
    write_jsonl(rows, args.out)
    print(f"wrote {len(rows)} payments to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
