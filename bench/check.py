"""`deliverylab check` on a program against the lab's own run, the same number of crashes (issue 19).

    python bench/check.py [--runs 3] [--crashes 8] [--messages 200]

Both are timed as a user starts them, a command line each (wall time, start and cleanup
included), interleaved so that a change in the machine's load hits both:

- check: deliverylab check --claim at-least-once --crashes 8 --messages 200 --json-out F
         -- python examples/at_least_once.py          (the correct at-least-once program)
- lab:   deliverylab run at-least-once --messages 200 --crash after-process --crash-every 25
         --processing-ms 5 --json                     (200 / 25 = 8 crashes; 5 ms of work per
                                                       record, as the example program's default)

Each run's own report says how many crashes it had and whether it held; a run with another
count, or a check that did not pass, is an error, not a time. Prints min–max of each and the
ratio check / lab (target ≤ 2×). Uses the running cluster (DELIVERYLAB_HOME).

Measured 2026-12-02 on the shared 2-core machine (Kafka 4.4.0, the lab's 3-broker cluster), two
sittings of 3 runs each, every run 8 crashes and 0 lost, other helpers' clusters and tests
running beside it:
- load average 10–18: check 11.5–28.6 s, lab run 7.4–20.2 s; ratio of medians 1.29×, of minima
  1.56×, worst (slowest check / fastest lab run) 3.86×;
- load average 28–34: check 30.6–40.8 s, lab run 44.1–54.2 s; ratio of medians 0.74×, of minima
  0.69×, worst 0.93×.
The spread within one sitting is larger than the difference: the check's own part (its report's
elapsed 5–20 s) is no slower than the lab run's (5–35 s); the CLI's wall time adds the wait for
the static member's 6 s session before the check's group can be deleted.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DELIVERYLAB = str(Path(sys.executable).with_name("deliverylab"))


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return time.monotonic() - t0, done


def check_once(crashes: int, messages: int, folder: Path, k: int) -> dict:
    out = folder / f"check-{k}.json"
    seconds, done = timed([DELIVERYLAB, "check", "--claim", "at-least-once", "--crashes",
                           str(crashes), "--messages", str(messages), "--json-out", str(out),
                           "--", sys.executable, str(ROOT / "examples" / "at_least_once.py")])
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"check run {k} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    s = json.loads(out.read_text())["summary"]
    if s["crashes"] != crashes:
        raise SystemExit(f"check run {k} had {s['crashes']} crashes, not {crashes}")
    return {"wall_s": round(seconds, 2), "elapsed_s": round(s["elapsed_s"], 2), "crashes": s["crashes"],
            "lost": s["lost"], "duplicated": s["duplicated"]}


def lab_once(crashes: int, messages: int, k: int) -> dict:
    every = messages // crashes
    seconds, done = timed([DELIVERYLAB, "run", "at-least-once", "--messages", str(messages),
                           "--crash", "after-process", "--crash-every", str(every),
                           "--processing-ms", "5", "--json"])
    if done.returncode != 0:
        raise SystemExit(f"lab run {k} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    s = json.loads(done.stdout.strip().splitlines()[-1])
    s = s.get("summary", s)
    if s["crashes"] != crashes:
        raise SystemExit(f"lab run {k} had {s['crashes']} crashes, not {crashes} "
                         f"(--crash-every {every} of {messages})")
    return {"wall_s": round(seconds, 2), "elapsed_s": round(s["elapsed_s"], 2), "crashes": s["crashes"],
            "lost": s["lost"], "duplicated": s["duplicated"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--crashes", type=int, default=8)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    check_runs, lab_runs = [], []
    with tempfile.TemporaryDirectory(prefix="bench-check-") as folder:
        for k in range(args.runs):
            check_runs.append(check_once(args.crashes, args.messages, Path(folder), k))
            print("check", json.dumps(check_runs[-1]), flush=True)
            lab_runs.append(lab_once(args.crashes, args.messages, k))
            print("lab  ", json.dumps(lab_runs[-1]), flush=True)
    c = [r["wall_s"] for r in check_runs]
    lab = [r["wall_s"] for r in lab_runs]
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    print(f"check {min(c):.1f}–{max(c):.1f} s, lab run {min(lab):.1f}–{max(lab):.1f} s "
          f"({args.crashes} crashes, {args.messages} messages, {args.runs} runs each); "
          f"ratio of medians {median(c) / median(lab):.2f}×, of minima {min(c) / min(lab):.2f}×, "
          f"worst (max/min) {max(c) / min(lab):.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
