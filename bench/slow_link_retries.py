"""How reliably a slow link makes a producer without idempotence write duplicates (notebook 08,
experiment 5), and that the idempotent producer writes none under the same fault.

Each repetition runs the notebook's pair: `acks=all`, 5 requests in flight, `request.timeout.ms`
shorter than the delay the `slow-link` fault adds to the leader's replication, idempotence off,
then on. The fault strikes at a fixed index (half a second of reports), so a repetition differs
from the next only by timing; `--repeat N` labels them seed 1..N.

    python bench/slow_link_retries.py [--rate 150] [--delay-ms 1000] [--timeout-ms 500]
        [--slow-s 3] [--send-s 4] [--repeat 3]        (root; uses deliverylab.connect())

Measured on the lab's machine (Kafka 4.4.0, 3 brokers, loaded 2-core machine), rate 150, delay
1000 ms, request.timeout.ms 500, slow link 3 s, 4 s of sending (600 messages): without idempotence
165-184 messages duplicated in 9 of 9 runs; with idempotence 0 in 9 of 9. Rate 300: 331 and 348
duplicated, 0 with idempotence. With request.timeout.ms 30000: 0 duplicated in 2 of 2 runs. With
delay 1500 ms, request.timeout.ms 1000 and the same 3 s only 4 and 7: the broker handles one
request per connection at a time, so each timeout holds the queue for request.timeout.ms and few
requests time out within a short fault.
"""
from __future__ import annotations

import argparse
import json

import deliverylab
from deliverylab.experiments import ProducerExperiment, run_producer
from deliverylab.nemesis import FaultSpec

FIELDS = ("sent", "acked", "duplicated", "duplicated_messages", "acked_but_lost", "failed_reported",
          "reordered_keys", "elapsed_s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=150)
    ap.add_argument("--delay-ms", type=float, default=1000)
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--slow-s", type=float, default=3.0)
    ap.add_argument("--send-s", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cluster = deliverylab.connect(min_brokers=3)
    fault = FaultSpec("slow-link", at_index=args.rate // 2, heal_after_s=args.slow_s,
                      delay_ms=args.delay_ms)
    for seed in range(1, args.repeat + 1):
        for idempotence in (False, True):
            config = {"acks": "all", "enable.idempotence": idempotence,
                      "max.in.flight.requests.per.connection": 5,
                      "request.timeout.ms": args.timeout_ms}
            r = run_producer(ProducerExperiment(messages=int(args.rate * args.send_s), rate=args.rate,
                                                seed=seed, config=config, fault=fault), cluster)
            print(json.dumps({"seed": seed, "idempotence": idempotence,
                              **{k: r.summary[k] for k in FIELDS}, "warnings": r.warnings}),
                  flush=True)


if __name__ == "__main__":
    main()
