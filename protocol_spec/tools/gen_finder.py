"""Vectors for the parameter finder (:mod:`secagg.finder`, chapter "Parameters and graphs").

* generate: ``{id, n_clients, dropout_rate, adversarial_rate, threat,
  security_bits, failure_bits}`` (the inputs of ``find_parameters``) and
  ``choice``: ``graph``, ``neighbors``, ``threshold``, ``max_threshold``,
  ``adversarial_bound``, ``survivor_bound`` (the ``ParameterChoice`` fields,
  without the note). Cohorts from 4 to 2^20 clients, every threat model,
  rates from 0 to the feasibility limit, the default and other bit levels,
  and rows of fcp's (Google's) finder test (tests/secagg/test_finder_fcp.py
  checks all 88). Entries with
  ``"complete_only": true`` are ``complete_parameters`` instead.
* verify: none.
* invalid: ``{id, arguments, error}``: arguments ``find_parameters`` must
  refuse (``ValueError`` or ``TypeError``): out-of-range cohorts, rates at or
  above 1, infeasible rate sums, bit levels out of range.
"""

from __future__ import annotations

import dataclasses

from secagg.finder import complete_parameters, find_parameters

_CASES = [
    # (n, dropout, adversarial, threat, security_bits, failure_bits, complete_only)
    (4, 0.1, 0.05, "semi-honest", 40, 20, False),
    (100, 0.45, 0.45, "semi-honest", 40, 20, False),
    (1000, 0.1, 0.05, "semi-honest", 40, 20, False),
    (1000, 0.05, 0.33, "semi-honest", 40, 20, False),
    (1000, 0.3, 0.3, "semi-malicious", 40, 20, False),
    (1000, 0.1, 0.05, "active", 40, 20, False),
    (1000, 0.1, 0.05, "semi-honest", 40, 20, True),
    (10000, 0.33, 0.05, "semi-honest", 40, 20, False),
    (10000, 0.1, 0.05, "semi-honest", 80, 30, False),
    (10000, 0.0, 0.0, "semi-honest", 40, 20, False),
    (65535, 0.1, 0.05, "semi-honest", 40, 20, False),
    (100000, 0.05, 0.05, "semi-honest", 40, 20, False),
    (100000, 0.1, 0.1, "semi-malicious", 40, 20, False),
    (1000000, 0.05, 0.05, "semi-honest", 40, 20, False),
    (1000000, 0.1, 0.05, "semi-malicious", 40, 20, False),
    (2**20, 0.05, 0.05, "semi-honest", 40, 20, False),
    # rows of fcp's table where the counts round down (n = 10) or the degree is in the thousands
    (10, 0.33, 0.33, "semi-honest", 40, 20, False),
    (10, 0.05, 0.33, "semi-malicious", 40, 20, False),
    (1000, 0.45, 0.45, "semi-honest", 40, 20, False),
    (10000, 0.3, 0.3, "semi-malicious", 40, 20, False),
    (1000000, 0.3, 0.3, "semi-malicious", 40, 20, False),
    (1000000, 0.33, 0.05, "semi-malicious", 40, 20, False),
]

_INVALID = [
    ("n-1", dict(n_clients=1), "ValueError"),
    ("n-2-20-plus-1", dict(n_clients=2**20 + 1), "ValueError"),
    ("n-float", dict(n_clients=1000.0), "TypeError"),
    ("dropout-1", dict(dropout_rate=1.0), "ValueError"),
    ("semi-honest-sum-above-0.9", dict(dropout_rate=0.5, adversarial_rate=0.45), "ValueError"),
    ("semi-malicious-sum-above-0.9", dict(dropout_rate=0.3, adversarial_rate=0.35, threat="semi-malicious"), "ValueError"),
    ("security-bits-0", dict(security_bits=0), "ValueError"),
    ("failure-bits-65", dict(failure_bits=65), "ValueError"),
]


def _entry(n, dropout, adversarial, threat, s, f, complete_only) -> dict:
    args = dict(
        n_clients=n, dropout_rate=dropout, adversarial_rate=adversarial, threat=threat, security_bits=s, failure_bits=f
    )
    choice = (complete_parameters if complete_only else find_parameters)(**args)
    fields = {k: v for k, v in dataclasses.asdict(choice).items() if k != "note"}
    fields["graph"] = choice.graph.value
    ident = f"n{n}-d{dropout}-a{adversarial}-{threat}-s{s}-f{f}" + ("-complete" if complete_only else "")
    return {"id": ident, **args, "complete_only": complete_only, "choice": fields}


def generate() -> dict:
    base = dict(n_clients=1000, dropout_rate=0.1, adversarial_rate=0.05, threat="semi-honest")
    return {
        "name": "finder",
        "version": 1,
        "source": "protocol_spec/tools/gen_finder.py (secagg.finder on fixed arguments); "
        "tests/secagg/test_finder.py re-checks each choice's bounds with scipy",
        "generate": [_entry(*case) for case in _CASES],
        "verify": [],
        "invalid": [{"id": i, "arguments": {**base, **kw}, "error": e} for i, kw, e in _INVALID],
    }
