"""Print epsilon against modulus bits for distributed Skellam / discrete Gaussian.

Setting: 100 clients per sum (noise calibrated to min_clients = 100),
d = 2^16, client sampling q = 0.01, 1,000 rounds, noise multiplier 1.0,
l2_clip 1.0, delta = 1e-5, and the ``DistributedDPConfig`` defaults:
beta = exp(-0.5), modclip_prob = 1e-4 (k = 3.89 stddevs), max_clients =
2 x min_clients = 200 (the modulus holds any sum of 100..200 clients; Poisson
sampling makes the count vary), rounding_tolerance = 0.1. Columns:

* ``scale``: the plan's scale (real x maps to about round(x * scale));
* ``z_eff``: the effective noise multiplier sqrt(n sigma^2) / Delta_2 in
  integer units (the plan refuses bit widths where it is below 0.9);
* ``Skellam`` / ``DDG``: :func:`dp.accounting.ddp_epsilon` (paper curve with the
  conditional-rounding sensitivities, Zhu & Wang's general subsampling bound,
  dp-accounting's RDP-to-(epsilon, delta) conversion);
* ``Gaussian (RDP)``: the Poisson-sampled continuous Gaussian with the same
  noise multiplier through dp-accounting's tight RDP analysis;
* ``Gaussian (generic bound)``: the same Gaussian pushed through the generic
  subsampling bound used for the distributed mechanisms, which isolates the
  cost of that bound from the cost of discretisation.

Run: ``.venv/bin/python bench/ddp_epsilon_table.py``
"""

from __future__ import annotations

import numpy as np
from dp_accounting.rdp.rdp_privacy_accountant import compute_epsilon

from dp.accounting import RDP_ORDERS, epsilon
from dp.accounting import ddp_epsilon
from dp.ddp_rdp import poisson_subsampled_rdp
from dp.distributed import DistributedDPConfig, plan
from dp.errors import BitWidthError

CLIENTS, DIM, Q, ROUNDS, Z, CLIP, DELTA = 100, 2**16, 0.01, 1000, 1.0, 1.0, 1e-5
BITS = (11, 12, 14, 16, 18, 20)


def generic_gaussian_epsilon() -> float:
    orders = [a for a in RDP_ORDERS if float(a).is_integer() and a >= 2]
    curve = np.array([poisson_subsampled_rdp(int(a), Q, lambda l: l / (2 * Z * Z)) for a in orders])
    return float(compute_epsilon(orders, curve * ROUNDS, DELTA)[0])


def rows() -> list[tuple[int, float, float, str, str]]:
    out = []
    for bits in BITS:
        cells = []
        scale = z_eff = float("nan")
        for mech in ("skellam", "dgauss"):
            cfg = DistributedDPConfig(mechanism=mech, bits=bits, l2_clip=CLIP, noise_multiplier=Z, dim=DIM, min_clients=CLIENTS)
            try:
                p = plan(cfg)
            except BitWidthError:
                cells.append("too few bits")
                continue
            scale = p.scale
            z_eff = (CLIENTS * p.local_variance) ** 0.5 / p.l2_sensitivity
            cells.append(f"{ddp_epsilon(plan=p, sampling_rate=Q, steps=ROUNDS, delta=DELTA)[0]:.3f}")
        out.append((bits, scale, z_eff, cells[0], cells[1]))
    return out


def main() -> None:
    gauss = epsilon(noise_multiplier=Z, sampling_rate=Q, steps=ROUNDS, delta=DELTA)
    generic = generic_gaussian_epsilon()
    print("| bits | scale | z_eff | Skellam ε | DDG ε | Gaussian ε (RDP) | Gaussian ε (generic bound) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for bits, scale, z_eff, sk, dg in rows():
        print(f"| {bits} | {scale:.1f} | {z_eff:.3f} | {sk} | {dg} | {gauss:.3f} | {generic:.3f} |")


if __name__ == "__main__":
    main()
