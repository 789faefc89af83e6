"""Network partitions between the embedded cluster's processes, while clients still reach
every broker.

Every broker and the controller listen on 127.0.0.1, and a broker uses the same listener for
clients and for replication, so neither an address nor a port tells a broker's traffic from a
client's. What does: the process that owns the socket. Each JVM of a local cluster started as
root runs in a cgroup (v2) of its own (``/sys/fs/cgroup[/unified]/deliverylab-<tag>/node-<id>``,
joined before ``exec java``, so every socket it ever opens belongs to it), and a partition is
one nftables table of the lab's own (``inet deliverylab_<tag>``) whose rules match a socket by
that cgroup (``socket cgroupv2``) and the peer by its listening port:

- output: a socket of process X sending to a port of process Y is dropped (X's requests),
- input: a packet from a port of Y arriving at a socket of X is dropped (Y's answers),

for every X on one side and Y on the other, both ways round. Clients (the lab's workers, a
notebook) are in none of these cgroups, so they reach every broker throughout.

Why not one uid per broker (``meta skuid``)? The uid is only known for outgoing packets, and
every run folder and jar would have to be readable and writable by those uids. Why not one
network namespace per broker? Brokers would need addresses of their own, and every client the
bootstrap list of those. A cgroup changes nothing about the broker but a line in /proc.

The table is deleted at heal, on any error, at exit (atexit), by a guard process if the
process that made it dies (even by SIGKILL), and by ``LocalCluster.stop`` and ``deliverylab
cluster down``. The lab never touches a table or cgroup whose name is not its own.

Degraded links use the same matching. Packet loss (lossy-link) is an nftables rule that drops
a random share (``numgen random``). Latency cannot come from the kernel here: this machine kind
has no ``tc`` delay (netem is an "unknown qdisc kind"). So a slow link is a relay in the path
(cluster/linkproxy.py): an nftables NAT rule sends the chosen brokers' new connections to one
port to the relay, which forwards them after the delay; their open connections are closed
(``ss -K``) so that they reconnect through it, and closed again at the heal.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import FaultUnavailable, LabError
from . import host

NFT_CGROUP_BASE = Path("/sys/fs/cgroup")  # nft resolves `socket cgroupv2` paths under this folder
TABLE_PREFIX = "deliverylab_"
CGROUP_PREFIX = "deliverylab-"
NEEDS = ("Network faults cut brokers apart with nftables rules matched per broker process "
         "(one cgroup v2 per JVM), so they need Linux, root, the `nft` command and a cgroup v2 "
         "hierarchy under /sys/fs/cgroup, and the embedded cluster started by root.")


def tag(home: Path) -> str:
    """The run folder's short name in the table and cgroup names (one cluster, one of each)."""
    return hashlib.sha1(str(Path(home).resolve()).encode()).hexdigest()[:10]


def table_name(home: Path) -> str:
    return TABLE_PREFIX + tag(home)


def nft() -> str | None:
    return host.system_tool("nft")


def cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted, if nft can name paths in it (under /sys/fs/cgroup:
    /sys/fs/cgroup itself on a unified system, /sys/fs/cgroup/unified on a hybrid one)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        parts = line.split()
        if len(parts) > 2 and parts[2] == "cgroup2":
            mp = Path(parts[1])
            if mp == NFT_CGROUP_BASE or NFT_CGROUP_BASE in mp.parents:
                return mp
    return None


def missing() -> str | None:
    """What this machine lacks for network faults (None: nothing). Cheap: no process started."""
    if not host.is_linux():
        return f"this is {host.name()}, not Linux"
    if os.geteuid() != 0:
        return f"this process runs as uid {os.geteuid()}, not root"
    if nft() is None:
        return "the `nft` command is not installed (Debian: apt-get install nftables)"
    mount = cgroup2_mount()
    if mount is None:
        return "no cgroup v2 hierarchy is mounted under /sys/fs/cgroup"
    if not os.access(mount, os.W_OK):
        return f"the cgroup v2 hierarchy at {mount} is read-only"
    return None


def unavailable(what: str, reason: str) -> FaultUnavailable:
    return FaultUnavailable(f"Network fault {what!r} cannot run here: {reason}. {NEEDS}",
                    "Run the lab as root on Linux (`make setup` installs nftables when run as root; "
                    "otherwise `sudo apt-get install nftables`), restart the cluster as root "
                    "(`deliverylab cluster down && deliverylab cluster up --brokers 3`), or use a "
                    "process fault (kill-leader, pause-leader, pause-controller) instead.")


# --- one cgroup per JVM ----------------------------------------------------------------------
class NodeCgroups:
    """The run folder's cgroups: ``deliverylab-<tag>/node-<id>`` under the cgroup v2 mount."""

    def __init__(self, home: Path, mount: Path | None = None) -> None:
        self.mount = mount or cgroup2_mount()
        self.dir = (self.mount / f"{CGROUP_PREFIX}{tag(home)}") if self.mount else None

    def create(self, node_ids: list[int]) -> str | None:
        """Make one cgroup per node; the parent's path, or None where the machine cannot (not
        root, no cgroup v2): the cluster then runs as before, without network faults."""
        if missing() is not None or self.dir is None:
            return None
        try:
            for n in node_ids:
                (self.dir / f"node-{n}").mkdir(parents=True, exist_ok=True)
        except OSError:
            self.remove()
            return None
        if node_ids and not self._can_join(node_ids[0]):
            self.remove()  # a cgroup we may make but not enter (delegation): run without them
            return None
        return str(self.dir)

    def _can_join(self, node_id: int) -> bool:
        """A throwaway shell moves itself into the node's cgroup, as wrap() does for the JVM:
        if the kernel refuses, every broker would fail to start, so the cluster goes without."""
        try:
            return subprocess.run(self.wrap(["true"], node_id), capture_output=True,
                                  timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    def wrap(self, cmd: list[str], node_id: int) -> list[str]:
        """The command, run from inside the node's cgroup: the shell moves itself in and execs
        the JVM, so its pid (kept in cluster.json) and every socket it opens are in the cgroup."""
        procs = self.dir / f"node-{node_id}" / "cgroup.procs"
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs), *cmd]

    def path(self, node_id: int) -> Path:
        return self.dir / f"node-{node_id}"

    def remove(self, timeout: float = 3.0, reap_later: bool = True) -> None:
        """rmdir the cgroups once their processes are gone (a dying JVM may hold one briefly)."""
        if self.dir is None or not self.dir.exists() or not os.access(self.dir, os.W_OK):
            return  # none, or not ours to remove (a process that is not root)
        deadline = time.monotonic() + timeout
        while True:
            for child in [p for p in self.dir.iterdir() if p.is_dir()]:
                try:
                    child.rmdir()
                except OSError:
                    pass
            try:
                self.dir.rmdir()
                return
            except OSError:
                if time.monotonic() > deadline:
                    if reap_later:  # still busy (a loaded machine): a detached reaper finishes
                        _spawn_module("reap", str(self.dir))
                    return
                time.sleep(0.05)


# --- the partition: the lab's own nftables table ------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """One JVM: its cgroup and the ports it listens on."""

    name: str  # "broker 1", "controller 101"
    cgroup: Path
    ports: tuple[int, ...]


def _match(e: Endpoint, mount: Path) -> str:
    level = len(e.cgroup.relative_to(mount).parts)
    return f'socket cgroupv2 level {level} "{e.cgroup.relative_to(NFT_CGROUP_BASE)}"'


@dataclass(frozen=True)
class Rules:
    """One fault's nftables rules, by chain."""

    output: tuple[str, ...] = ()
    input: tuple[str, ...] = ()
    nat: tuple[str, ...] = ()  # redirects of new connections (a slow link's relay)


def cut_rules(side_a: list[Endpoint], side_b: list[Endpoint], mount: Path,
              loss_pct: float | None = None) -> Rules:
    """Every connection between a process of side A and one of side B, whichever side opened
    it, has its packets dropped at the opener (requests out, answers in): all of them (a
    partition), or each with probability loss_pct % (a lossy link; TCP resends what is lost)."""
    verdict = "drop" if loss_pct is None else f"numgen random mod 1000 < {round(loss_pct * 10)} drop"
    out, inp = [], []
    for x, others in [(a, side_b) for a in side_a] + [(b, side_a) for b in side_b]:
        ports = sorted({p for y in others for p in y.ports})
        if not ports:
            continue
        port_set = "{ " + ", ".join(map(str, ports)) + " }"
        out.append(f"{_match(x, mount)} tcp dport {port_set} counter {verdict}")
        inp.append(f"{_match(x, mount)} tcp sport {port_set} counter {verdict}")
    return Rules(tuple(out), tuple(inp))


def redirect_rules(clients: list[Endpoint], port: int, relay_port: int, mount: Path) -> Rules:
    """New connections of the client processes to `port` go to the relay on `relay_port`."""
    return Rules(nat=tuple(f"{_match(c, mount)} tcp dport {port} counter redirect to :{relay_port}"
                           for c in clients))


def ruleset(table: str, comment: str, rules: Rules) -> str:
    """nft -f input: the lab's table with the fault's rules (one atomic transaction)."""
    def chain(name: str, hook: str, kind: str, priority: int, body: tuple[str, ...]) -> list[str]:
        return [f"  chain {name} {{", f"    type {kind} hook {hook} priority {priority}; policy accept;",
                *(f"    {r}" for r in body), "  }"]
    safe = comment.replace('"', "'")
    lines = [f"table inet {table} {{", f'  comment "{safe}"',
             *chain("output", "output", "filter", 0, rules.output),
             *chain("input", "input", "filter", 0, rules.input)]
    if rules.nat:
        lines += chain("nat_output", "output", "nat", -100, rules.nat)
    return "\n".join([*lines, "}", ""])


def _run_nft(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([nft() or "nft", *args], input=stdin, capture_output=True, text=True,
                          timeout=10)


def table_exists(table: str) -> bool:
    return table in lab_tables()


def lab_tables() -> list[str]:
    """Names of the lab's nftables tables on this machine (inet deliverylab_*)."""
    if nft() is None or os.geteuid() != 0:
        return []
    r = _run_nft(["list", "tables", "inet"])
    return [line.split()[-1] for line in r.stdout.splitlines()
            if line.startswith("table inet ") and line.split()[-1].startswith(TABLE_PREFIX)]


def delete_table(table: str) -> bool:
    """Delete one lab table; True if it was there. Never anything not named deliverylab_*."""
    if not table.startswith(TABLE_PREFIX) or not table_exists(table):
        return False
    r = _run_nft(["delete", "table", "inet", table])
    return r.returncode == 0


def install(table: str, comment: str, rules: Rules) -> None:
    """Install a fault's rules (one atomic nft transaction: all or none), replacing an earlier
    fault of the same cluster. Guarded: deleted at exit or when this process dies."""
    delete_table(table)
    r = _run_nft(["-f", "-"], ruleset(table, comment, rules))
    if r.returncode != 0:
        delete_table(table)
        raise LabError(f"nftables refused the network fault's rules: {r.stderr.strip()[:300]}",
                       "Check `nft --version` (1.0 or later has `socket cgroupv2`) and that the "
                       "kernel has nf_tables; `deliverylab cluster doctor` lists what is left.")
    atexit.register(delete_table, table)
    _spawn_module("guard", table, str(os.getpid()))


def _spawn_module(*args: str) -> None:
    """This module's command line (guard, reap) as a detached process that outlives its caller."""
    subprocess.Popen([sys.executable, "-m", "deliverylab.cluster.network", *args],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True,
                     env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})


# --- a slow link: a relay in the path ---------------------------------------------------------
def start_relay(port: int, delay_ms: float) -> tuple[subprocess.Popen, int]:
    """The relay (cluster/linkproxy.py) to 127.0.0.1:`port`, and the port it listens on."""
    proc = subprocess.Popen([sys.executable, "-m", "deliverylab.cluster.linkproxy", str(port),
                             str(delay_ms)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.isdigit():
        proc.kill()
        proc.wait()
        raise LabError("The slow link's relay did not start.",
                       "Run `python -m deliverylab.cluster.linkproxy 9092 200` to see why.")
    return proc, int(line)


def drop_connections(clients: list[Endpoint], port: int, mount: Path) -> None:
    """Close the clients' open connections to `port` (ss -K), so they reconnect through the
    relay now (a redirect only applies to new connections) or directly again after the heal.
    Kafka reconnects within reconnect.backoff.ms."""
    for c in clients:
        subprocess.run(["ss", "-K", "-t", "cgroup", f"/{c.cgroup.relative_to(mount)}", "and",
                        "dport", "=", f":{port}"], capture_output=True, timeout=10)


def guard(table: str, owner_pid: int, interval: float = 0.2) -> None:
    """Delete the table when the process that made it dies without healing (SIGKILL, a
    killed kernel); end when the table is gone (healed)."""
    from .processes import process_state

    while table_exists(table):
        if process_state(owner_pid) == "dead":
            delete_table(table)
            return
        time.sleep(interval)


# --- what the lab left behind ------------------------------------------------------------------
def leftovers() -> list[str]:
    """Every lab nftables table and cgroup on this machine, described for `cluster doctor`."""
    found = []
    for t in lab_tables():
        r = _run_nft(["list", "table", "inet", t])
        comment = next((line.strip()[len("comment "):].strip('"') for line in r.stdout.splitlines()
                        if line.strip().startswith("comment ")), "")
        found.append(f"nftables table inet {t}" + (f" ({comment})" if comment else ""))
    mount = cgroup2_mount()
    if mount is not None:
        for d in sorted(mount.glob(f"{CGROUP_PREFIX}*")):
            procs = sum(len((c / "cgroup.procs").read_text().split()) for c in d.iterdir()
                        if c.is_dir() and (c / "cgroup.procs").exists())
            found.append(f"cgroup {d} ({procs} process(es) in it)" if procs else
                         f"cgroup {d} (empty: left behind; `rmdir` its node-* folders, then it)")
    return found


def clean(home: Path) -> None:
    """Remove this run folder's table and (empty) cgroups. A killed JVM's leader thread is a
    zombie before its other threads have exited, and its cgroup stays busy until they have: wait."""
    delete_table(table_name(home))
    NodeCgroups(home).remove(timeout=5.0)


def reap(cgroup_dir: str, within_s: float = 120.0) -> None:
    """Remove a stopped cluster's cgroups once the last threads of its JVMs have exited (under
    load that can take longer than `cluster stop` waits)."""
    d = Path(cgroup_dir)
    if d.parent != cgroup2_mount() or not d.name.startswith(CGROUP_PREFIX):
        return  # only ever the lab's own
    cg = NodeCgroups.__new__(NodeCgroups)  # the folder is all it needs (no run folder here)
    cg.mount, cg.dir = d.parent, d
    cg.remove(timeout=within_s, reap_later=False)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "guard":
        guard(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "reap":
        reap(sys.argv[2])
