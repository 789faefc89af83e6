"""Experiment commands of the CLI: run (consumer), produce (producer), matrix (both, headless)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..errors import LabError, require_seconds, require_whole

if TYPE_CHECKING:
    from ..crash import CrashSpec

CONSUMER_KEYS = ("model", "topic", "output_topic", "bootstrap", "sent", "processed_effects",
                 "delivered_once", "lost", "unread_at_timeout", "duplicated", "reordered_keys",
                 "crashes", "elapsed_s", "timed_out", "members", "rebalances", "commit_failures",
                 "coordinator", "scenario_2", "skipped_by_consumer", "gone_from_log",
                 "nonmonotonic_polls", "nonmonotonic_polls_explained", "anomalies", "aborts",
                 "lost_writes", "committed_at_stall", "log_start_offsets", "retention_overtook")
# `run`'s exit status when the run hit its time limit: it printed what it counted, but that is
# not a result (argparse uses 2 for bad usage and the CLI 2 for a LabError)
TIMED_OUT_EXIT = 3
HANGING_KEYS = ("topic", "bootstrap", "transaction_timeout_ms", "abort_check_interval_ms",
                "committed_after_open_s", "read_committed_stall_s", "read_uncommitted_stall_s",
                "stall_ended_after_open_s", "bound_s", "within_bound", "aborted_reads",
                "read_committed_saw_hanging", "lost")
HANGING_RUN = "hanging-transaction"  # `run hanging-transaction`: experiments/hanging.py
SHARE_KEYS = ("model", "ack", "members", "topic", "group", "sent", "processed_effects",
              "delivered_once", "lost", "duplicated", "archived", "dead_lettered", "deliveries",
              "redelivered_messages", "delivery_counts", "crashes", "redelivery_gap_median_s",
              "anomalies", "elapsed_s")
PRODUCER_KEYS = ("topic", "bootstrap", "sent", "acked", "failed_reported", "stored_records",
                 "acked_but_lost", "unacked_but_stored", "duplicated", "reordered_keys",
                 "persisted", "persisted_in_log", "possibly_persisted", "possibly_persisted_in_log",
                 "not_persisted", "not_persisted_in_log", "lost_writes", "anomalies", "crashes", "resent",
                 "elapsed_s")


def crash_of(args: argparse.Namespace) -> CrashSpec | None:
    """--crash POINT with its --crash-every/--crash-prob (either alone is refused)."""
    from ..crash import CrashSpec  # the CLI imports the lab only when a command runs

    if args.crash:
        return CrashSpec(args.crash, every=args.crash_every, prob=args.crash_prob, seed=args.seed)
    if args.crash_every or args.crash_prob:
        raise LabError("--crash-every/--crash-prob need a crash point.",
                       "Add --crash POINT, e.g. --crash after-process.")
    return None


def _emit(summary: dict[str, Any], keys: tuple[str, ...], as_json: bool, share: bool = False) -> None:
    if as_json:
        print(json.dumps(summary, default=str))
        return
    width = max(len(k) for k in keys)
    print("\n".join(f"{k:<{width}}  {summary.get(k)}" for k in keys))
    if "kept" in summary:  # --keep: what is left, and how to look at it with Kafka's own tools
        print(kept_text(summary["kept"], share))


def kept_text(kept: dict[str, Any], share: bool = False) -> str:
    from ..kafka_tool import inspect_commands

    names = {"run folder": [kept["run_dir"]], "topics": kept["topics"], "groups": kept["groups"],
             "transactional ids": kept["transactional_ids"]}
    lines = ["", "kept (not deleted; inspect it with Kafka's own tools):"]
    lines += [f"  {what:<18} {', '.join(v)}" for what, v in names.items() if v]
    return "\n".join(lines + [f"  {cmd}" for cmd in inspect_commands(kept, share)])


def _stderr_progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)


# `run`'s options that only one kind of run reads: given to the other, they would be ignored
SHARE_ONLY = ("ack", "poison", "poison_ack", "lock_duration_ms", "delivery_limit", "dead_letter")
TRANSACTION_ONLY = ("abort_at", "no_rewind")  # the exactly-once loop's processing errors
HANGING_ONLY = ("transaction_timeout_ms", "records")
CONSUMER_ONLY = ("partitions", "commit_every", "auto_commit_interval_ms", "membership",
                 "group_protocol", "assignor", "static", "commit_on_revoke", "session_timeout_ms",
                 "max_poll_interval_ms", "scenario", "coordinator_fault", "fault",
                 "retention_ms", "stall_at", "stall_ms", "input_rate", "small_fetch_queue",
                 "input_resend_every", "dedupe")


def refuse_ignored(args: argparse.Namespace, names: tuple[str, ...], what: str, fix: str) -> None:
    """An option given that this run would not read is an error, not silently dropped."""
    given = [n for n in names if getattr(args, n) != args.parser.get_default(n)]
    if given:
        options = ", ".join(spelled(args.parser, n) for n in given)
        raise LabError(f"{options} {'does' if len(given) == 1 else 'do'} not apply to {what}.",
                       fix.replace("Drop them", "Drop it" if len(given) == 1 else "Drop them"))


def spelled(parser: argparse.ArgumentParser, dest: str) -> str:
    return next(max(a.option_strings, key=len) for a in parser._actions if a.dest == dest)


def cmd_run(args: argparse.Namespace) -> int:
    from ..experiments import ConsumerExperiment, run_consumer
    from ..nemesis import seeded_fault

    if args.model == "share":
        return cmd_share(args)
    if args.model == HANGING_RUN:
        return cmd_hanging(args)
    refuse_ignored(args, SHARE_ONLY, f"`run {args.model}` (they are a share group's settings)",
                   "Drop them, or use `run share`.")
    refuse_ignored(args, HANGING_ONLY, f"`run {args.model}` (they are the hanging transaction's)",
                   f"Drop them, or use `run {HANGING_RUN}`.")
    if args.no_rewind and not args.abort_at:
        raise LabError("--no-rewind changes only what the exactly-once loop does after an abort, "
                       "and no --abort-at names an input whose processing fails.",
                       "Add --abort-at I,J (with `run exactly-once`), or drop --no-rewind.")
    crash = crash_of(args)
    spec = ConsumerExperiment(model=args.model, messages=args.messages, partitions=args.partitions,
                              crash=crash, commit_every=args.commit_every, seed=args.seed,
                              processing_ms=args.processing_ms,
                              auto_commit_interval_ms=args.auto_commit_interval_ms,
                              fault=seeded_fault(args.fault, args.messages, args.seed),
                              membership=args.membership, members=args.members,
                              group_protocol=args.group_protocol, assignor=args.assignor,
                              static=args.static, commit_on_revoke=args.commit_on_revoke,
                              session_timeout_ms=args.session_timeout_ms,
                              max_poll_interval_ms=args.max_poll_interval_ms,
                              scenario=args.scenario, coordinator_fault=args.coordinator_fault,
                              abort_at=_indices(args.abort_at, "--abort-at"),
                              rewind=not args.no_rewind, **lag_fields(args), **resend_fields(args))
    result = run_consumer(spec, progress=_stderr_progress, keep=args.keep)
    _emit({**result.summary, "warnings": result.warnings} if args.json else result.summary,
          CONSUMER_KEYS, args.json)
    for warning in [] if args.json else result.warnings:  # a degenerate run says so
        print(f"warning: {warning}", file=sys.stderr)
    return TIMED_OUT_EXIT if result.summary.get("timed_out") else 0


def lag_fields(args: argparse.Namespace) -> dict[str, Any]:
    """`run`'s lagging-consumer options as ConsumerExperiment fields (notebook 01's retention
    runs): the topic's retention.ms with 100 ms segments, the stall, the input's pace and the
    small fetch queue. ConsumerExperiment checks the values; nothing here starts a process."""
    from ..experiments import SMALL_FETCH_QUEUE, retention_config

    fields: dict[str, Any] = {"stall_at": args.stall_at, "stall_ms": args.stall_ms or 0.0,
                              "input_rate": args.input_rate}
    if args.retention_ms is not None:
        fields["topic_config"] = retention_config(args.retention_ms)
    if args.small_fetch_queue:
        fields["consumer_config"] = dict(SMALL_FETCH_QUEUE)
    return fields


def resend_fields(args: argparse.Namespace) -> dict[str, Any]:
    """`run`'s resending input (notebooks 05 and 08): the input's producer dies before flush at
    every K-th message and, restarted, sends again what it had not seen confirmed; --dedupe makes
    the idempotent consumer look each message id up. ConsumerExperiment checks the values."""
    from ..crash import CrashSpec
    from ..vocabulary import BEFORE_FLUSH

    from ..vocabulary import IDEMPOTENT_CONSUMER

    if args.dedupe and args.model != IDEMPOTENT_CONSUMER:  # said in the CLI's words, not the spec's
        raise LabError(f"--dedupe is a knob of the {IDEMPOTENT_CONSUMER} worker (its store looks the "
                       f"message id up in the same transaction as the effect); `run {args.model}` "
                       "would ignore it.", f"Use `run {IDEMPOTENT_CONSUMER} --dedupe`, or drop --dedupe.")
    fields: dict[str, Any] = {"dedupe": args.dedupe}
    if args.input_resend_every is not None:
        require_whole("input_resend_every", args.input_resend_every,
                      "Use e.g. --input-resend-every 50: the input's producer dies before flush at "
                      "every 50th message.")
        if args.membership != "assign":
            raise LabError(f"--input-resend-every with --membership {args.membership}: the resending "
                           "input producer is offered only to a run of one worker.",
                           "Drop --membership (one worker, assign()), or drop --input-resend-every.")
        fields["input_resend"] = CrashSpec(BEFORE_FLUSH, every=args.input_resend_every)
    return fields


def _indices(text: str | None, option: str) -> tuple[int, ...]:
    """Input indices as an option gives them: "3,17" → (3, 17)."""
    parts = [i.strip() for i in text.split(",")] if text is not None else []
    if any(not p.isdigit() for p in parts):
        raise LabError(f"{option} {text!r} is not a list of input indices.",
                       f"Give whole numbers ≥ 0 separated by commas, e.g. {option} 3,17.")
    return tuple(int(p) for p in parts)


def cmd_hanging(args: argparse.Namespace) -> int:
    """`deliverylab run hanging-transaction`: a transaction that never ends, a commit after it,
    and how long a read_committed and a read_uncommitted reader wait (notebook 06)."""
    from ..experiments import HangingTransaction, run_hanging

    refuse_ignored(args, (*CONSUMER_ONLY, *SHARE_ONLY, *TRANSACTION_ONLY, "messages", "crash",
                          "crash_every", "crash_prob", "processing_ms", "members"),
                   f"`run {HANGING_RUN}` (one producer hangs mid-transaction, another commits "
                   "after it, two readers read)",
                   "Drop them; its own options are --transaction-timeout-ms and --records.")
    spec = HangingTransaction(transaction_timeout_ms=args.transaction_timeout_ms,
                              records=args.records)
    result = run_hanging(spec, progress=_stderr_progress, keep=args.keep)
    _emit({**result.summary, "warnings": result.warnings} if args.json else result.summary,
          HANGING_KEYS, args.json)
    for warning in [] if args.json else result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_share(args: argparse.Namespace) -> int:
    """`deliverylab run share`: share-group members (KIP-932) on one partition."""
    from ..experiments import ShareExperiment, run_share

    refuse_ignored(args, (*CONSUMER_ONLY, *TRANSACTION_ONLY, *HANGING_ONLY),
                   "`run share` (its members read one partition together, "
                   "acknowledge each record and take no broker fault)",
                   "Drop them; a share group's own options are --members, --ack, --poison, "
                   "--poison-ack, --lock-duration-ms, --delivery-limit and --dead-letter.")
    crash = crash_of(args)
    poison = _indices(args.poison, "--poison")
    spec = ShareExperiment(messages=args.messages, members=args.members, ack=args.ack, crash=crash,
                           poison=poison, poison_ack=args.poison_ack.upper(),
                           lock_duration_ms=args.lock_duration_ms,
                           delivery_limit=args.delivery_limit, processing_ms=args.processing_ms,
                           dead_letter=args.dead_letter)
    result = run_share(spec, progress=_stderr_progress, keep=args.keep)
    _emit(result.summary, SHARE_KEYS, args.json, share=True)
    return 0


def _onoff(value: str) -> bool:
    if value.lower() in ("on", "true", "1", "yes"):
        return True
    if value.lower() in ("off", "false", "0", "no"):
        return False
    raise LabError(f"--idempotence {value!r} is neither on nor off.", "Use --idempotence on or off.")


def producer_config(acks: str, idempotence: str, retries: int | None,
                    max_in_flight: int | None, request_timeout_ms: int | None) -> dict[str, Any]:
    conf: dict[str, Any] = {"acks": acks, "enable.idempotence": _onoff(idempotence)}
    if retries is not None:
        conf["retries"] = retries
    if max_in_flight is not None:
        conf["max.in.flight.requests.per.connection"] = max_in_flight
    if request_timeout_ms is not None:
        conf["request.timeout.ms"] = request_timeout_ms
    return conf


def cmd_produce(args: argparse.Namespace) -> int:
    from ..crash import CrashSpec
    from ..experiments import ProducerExperiment, run_producer
    from ..nemesis import seeded_fault
    from ..vocabulary import BEFORE_FLUSH

    conf = producer_config(args.acks, args.idempotence, args.retries, args.max_in_flight,
                           args.request_timeout_ms)
    # --crash-every K: the producer dies before flush at every K-th message; --resend: restarted,
    # it sends again what it had not seen confirmed (notebook 08, experiment 2b)
    crash = CrashSpec(BEFORE_FLUSH, every=args.crash_every) if args.crash_every is not None else None
    topic_config = {} if args.min_insync_replicas is None else \
        {"min.insync.replicas": str(args.min_insync_replicas)}  # kill-leader-alone needs 1
    if args.unclean_election:  # off is the brokers' default (and Kafka's)
        topic_config["unclean.leader.election.enable"] = "true"
    spec = ProducerExperiment(messages=args.messages, config=conf, seed=args.seed, rate=args.rate,
                              fault=seeded_fault(args.fault, args.messages, args.seed),
                              crash=crash, resend=args.resend, topic_config=topic_config)
    result = run_producer(spec, progress=_stderr_progress, keep=args.keep)
    _emit(result.summary, PRODUCER_KEYS, args.json)
    return 0


def cmd_matrix(args: argparse.Namespace) -> int:
    from ..experiments.matrix import run_matrix, write_matrix
    from ..ids import check_messages
    from ..paths import check_writable_file

    require_whole("repeat", args.repeat, "Use e.g. repeat=1 (each repeat runs every cell with "
                  "the next seed).")
    check_messages(args.messages, "Use e.g. --messages 200.")
    check_writable_file(args.out, "--out")  # before the matrix's minutes, not after them
    frame = run_matrix(repeat=args.repeat, messages=args.messages, log=print)
    write_matrix(frame, args.out, " ".join(["deliverylab", *sys.argv[1:]]))
    print(f"wrote {len(frame)} runs to {args.out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from ..experiments.validate import report, validate, violations

    from ..experiments.validate import scenarios
    from ..ids import check_messages
    from ..paths import check_writable_file

    if args.repeat < 1:
        raise LabError(f"--repeat {args.repeat} must be at least 1.", "Use e.g. --repeat 3.")
    check_messages(args.messages, "Use e.g. --messages 120.")
    if args.only is not None and not any(args.only in s.name for s in scenarios()):
        raise LabError(f"--only {args.only!r} matches no scenario, so nothing would run.",
                       "Give part of a scenario's name, e.g. --only at-least-once or --only "
                       "kill-leader (`deliverylab validate --help`; the names are printed as "
                       "each scenario runs).")
    if args.out:
        check_writable_file(args.out, "--out")
    def append_row(row: dict) -> None:  # every run is on disk as soon as it is counted
        if args.out:
            import csv
            from pathlib import Path
            new = not Path(args.out).exists()
            with open(args.out, "a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(row))
                if new:
                    w.writeheader()
                w.writerow(row)

    runs = validate(repeat=args.repeat, messages=args.messages, only=args.only, log=print,
                    on_row=append_row)
    table = report(runs)
    print(table.to_string(index=False))
    bad = violations(runs)
    if len(bad):
        print(f"{len(bad)} run(s) VIOLATED their guarantee:\n{bad.to_string(index=False)}")
        return 1
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    """`deliverylab benchmark`: notebook 11's recorded sitting, as CSV."""
    from ..experiments import record_benchmarks

    from ..paths import check_writable_file

    require_whole("repeat", args.repeat, "Use e.g. repeat=3.")
    require_seconds("duration", args.duration, "Use e.g. duration=3.")
    check_writable_file(args.out, "--out")
    record_benchmarks(args.out, args.repeat, args.duration, " ".join(["deliverylab", *sys.argv[1:]]))
    return 0


def _run_options(parser: argparse.ArgumentParser, faults: tuple[str, ...]) -> None:
    """What `run` and `produce` share: the broker fault, the seed and the output format."""
    parser.add_argument("--fault", default="none", help=" | ".join(faults))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run's topics, group and folder (inspect them with Kafka's tools)")


def add_commands(sub: argparse._SubParsersAction) -> None:
    from ..vocabulary import ALL_POINTS, MODELS
    from ..nemesis import FAULTS

    r = sub.add_parser("run", help="a consumer experiment: one delivery model under crashes")
    r.add_argument("model", help=" | ".join(MODELS) + " | share (a share group, KIP-932) | "
                   f"{HANGING_RUN} (a transaction that never ends)")
    r.add_argument("--messages", type=int, default=200)
    r.add_argument("--partitions", type=int, default=1)
    r.add_argument("--crash", metavar="POINT", help=" | ".join(ALL_POINTS))
    r.add_argument("--crash-every", type=int, metavar="K")
    r.add_argument("--crash-prob", type=float, metavar="P")
    r.add_argument("--commit-every", type=int, default=10, metavar="K")
    r.add_argument("--processing-ms", type=float, default=0.0, metavar="MS",
                   help="work per message, so commits and auto-commit ticks fall between crashes")
    r.add_argument("--auto-commit-interval-ms", type=int, default=1000, metavar="MS",
                   help="auto.commit.interval.ms of the auto-commit models")
    r.add_argument("--membership", default="assign", help="assign | group (members subscribe())")
    r.add_argument("--members", type=int, default=1, metavar="N", help="group members (processes)")
    r.add_argument("--group-protocol", default="classic", help="classic | consumer (KIP-848)")
    r.add_argument("--assignor", help="range | roundrobin | cooperative-sticky (classic only)")
    r.add_argument("--static", action="store_true", help="group.instance.id per member")
    r.add_argument("--commit-on-revoke", action="store_true",
                   help="commit the processed tail when partitions are revoked")
    r.add_argument("--session-timeout-ms", type=int, metavar="MS", help="session.timeout.ms (classic)")
    r.add_argument("--max-poll-interval-ms", type=int, metavar="MS", help="max.poll.interval.ms")
    r.add_argument("--scenario", help="scenario-2-applied | scenario-2-lost")
    r.add_argument("--coordinator-fault",
                   help="kill-coordinator | pause-coordinator | restart-coordinator (halfway)")
    lag = r.add_argument_group("a lagging consumer and retention (notebook 01)")
    lag.add_argument("--retention-ms", type=int, metavar="MS",
                     help="the input topic's retention.ms (segments roll every 100 ms)")
    lag.add_argument("--stall-at", type=int, metavar="I", help="the input record whose processing stalls")
    lag.add_argument("--stall-ms", type=float, metavar="MS", help="how long that record's processing takes")
    lag.add_argument("--input-rate", type=float, default=0.0, metavar="N",
                     help="the input's pace, messages per second (0: as fast as it can)")
    lag.add_argument("--small-fetch-queue", action="store_true",
                     help="a fetch queue of about 1 KB, so a small backlog stays on the broker")
    resend = r.add_argument_group("the input's producer resends (notebooks 05 and 08)")
    resend.add_argument("--input-resend-every", type=int, metavar="K",
                        help="the input's producer dies before flush at every K-th message and, "
                             "restarted, resends what it had not seen confirmed (the same ids)")
    resend.add_argument("--dedupe", action="store_true",
                        help="the idempotent consumer skips a message id it already stored "
                             "(model `idempotent-consumer`)")
    txn = r.add_argument_group("exactly-once: processing errors (model `exactly-once`)")
    txn.add_argument("--abort-at", metavar="I,J",
                     help="input indices whose processing fails once: the loop aborts the transaction")
    txn.add_argument("--no-rewind", action="store_true",
                     help="after the abort, carry on without seeking back to the committed offsets")
    hang = r.add_argument_group(f"a hanging transaction (`run {HANGING_RUN}`)")
    hang.add_argument("--transaction-timeout-ms", type=int, default=5000, metavar="MS",
                      help="the hanging producer's transaction.timeout.ms (TransactionTimeoutMs)")
    hang.add_argument("--records", type=int, default=5, metavar="N",
                      help="records the hanging transaction writes (and the commit after it)")
    share = r.add_argument_group("share groups (model `share`)")
    share.add_argument("--ack", default="explicit", help="implicit | explicit (acknowledgement mode)")
    share.add_argument("--poison", metavar="I,J", help="input indices whose processing always fails")
    share.add_argument("--poison-ack", default="release", help="release | reject (what a failure gets)")
    share.add_argument("--lock-duration-ms", type=int, default=2000, metavar="MS",
                       help="share.record.lock.duration.ms (group config, set by the lab)")
    share.add_argument("--delivery-limit", type=int, default=5, metavar="N",
                       help="share.delivery.count.limit (group config, set by the lab)")
    share.add_argument("--dead-letter", action="store_true",
                       help="a dead-letter topic for the group (KIP-1191, Kafka 4.4+): archived "
                            "records are copied there and counted as dead-lettered")
    _run_options(r, FAULTS)
    # CrashSpec's every/prob are --crash-every/--crash-prob here
    r.set_defaults(func=cmd_run, parser=r, respell={"every": "--crash-every", "prob": "--crash-prob"})

    p = sub.add_parser("produce", help="a producer experiment: settings under a broker fault")
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--acks", default="all", help="0 | 1 | all")
    p.add_argument("--idempotence", default="on", help="on | off")
    p.add_argument("--retries", type=int)
    p.add_argument("--max-in-flight", type=int)
    p.add_argument("--request-timeout-ms", type=int)
    p.add_argument("--rate", type=float, default=1000.0, help="messages per second (0: unlimited)")
    p.add_argument("--min-insync-replicas", type=int, choices=(1, 2, 3), metavar="N",
                   help="the topic's min.insync.replicas (default: the brokers', 2 on three)")
    p.add_argument("--unclean-election", action="store_true",
                   help="the topic's unclean.leader.election.enable=true (notebook 07: with "
                        "--fault kill-leader-alone --min-insync-replicas 1)")
    p.add_argument("--crash-every", type=int, metavar="K",
                   help="the producer dies before flush at every K-th message (SIGKILL), restarted")
    p.add_argument("--resend", action="store_true",
                   help="restarted after a crash, the producer sends again what it had not seen "
                        "confirmed (the same message ids: duplicates idempotence cannot catch)")
    _run_options(p, FAULTS)
    # librdkafka's keys, as produce's options set them (producer_config); CrashSpec's every
    p.set_defaults(func=cmd_produce, respell={"max.in.flight.requests.per.connection": "--max-in-flight",
                                              "request.timeout.ms": "--request-timeout-ms",
                                              "every": "--crash-every", "resend": "--resend"})

    m = sub.add_parser("matrix", help="the scenario matrix, headless, to a CSV file")
    m.add_argument("--repeat", type=int, default=1)
    m.add_argument("--messages", type=int, default=200)
    m.add_argument("--out", required=True)
    m.set_defaults(func=cmd_matrix)

    b = sub.add_parser("benchmark", help="notebook 11's benchmark sitting, recorded to a CSV file")
    b.add_argument("--out", required=True)
    b.add_argument("--repeat", type=int, default=3)
    b.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    b.set_defaults(func=cmd_benchmark)

    v = sub.add_parser("validate", help="repeat every scenario with new seeds; check invariants")
    v.add_argument("--repeat", type=int, default=3)
    v.add_argument("--messages", type=int, default=120)
    v.add_argument("--only", help="only scenarios whose name contains this text")
    v.add_argument("--out", help="CSV of every run")
    v.set_defaults(func=cmd_validate)
