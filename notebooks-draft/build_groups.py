"""Builds notebooks-draft/groups.ipynb (to become notebooks/04-consumer-groups.ipynb)."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

P = "04g"
cells = []


def md(i, text):
    cells.append(new_markdown_cell(text.strip("\n"), id=f"{P}-{i:02d}"))


def code(i, text, tags=None):
    c = new_code_cell(text.strip("\n"), id=f"{P}-{i:02d}")
    if tags:
        c.metadata["tags"] = tags
    cells.append(c)


md(0, """
# 04 · Consumer groups and rebalances

Until now one worker owned every partition (`assign()`). Production consumers — the blog post's
loop, Confluent.Kafka's `Subscribe()` — are **members of a consumer group**: the group coordinator
(a broker) hands each member some partitions and takes them away again when a member joins,
leaves, dies or is too slow. Most real duplicates and losses happen at those moments.

**After this notebook you can**

- say what a member does with its uncommitted tail when partitions are taken away, and show the
  difference commit-on-revoke makes (`SetPartitionsRevokedHandler`);
- show what happens to a member that is too slow for `max.poll.interval.ms`, for at-least-once
  and at-most-once, and name the error its late commit gets;
- compare how long a crashed member's partitions stay idle with dynamic and static membership;
- reproduce the blog post's **Scenario 2** both ways on purpose, with the group coordinator paused
  under the commit, and read the outcome back with `committed()`.
""")
code(1, 'SIZE = "workshop"  # or "ci": small and quick (the test suite uses it)', ["parameters"])
code(2, """
MESSAGES = {"workshop": 600, "ci": 300}[SIZE]
GROUP = dict(membership="group", members=3, partitions=6)  # 3 member processes, 6 partitions
PROCESSING_MS = 5  # work per record, so the group is still busy when something happens


def side_by_side(specs):  # independent runs (own topic, own group) at once: the slowest's time
    with ThreadPoolExecutor(len(specs)) as pool:
        return list(pool.map(lambda spec: run_consumer(spec, cluster), specs))
""")
code(3, """
%matplotlib inline
from concurrent.futures import ThreadPoolExecutor
import pandas as pd
from IPython.display import Markdown
import deliverylab
from deliverylab import plots
from deliverylab.claims import claim
from deliverylab.experiments import ConsumerExperiment, CrashSpec, run_consumer
from deliverylab.widgets import group_panel, settings_table

cluster = deliverylab.connect()
COLUMNS = ["label", "sent", "delivered_once", "lost", "duplicated", "crashes", "rebalances",
           "commit_failures", "commit_errors", "resume_s_max"]
""")
md(4, """
## The member's loop

```
consumer.subscribe([topic], on_assign=..., on_revoke=..., on_lost=...)
record = consumer.poll()          # rebalance callbacks run inside poll()
process(record)
every commit_every records: consumer.commit(offsets)
on_revoke(partitions):            # the last moment this member may commit them
    commit-on-revoke: commit the processed tail of these partitions
    otherwise:        forget it (a later commit would overwrite the new owner's progress)
```

Each member is its own OS process with its own supervisor (restarted after its own crashes).
The ledger records every assignment, revocation and loss per member with its time, and every
commit's result with Kafka's error name. The settings that govern the group:
""")
code(5, """
settings_table(["group.protocol", "partition.assignment.strategy", "group.instance.id",
                "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms"])
""")
md(6, """
The lab sets `heartbeat.interval.ms` to 500 ms (librdkafka: 3000) for classic groups, so a member
learns of a rebalance within half a second and a lab group forms in about a second.

<details><summary>The same loop in C# (Confluent.Kafka, not run here)</summary>

```csharp
var config = new ConsumerConfig
{
    BootstrapServers = "localhost:9092",
    GroupId = "payments",
    EnableAutoCommit = false,
    GroupInstanceId = "payments-1",        // static membership (optional)
    MaxPollIntervalMs = 300000,            // max.poll.interval.ms
    SessionTimeoutMs = 45000,              // classic protocol only
    PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
    // GroupProtocol = GroupProtocol.Consumer  // KIP-848: then no SessionTimeoutMs / strategy
};
var pending = new Dictionary<TopicPartition, TopicPartitionOffset>();
using var consumer = new ConsumerBuilder<string, string>(config)
    .SetPartitionsAssignedHandler((c, parts) => Console.WriteLine($"assigned {string.Join(",", parts)}"))
    .SetPartitionsRevokedHandler((c, parts) =>
    {   // commit-on-revoke: the processed tail of the partitions that are going
        var tail = parts.Where(p => pending.ContainsKey(p.TopicPartition))
                        .Select(p => pending[p.TopicPartition]).ToList();
        if (tail.Count > 0) c.Commit(tail);
        foreach (var p in parts) pending.Remove(p.TopicPartition);
    })
    .SetPartitionsLostHandler((c, parts) => { foreach (var p in parts) pending.Remove(p.TopicPartition); })
    .Build();
consumer.Subscribe("payments");
while (!cancellation.IsCancellationRequested)
{
    var result = consumer.Consume(cancellation);   // handlers run inside Consume
    Process(result.Message);
    pending[result.TopicPartition] = new TopicPartitionOffset(result.TopicPartition, result.Offset + 1);
    if (pending.Count > 0 && ++processed % 10 == 0) { consumer.Commit(pending.Values); pending.Clear(); }
}
```

</details>
""")
md(7, """
## Scale in: a member leaves mid-run

Member 2 leaves cleanly once the group has processed a third of the input, at a moment it holds
processed records whose offsets are not committed yet. Its partitions go to the others.

**Predict:** without commit-on-revoke, what does the new owner of member 2's partitions process
first? With it?
""")
code(8, """
leave = dict(zip((False, True), side_by_side([ConsumerExperiment(
            model="at-least-once", messages=MESSAGES, processing_ms=PROCESSING_MS,
            leaving_member=2, leave_after=MESSAGES // 3, commit_on_revoke=cor,
            label=f"member leaves, commit_on_revoke={cor}", **GROUP) for cor in (False, True)])))
pd.DataFrame([r.summary for r in leave.values()])[COLUMNS]
""")
code(9, """
for r in leave.values():
    display(plots.group_timeline(r))
""")
code(10, """
off, on = leave[False].summary, leave[True].summary
display(Markdown(
    f"Without commit-on-revoke the new owners processed member 2's uncommitted tail again: "
    f"**{off['duplicated']}** duplicated (orange dots), lost {off['lost']}. With it, member 2 "
    f"committed its tail in `on_revoke` before the partitions moved: **{on['duplicated']}** "
    f"duplicated, lost {on['lost']}."))
display(claim(off["duplicated"] > 0 and off["lost"] == 0,
              "without commit-on-revoke a clean leave repeats the leaver's uncommitted tail",
              evidence=f"duplicated {off['duplicated']}, lost {off['lost']}"))
claim(on["duplicated"] == 0 and on["lost"] == 0,
      "with commit-on-revoke the same leave neither repeats nor loses",
      evidence=f"duplicated {on['duplicated']}, lost {on['lost']}")
""")
md(11, """
## Too slow for `max.poll.interval.ms`

One member's work on one record takes 9 s, longer than `max.poll.interval.ms` = 6 s (and the
session timeout, 6 s: classic needs max.poll.interval.ms ≥ session.timeout.ms). librdkafka sees
that the application has not polled in time and leaves the group for it; the group gives its
partitions to the others, who start at the last committed offsets. The slow member wakes up
still holding its batch.

**Predict:** for at-least-once (commit after the work) and at-most-once (commit before it), what
happens to the slow member's batch?
""")
code(12, """
MODELS = ("at-least-once", "at-most-once")
slow = dict(zip(MODELS, side_by_side([ConsumerExperiment(
            model=model, messages=300, processing_ms=20, session_timeout_ms=6000,
            max_poll_interval_ms=6000, stall_at=150, stall_ms=9000,
            label=f"{model}, too slow", **GROUP) for model in MODELS])))
pd.DataFrame([r.summary for r in slow.values()])[COLUMNS]
""")
code(13, """
alo, amo = slow["at-least-once"].summary, slow["at-most-once"].summary
display(slow["at-least-once"].extra["failed_commits"])
display(Markdown(
    f"At-least-once: the slow member's commit after its work was refused "
    f"(**{', '.join(alo['commit_errors']) or 'none'}**); the new owner processed the same records "
    f"again: **{alo['duplicated']}** duplicated, lost {alo['lost']}. At-most-once had committed "
    f"the batch before the work; thrown out of the group, the slow member stops working on "
    f"records that are no longer its own, and the new owner starts after them: **{amo['lost']}** "
    f"lost, duplicated {amo['duplicated']}."))
display(claim(alo["commit_failures"] > 0 and alo["lost"] == 0 and alo["duplicated"] > 0,
              "too slow, at-least-once: the late commit is refused and the records are processed twice, none lost",
              evidence=f"refused {alo['commit_failures']} ({', '.join(alo['commit_errors'])}), "
                       f"duplicated {alo['duplicated']}, lost {alo['lost']}"))
claim(amo["lost"] > 0 and amo["duplicated"] == 0,
      "too slow, at-most-once: records committed before the work are lost",
      evidence=f"lost {amo['lost']}, duplicated {amo['duplicated']}")
""")
md(14, """
The fixes: smaller batches (`max.poll.records` in Java; in librdkafka, fewer records per
`consume()`) so each poll comes sooner; a longer `max.poll.interval.ms` (`MaxPollIntervalMs`)
for work that is really long; or `pause()` the partitions, keep polling while the work runs on
another thread, and `resume()` them after — the member stays in the group.

## A member crashes: how long its partitions stay idle

A crashed member's partitions wait until the group notices. **Classic, dynamic membership**: the
restarted process is a new member; the old one is only removed after `session.timeout.ms`
(6 s here), and until then the rebalance waits. **Static membership** (`group.instance.id`,
`GroupInstanceId`): the restarted process comes back under the same id within the session
timeout and gets its partitions back with no rebalance.
""")
code(15, """
def crashed(label, **group):
    return ConsumerExperiment(
        model="at-least-once", messages=MESSAGES, processing_ms=10, commit_on_revoke=True,
        crash=CrashSpec("after-process", at=(MESSAGES // 2,)), label=label, **GROUP, **group)

crash_runs = side_by_side([crashed("classic, dynamic", session_timeout_ms=6000),
                           crashed("classic, static", static=True, session_timeout_ms=10000)])
pd.DataFrame([r.summary for r in crash_runs])[COLUMNS]
""")
code(16, """
for r in crash_runs:
    display(plots.group_timeline(r))
dyn, sta = (r.summary for r in crash_runs)
ev = crash_runs[1].events
t_crash = float(ev.loc[ev.kind == "crash", "t"].iloc[0])
moved = ev[ev.kind.isin(["revoked", "lost"]) & (ev.t > t_crash) & (ev.t < crash_runs[1].timeline.t.max())]
display(Markdown(
    f"Dynamic: the crashed member's partitions were processed again after **{dyn['resume_s_max']} s**. "
    f"Static: after **{sta['resume_s_max']} s**, and no member gave up a partition after the crash "
    f"({len(moved)} revocations). Both repeated what the crashed member had processed since its "
    f"last commit ({dyn['duplicated']} and {sta['duplicated']} duplicated: Scenario 1 of notebook "
    f"03; commit-on-revoke cannot help a process that dies)."))
display(claim(sta["resume_s_max"] is not None and sta["resume_s_max"] <= 1.0 and moved.empty,
              "a static member restarted within the session timeout resumes in ≤ 1 s with no rebalance",
              evidence=f"resumed after {sta['resume_s_max']} s, {len(moved)} revocations after the crash"))
claim(dyn["resume_s_max"] is not None and dyn["resume_s_max"] > sta["resume_s_max"],
      "a dynamic member's partitions stay idle longer than a static member's",
      evidence=f"dynamic {dyn['resume_s_max']} s, static {sta['resume_s_max']} s")
""")
md(17, """
With `group.protocol=consumer` (KIP-848, `GroupProtocol.Consumer`) the broker assigns partitions
and times members out with the group's own config (`consumer.session.timeout.ms`, 45 s by
default); librdkafka refuses `session.timeout.ms`, `heartbeat.interval.ms` and
`partition.assignment.strategy` there, and the lab says so before any process starts:
""")
code(18, """
try:
    ConsumerExperiment(group_protocol="consumer", session_timeout_ms=6000, **GROUP).check()
except deliverylab.LabError as exc:
    print(exc)
""")
md(19, """
## Scenario 2, both ways, on purpose

Notebook 03 could only count which way each in-flight commit went. Here the lab holds the commit
up: the worker says it is about to commit, the nemesis **pauses the group coordinator** (the
broker that leads the group's `__consumer_offsets` partition, found with the admin client's
`describe_consumer_groups`), the worker sends the commit (its connection to the coordinator is
already up from earlier commits) and is killed. Then the coordinator either **resumes** — it
reads the request from its socket and applies the commit — or is **killed** with the request
unread, and a new coordinator serves the offset committed before. The restarted worker asks
`committed()` and the run records what it got.
""")
code(20, """
s2 = {sc: run_consumer(ConsumerExperiment(model="at-least-once", messages=100, scenario=sc), cluster)
      for sc in ("scenario-2-applied", "scenario-2-lost")}
pd.DataFrame([{**{k: r.summary[k] for k in ("scenario_2", "in_flight_offsets", "resumed_from",
               "coordinator", "new_coordinator", "duplicated", "lost")}, "run": sc}
              for sc, r in s2.items()])
""")
code(21, """
a, l = s2["scenario-2-applied"].summary, s2["scenario-2-lost"].summary
display(Markdown(
    f"Applied: the dying worker sent offset {a['in_flight_offsets']}, the restarted worker's "
    f"`committed()` returned {a['resumed_from']}: **{a['duplicated']}** duplicated. Lost: sent "
    f"{l['in_flight_offsets']}, the new coordinator (broker {l['new_coordinator']}, the old one "
    f"was {l['coordinator']}) served {l['resumed_from']}: the batch came again, "
    f"**{l['duplicated']}** duplicated. Neither lost a message."))
display(claim(a["scenario_2"] == "applied" and a["duplicated"] == 0 and a["lost"] == 0,
              "Scenario 2, the coordinator resumes: the in-flight commit counts and nothing repeats",
              evidence=f"committed() {a['resumed_from']} = sent {a['in_flight_offsets']}, duplicated {a['duplicated']}"))
claim(l["scenario_2"] == "lost" and l["duplicated"] > 0 and l["lost"] == 0,
      "Scenario 2, the coordinator dies: the in-flight commit is lost and the batch repeats",
      evidence=f"committed() {l['resumed_from']} < sent {l['in_flight_offsets']}, duplicated {l['duplicated']}")
""")
md(22, """
The dying worker never learns which case it was in; the restarted one learns it from
`committed()`. So the design must be correct in both: at-least-once never loses, and may repeat.

## Try it

Pick a scenario, a delivery model, a protocol, static membership and commit-on-revoke:
""")
code(23, "panel = group_panel(messages=MESSAGES, cluster=cluster)\npanel")
md(24, """
## Exercises

1. Run "a member joins mid-run" with `classic / range` and with `classic / cooperative-sticky`.
   Which one stops every member while the group rebalances?

<details><summary>Solution</summary>

With range (eager), every member's partitions are revoked at the join and reassigned: the
timeline shows a gap on every partition. With cooperative-sticky only the partitions that move
to the new member are revoked; the others keep working through the rebalance.

</details>

2. Why does the lab's at-least-once loop *forget* a revoked partition's tail instead of
   committing it later?

<details><summary>Solution</summary>

After the revocation the partition belongs to another member, which may already have committed
further. A later commit from the old owner would move the group's offset back (or, with the
classic protocol and a new generation, overwrite the new owner's progress). Commit in `on_revoke`
(the last moment the partitions are yours) or not at all.

</details>

## Summary

- A rebalance takes partitions away; what the member does with its uncommitted tail decides
  whether the new owner repeats it. Commit-on-revoke (`SetPartitionsRevokedHandler`) closes it.
- A member slower than `max.poll.interval.ms` is thrown out; its late commit is refused
  (`UNKNOWN_MEMBER_ID` / `ILLEGAL_GENERATION`), at-least-once repeats, at-most-once loses.
- Static membership (`GroupInstanceId`) gives a restarted member its partitions back with no
  rebalance; dynamic membership waits for the session timeout.
- Scenario 2 has two outcomes, decided by the coordinator, not the worker: `committed()` tells
  the restarted worker which.
""")

nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}})
out = Path(__file__).with_name("groups.ipynb")
nbformat.write(nb, out)
print(out)
