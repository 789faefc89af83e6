"""The nemesis: the faults a run can strike, when they strike, and their heal.

    faults       FaultSpec, the fault names and their groups, seeded_fault (a seed places one)
    thread       the one skeleton every nemesis shares: strike once, hold, always heal
    broker       broker and controller faults on the run's partition (BrokerNemesis)
    network      the network faults' scheduling: what a partition or a degraded link cuts
    coordinator  the group coordinator as the target: CoordinatorFault, and Scenario 2

cluster/ holds the mechanisms they use: signals to the JVMs, nftables rules per broker cgroup,
the relay of a slow link. A run drives its nemeses with runs.Run.with_nemeses. Import these
names from here (deliverylab.nemesis), not from the modules.
"""
from __future__ import annotations

from .broker import BrokerNemesis
from .coordinator import (COORDINATOR_FAULTS, CoordinatorFault, Scenario2, committed_offsets,
                          find_coordinator)
from .faults import (CONTROLLER_FAULTS, FAULTS, NETWORK_FAULTS, NETWORK_HEAL_AFTER_S,
                     READ_WHILE_HEALING, FaultSpec, seeded_fault)

__all__ = ["BrokerNemesis", "COORDINATOR_FAULTS", "CONTROLLER_FAULTS", "CoordinatorFault",
           "FAULTS", "FaultSpec", "NETWORK_FAULTS", "NETWORK_HEAL_AFTER_S", "READ_WHILE_HEALING",
           "Scenario2", "committed_offsets", "find_coordinator", "seeded_fault"]
