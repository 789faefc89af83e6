"""`deliverylab check`: any program under the lab's crashes and faults, judged against its claim.

    deliverylab check --claim at-least-once --crashes 8 --fault kill-leader -- python my_app.py
    deliverylab check --notebook alice/03-at-least-once.ipynb bob/03-at-least-once.ipynb

The second form is the instructor's table: each exercise (cells tagged exercise / check) of
each learner's notebook, checked as its check cell says, one row per exercise.

The exit code is for CI: 0 the claim held (and the run could have shown it breaking), 1 it did
not hold, 3 the run could not show anything, 2 bad input (one paragraph on stderr).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


TABLE = ("file", "exercise", "claim", "status")


def cmd_notebooks(args: argparse.Namespace) -> int:
    from ..check import exercises
    from ..cluster import connect
    from ..errors import LabError

    if args.command or args.claim:
        raise LabError("--notebook runs the exercises' own check cells: it takes no --claim and "
                       "no command.", "Use either deliverylab check --notebook FILE.ipynb … or "
                       "deliverylab check --claim CLAIM -- COMMAND.")
    for path in args.notebook:  # every file is there before the first check starts
        if not Path(path).is_file():
            raise LabError(f"--notebook {path}: no such file.",
                           "Pass learners' notebooks, e.g. --notebook alice/03-at-least-once.ipynb.")
    cluster = connect()
    widths = (max(len(h) for h in ('file', *args.notebook)), 26, 14, 12)
    print("  ".join(h.ljust(w) for h, w in zip(TABLE, widths)).rstrip(), flush=True)
    statuses: list[str] = []
    for row in exercises.grade([Path(p) for p in args.notebook], cluster):
        statuses.append(row["status"])
        print("  ".join(row[h].ljust(w) for h, w in zip(TABLE, widths)).rstrip(), flush=True)
        if row["status"] != "passed":
            print(f"    {row['detail']}", flush=True)
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    print(", ".join(f"{n} {s}" for s, n in counts.items()) or "no exercises")
    return exercises.exit_code(statuses)


def cmd_check(args: argparse.Namespace) -> int:
    from .. import check
    from ..check.contract import check_command
    from ..check.guarantees import guarantee
    from ..check.schedule import check_crashes
    from ..errors import LabError, require_whole
    from ..ids import MAX_MESSAGES

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    args.command = command
    if args.notebook:
        return cmd_notebooks(args)
    if not args.claim:
        raise LabError("deliverylab check needs --claim (" + " | ".join(check.CLAIMS) + ") and a "
                       "command after --, or --notebook FILE.ipynb.",
                       "E.g. deliverylab check --claim at-least-once -- python my_app.py.")
    # Checked here first, so each paragraph names the option as it was typed on the command line.
    guarantee(args.claim, "--claim")
    require_whole("--messages", args.messages, "Use e.g. --messages 200.", most=MAX_MESSAGES)
    require_whole("--partitions", args.partitions, "Use e.g. --partitions 1.")
    check_crashes(args.crashes, args.messages, "--crashes ")
    check_command(command)
    from ..paths import check_writable_file
    for option, value in (("--figure", args.figure), ("--json-out", args.json_out)):
        if value:  # before the run, not after its minutes
            check_writable_file(value, option)
    report = check.program(command, claim=args.claim, crashes=args.crashes, seed=args.seed,
                           messages=args.messages, partitions=args.partitions,
                           fault=None if args.fault == "none" else args.fault,
                           time_limit_s=args.time_limit, stall_s=args.stall_s, keep=args.keep)
    print(report.to_json() if args.json else report)
    if args.json_out:
        Path(args.json_out).write_text(report.to_json() + "\n")
    if args.figure:
        report.figure().savefig(args.figure, dpi=110)
        if not args.json:
            print(f"figure: {args.figure}", file=sys.stderr)
    return report.exit_code


def add_command(sub: argparse._SubParsersAction) -> None:
    from ..check import CLAIMS
    from ..nemesis import FAULTS

    c = sub.add_parser("check", help="check any program (a command line) against the guarantee "
                                     "it claims, under crashes and faults (docs/CHECK.md)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--claim", help=" | ".join(CLAIMS))
    c.add_argument("--notebook", nargs="+", metavar="FILE.ipynb",
                   help="the instructor's table: check every exercise of these notebooks")
    c.add_argument("--crashes", type=int, default=5, metavar="N",
                   help="SIGKILLs of the program while records are in flight (default 5)")
    c.add_argument("--fault", default="none", help="a broker fault: " + " | ".join(FAULTS))
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--messages", type=int, default=200, help="input records (default 200)")
    c.add_argument("--partitions", type=int, default=1)
    c.add_argument("--time-limit", type=float, default=120.0, metavar="S",
                   help="the whole check's limit in seconds (default 120)")
    c.add_argument("--stall-s", type=float, default=15.0, metavar="S",
                   help="a start that writes no output and commits nothing this long is an error")
    c.add_argument("--json", action="store_true", help="the report as JSON")
    c.add_argument("--json-out", metavar="FILE.json",
                   help="also write the report as JSON to FILE (a CI artifact; the text is still printed)")
    c.add_argument("--figure", metavar="FILE.png", help="save the timeline figure")
    c.add_argument("--keep", action="store_true", help="keep the run's topics, group and folder")
    c.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- then the program's command line; placeholders {bootstrap}, "
                        "{input_topic}, {output_topic}, {group}, {transactional_id}")
    c.set_defaults(func=cmd_check, respell={"time_limit_s": "--time-limit"})
