"""Private federated training on real data with real cryptography: a small example, not a framework.

``python -m examples.private_fedavg`` (what ``make demo`` runs) trains the same
model on the same non-IID clients through several *arms*, in one process:

* plain FedAvg (the server sees every clipped update);
* SecAgg+ (``secagg.secure_sum``: the server sees only the sum);
* SecAgg+ with distributed Skellam noise (``dp.distributed``; the ledger is
  charged before each round), at two noise levels;
* central Gaussian DP at the same epsilon (a trusted server adds the noise).

From Python::

    from examples.private_fedavg import Config, run
    summary = run(Config(dataset="digits", model="logreg", rounds=40), out="runs/digits-logreg")
    summary["arms"]["SecAgg+ Skellam z=1"]["accuracy"]

An arm is a class with one method, ``aggregate(updates, dropouts) -> Aggregate``
(see :mod:`.arms`); add one to :func:`.train.make_arms` to compare another
aggregation (e.g. adaptive clipping) under the same seeds.
"""

from .arms import Aggregate, Arm, CentralDP, DistributedDP, Plain, SecAgg
from .train import Config, make_arms, make_schedule, run, run_arm

__all__ = ["Aggregate", "Arm", "CentralDP", "Config", "DistributedDP", "Plain", "SecAgg", "make_arms",
           "make_schedule", "run", "run_arm"]
