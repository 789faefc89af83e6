"""`deliverylab check`: any program under the lab's crashes and faults, judged against its claim.

    deliverylab check --claim at-least-once --crashes 8 --fault kill-leader -- python my_app.py

The exit code is for CI: 0 the claim held (and the run could have shown it breaking), 1 it did
not hold, 3 the run could not show anything, 2 bad input (one paragraph on stderr).
"""
from __future__ import annotations

import argparse
import sys


def cmd_check(args: argparse.Namespace) -> int:
    from .. import check
    from ..check.contract import check_command
    from ..check.guarantees import guarantee
    from ..check.schedule import check_crashes
    from ..errors import require_whole
    from ..ids import MAX_MESSAGES

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    # Checked here first, so each paragraph names the option as it was typed on the command line.
    guarantee(args.claim, "--claim")
    require_whole("--messages", args.messages, "Use e.g. --messages 200.", most=MAX_MESSAGES)
    require_whole("--partitions", args.partitions, "Use e.g. --partitions 1.")
    check_crashes(args.crashes, args.messages, "--crashes ")
    check_command(command)
    if args.figure:  # before the run, not after its minutes
        from ..paths import check_writable_file
        check_writable_file(args.figure, "--figure")
    report = check.program(command, claim=args.claim, crashes=args.crashes, seed=args.seed,
                           messages=args.messages, partitions=args.partitions,
                           fault=None if args.fault == "none" else args.fault,
                           time_limit_s=args.time_limit, stall_s=args.stall_s, keep=args.keep)
    print(report.to_json() if args.json else report)
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
    c.add_argument("--claim", required=True, help=" | ".join(CLAIMS))
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
    c.add_argument("--figure", metavar="FILE.png", help="save the timeline figure")
    c.add_argument("--keep", action="store_true", help="keep the run's topics, group and folder")
    c.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- then the program's command line; placeholders {bootstrap}, "
                        "{input_topic}, {output_topic}, {group}, {transactional_id}")
    c.set_defaults(func=cmd_check, respell={"time_limit_s": "--time-limit"})
