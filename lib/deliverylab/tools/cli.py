"""The `deliverylab` command: cluster control and headless experiments."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from typing import Any, Callable

from ..errors import LabError


def _print(obj: dict[str, Any], as_json: bool, text: Callable[[dict[str, Any]], str]) -> None:
    print(json.dumps(obj, default=str) if as_json else text(obj))


# --- cluster --------------------------------------------------------------------------------
def _cluster_text(d: dict[str, Any]) -> str:
    if not d.get("running"):
        return "No local cluster is running. Start one with `deliverylab cluster up`."
    lines = [f"{d['kind']} cluster, bootstrap servers {d['bootstrap_servers']}"]
    if d.get("home"):
        lines.append(f"run folder {d['home']}" + (f", owned by pid {d['owner_pid']}" if d.get("owner_pid") else ""))
    lines += [f"  broker {b['id']}: {b['host']}:{b['port']}  pid {b['pid']}  {b['state']}" for b in d["brokers"]]
    if d.get("network_faults"):
        lines.append(f"network faults: {d['network_faults']}")
    return "\n".join(lines)


def cmd_cluster_up(args: argparse.Namespace) -> int:
    from ..cluster import LocalCluster, check_environment
    from ..cluster.settings import check_port_base, check_size

    check_size(args.brokers)
    if args.port_base is not None:
        check_port_base(args.port_base, "--port-base", args.brokers)
    check_environment()  # checked even when a cluster runs: a typo is said, never ignored
    t0 = time.monotonic()
    cluster = LocalCluster.start(brokers=args.brokers, port_base=args.port_base, owned=False)
    d = {"running": True, **cluster.describe(), "ready_s": round(time.monotonic() - t0, 2)}
    _print(d, args.json, lambda d: _cluster_text(d) + f"\nready in {d['ready_s']} s")
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    from ..cluster import capabilities, running_cluster

    cluster = running_cluster()
    d = {"running": False} if cluster is None else {"running": True, **cluster.describe()}
    d["machine"] = capabilities.support_dict()
    _print(d, args.json, lambda d: _cluster_text(d) + "\n" + capabilities.support_text())
    return 0 if cluster is not None else 1


def cmd_cluster_down(args: argparse.Namespace) -> int:
    from ..cluster import LocalCluster, network
    from ..cluster.layout import remove_if_only_ours
    from ..paths import home_dir

    cluster = LocalCluster.find()
    if cluster is None:
        print("No local cluster is running; nothing to stop.")
    else:
        cluster.stop()
        print(f"Stopped the local cluster ({cluster.bootstrap_servers}).")
    # A partition left by a process killed mid-fault (its guard killed too): this run folder's.
    network.clean(home_dir())
    remove_if_only_ours(home_dir())
    return 0


def cmd_cluster_doctor(args: argparse.Namespace) -> int:
    """What this machine can run (the fault support table), and what the lab left on it:
    nftables tables and cgroups named deliverylab*."""
    from ..cluster import capabilities, network

    found = network.leftovers()
    if args.json:
        print(json.dumps({"machine": capabilities.support_dict(), "leftovers": found}))
        return 0
    print(capabilities.support_text())
    if not found:
        print("Nothing of the lab's is left on this machine (no deliverylab nftables table or cgroup).")
        return 0
    print("The lab's network state on this machine (a running cluster's cgroups are expected; a "
          "table outlives only a running fault):")
    for line in found:
        print(f"  {line}")
    print("`deliverylab cluster down` removes its run folder's; `nft delete table inet <name>` one table.")
    return 0


def cmd_cluster_fault(args: argparse.Namespace) -> int:
    from ..cluster import running_cluster
    from ..errors import ClusterNotRunning

    cluster = running_cluster()
    if cluster is None:
        raise ClusterNotRunning(f"No local cluster is running, so broker {args.broker} cannot be "
                                f"{args.action.rstrip('e')}ed.",
                                "Start one with `deliverylab cluster up --brokers 3`.")
    getattr(cluster, args.action)(args.broker)
    print(f"{args.action} broker {args.broker}: done")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deliverylab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    cl = sub.add_parser("cluster", help="start, inspect, fault and stop the embedded Kafka cluster")
    csub = cl.add_subparsers(dest="action", required=True)
    up = csub.add_parser("up", help="start 1 or 3 brokers on 127.0.0.1 (or reuse the running ones)")
    up.add_argument("--brokers", type=int, default=3, help="1 or 3 (default 3)")
    up.add_argument("--port-base", type=int, default=None,
                    help="first client port (default 19092, or DELIVERYLAB_PORT_BASE)")
    up.add_argument("--json", action="store_true")
    up.set_defaults(func=cmd_cluster_up)
    st = csub.add_parser("status", help="bootstrap servers and each broker's id, pid and state")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_cluster_status)
    down = csub.add_parser("down", help="stop every broker and delete the run folder's data")
    down.set_defaults(func=cmd_cluster_down)
    doctor = csub.add_parser("doctor", help="which faults this machine can run, and the nftables "
                             "tables and cgroups the lab left behind")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_cluster_doctor)
    for action in ("kill", "pause", "resume", "restart"):
        f = csub.add_parser(action, help=f"{action} one broker by id")
        f.add_argument("broker", type=int)
        f.set_defaults(func=cmd_cluster_fault)

    from . import cli_experiments
    cli_experiments.add_commands(sub)
    from . import cli_check
    cli_check.add_command(sub)
    from . import lab
    lab.add_command(sub)
    for words, leaf in leaf_parsers(p).items():  # which command ran, for its error's words
        leaf.set_defaults(words=words)
    return p


def leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
                 ) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command's own parser by its words, e.g. ("cluster", "up"): the CLI's options are
    theirs (tests/test_bad_input.py derives its table's rows from them)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: parser}
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for name, sub in subs[0].choices.items():
        found.update(leaf_parsers(sub, (*path, name)))
    return found


def spelling(parser: argparse.ArgumentParser) -> dict[str, str]:
    """A command's Python names → its options as typed (processing_ms → --processing-ms), and
    the names its set_defaults(respell=…) adds (a Spec field with another option's name)."""
    names = {a.dest: max(a.option_strings, key=len) for a in parser._actions
             if a.option_strings and a.dest != "help"}
    return {**names, **(parser.get_default("respell") or {})}


def main(argv: list[str] | None = None) -> int:
    from ..cluster.host import native_windows_refused, is_native_windows

    if is_native_windows():  # before anything that needs POSIX signals or file locks is imported
        print(f"error: {native_windows_refused().paragraph()}", file=sys.stderr)
        return 2
    # a lab warning (a setting said ignored) is one line, like an error, not a source excerpt
    warnings.formatwarning = lambda message, *rest, **kw: f"warning: {message}\n"
    parser = build_parser()
    args = parser.parse_args(argv)
    command = leaf_parsers(parser).get(args.words)
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at interpreter exit
        return code
    except LabError as exc:  # said in the words the learner typed (--processing-ms, not processing_ms=)
        said = exc.respelled(spelling(command)) if command is not None else exc
        print(f"error: {said.paragraph()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `deliverylab cluster status | head -3`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
