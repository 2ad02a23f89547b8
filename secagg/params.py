"""The round parameters, validated once: who shares with whom, and how many shares unmask.

A :class:`Params` fixes everything every participant of one round must agree
on: the number of clients ``n``, the vector length and modulus, the neighbour
graph (the complete graph of SecAgg, or the randomly relabelled Harary graph of
SecAgg+), the number of neighbours ``k`` of each client, the Shamir threshold
``t`` out of the ``k + 1`` share holders (the ``k`` neighbours and the client
itself), and the threat model. An invalid combination cannot be built.

:meth:`Params.auto` picks ``k`` and ``t`` with the parameter finder of
:mod:`secagg.finder` (statistical security ``2^-40``, failure
probability below ``2^-20``).

>>> p = Params(n_clients=5, dim=8, bits=16, graph="complete", neighbors=4, threshold=3)
>>> p.graph, p.holders, p.threat.value
(<GraphKind.COMPLETE: 'complete'>, 5, 'semi-honest')
>>> Params.auto(n_clients=1000, dim=10, bits=32).graph.value
'harary'
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from secagg.finder import complete_parameters, find_parameters
from secagg.kinds import MAX_CLIENTS, GraphKind, ThreatModel
from secagg.primitives.words import check_bits

__all__ = ["MAX_CLIENTS", "MAX_DIM", "GraphKind", "Params", "ThreatModel"]

MAX_DIM = 2**28
"""Largest vector length."""


def _as_enum(name: str, value: object, kind: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, kind):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a {kind.__name__} or its string value, got {type(value).__name__}")
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {[m.value for m in kind]}, got {value!r}") from None


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Params:
    """The parameters of one round, shared by the server and every client.

    Attributes:
        n_clients: number of clients ``n``, ``2 <= n <= 2**20``; ids are ``1..n``.
        dim: vector length, ``1 <= dim <= 2**28``.
        bits: the modulus is ``2**bits``, ``1 <= bits <= 62``.
        graph: :class:`GraphKind` (or its string value).
        neighbors: ``k``, the number of neighbours of each client. The complete
            graph needs ``k = n - 1``; the Harary graph an even ``k`` with
            ``2 <= k < n - 1``.
        threshold: ``t``, the number of shares (out of the ``k + 1`` holders:
            the neighbours and the client itself) that reconstruct a client's
            secrets; ``2 <= t <= k + 1``, and ``2t > k + 1`` in the
            semi-malicious and active models.
        threat: :class:`ThreatModel` (or its string value); default semi-honest.
        round_counter: ``0 <= r < 2**64``, the number of this aggregation in
            the caller's sequence (e.g. the training round); default 0. It is
            part of every signed key statement and of the session id, so in
            the active model keys signed for one round are refused in every
            other (SPEC.md, chapter "Protocol", "Freshness"). Each client must
            keep it strictly increasing on its own (``Client(last_round=...)``),
            not take it from the server.

    Raises:
        TypeError: if a field has the wrong type (a ``bool`` is not an int).
        ValueError: if a value is out of range or the combination is invalid;
            the message quotes the values.

    Warning:
        In the semi-malicious and active models the server may tell some
        holders of client ``u``'s shares that ``u`` dropped (and collect
        shares of its mask key ``s_u``) and tell the others that ``u``
        survived (and collect shares of its self-mask seed ``b_u``). Each honest
        holder reveals at most one of the two, but the ``a`` corrupted holders
        reveal both, so the server gets both secrets, and ``u``'s unmasked input,
        as soon as ``2(t - a) <= k + 1 - a``. A majority threshold
        ``2t > k + 1`` is the least this class enforces (it defeats the attack
        when no holder is corrupted); the finder enforces the full rule
        ``2t > k + 1 + a`` with ``a`` a high-probability bound on the corrupted
        holders. Hand-picked parameters that only pass this validation carry no
        statistical guarantee: prefer :meth:`auto`.
    """

    n_clients: int
    dim: int
    bits: int
    graph: GraphKind
    neighbors: int
    threshold: int
    threat: ThreatModel = ThreatModel.SEMI_HONEST
    round_counter: int = 0

    def __post_init__(self) -> None:
        n = _as_int("n_clients", self.n_clients)
        dim = _as_int("dim", self.dim)
        bits = check_bits(self.bits)
        graph = _as_enum("graph", self.graph, GraphKind)
        k = _as_int("neighbors", self.neighbors)
        t = _as_int("threshold", self.threshold)
        threat = _as_enum("threat", self.threat, ThreatModel)
        counter = _as_int("round_counter", self.round_counter)
        if not 0 <= counter < 2**64:
            raise ValueError(f"round_counter must be in [0, 2**64), got {counter}")
        if not 2 <= n <= MAX_CLIENTS:
            raise ValueError(f"n_clients must be in [2, {MAX_CLIENTS}], got {n}")
        if not 1 <= dim <= MAX_DIM:
            raise ValueError(f"dim must be in [1, {MAX_DIM}], got {dim}")
        if graph is GraphKind.COMPLETE and k != n - 1:
            raise ValueError(f"the complete graph needs neighbors = n_clients - 1 = {n - 1}, got neighbors={k}")
        if graph is GraphKind.HARARY:
            if k % 2 or not 2 <= k < n - 1:
                raise ValueError(
                    f"the Harary graph needs an even neighbors k with 2 <= k < n_clients - 1 = {n - 1}, "
                    f"got neighbors={k}"
                )
        if not 1 < t <= k + 1:
            raise ValueError(f"threshold must satisfy 1 < t <= neighbors + 1 = {k + 1}, got threshold={t}")
        if threat is not ThreatModel.SEMI_HONEST and 2 * t <= k + 1:
            raise ValueError(
                f"the {threat.value} model needs a majority threshold 2t > neighbors + 1 = {k + 1}, "
                f"got threshold={t}"
            )
        for name, value in (
            ("n_clients", n),
            ("dim", dim),
            ("bits", bits),
            ("graph", graph),
            ("neighbors", k),
            ("threshold", t),
            ("threat", threat),
            ("round_counter", counter),
        ):
            object.__setattr__(self, name, value)

    @property
    def holders(self) -> int:
        """The number of holders of each client's shares, ``k + 1``."""
        return self.neighbors + 1

    @classmethod
    def auto(
        cls,
        *,
        n_clients: int,
        dim: int,
        bits: int,
        dropout_rate: float = 0.1,
        adversarial_rate: float = 0.05,
        threat: ThreatModel | str = ThreatModel.SEMI_HONEST,
        graph: GraphKind | str = "auto",
        round_counter: int = 0,
    ) -> Params:
        """Choose ``k`` and ``t`` for ``n_clients`` with the parameter finder.

        Args:
            n_clients: number of clients, ``2..2**20``.
            dim: vector length.
            bits: modulus bits.
            dropout_rate: the largest fraction of clients expected to drop out
                (at any phase), in ``[0, 1)``.
            adversarial_rate: the largest fraction of clients that collude with
                the server, in ``[0, 1)``.
            threat: :class:`ThreatModel` or its string value.
            graph: ``"auto"`` (the sparsest Harary graph that meets the bounds,
                else the complete graph; always the complete graph in the
                active model), ``"complete"`` (force SecAgg's complete graph,
                with a threshold meeting the same bounds) or ``"harary"`` (a
                Harary graph or an error; in the active model with the
                semi-malicious rules, whose rule 2b it shares: SPEC.md,
                "Threat models", says what a sparse active round guarantees,
                and that a server with ``min(t - 1, 2t - k - 1)`` corrupted
                clients can isolate any one input by showing its victim a
                ring of its choosing); or a :class:`GraphKind`.
            round_counter: as the field of the same name.

        Returns:
            The validated :class:`Params`.

        Raises:
            TypeError: if an argument has the wrong type.
            ValueError: if an argument is out of range, the rates are
                infeasible for the threat model, no graph of the requested kind
                meets the bounds, or a field fails :class:`Params` validation.
        """
        threat = _as_enum("threat", threat, ThreatModel)
        if isinstance(graph, GraphKind):
            graph = graph.value
        if not isinstance(graph, str):
            raise TypeError(f"graph must be 'auto', a GraphKind or its string value, got {type(graph).__name__}")
        if graph not in ("auto", "complete", "harary"):
            raise ValueError(f"graph must be one of ['auto', 'complete', 'harary'], got {graph!r}")
        rates = dict(n_clients=n_clients, dropout_rate=dropout_rate, adversarial_rate=adversarial_rate, threat=threat)
        if graph == "complete":
            choice = complete_parameters(**rates)
        elif graph == "harary" and threat is ThreatModel.ACTIVE:
            # Asked for explicitly: rules 1-3 with rule 2b, as for semi-malicious (the finder gives the active
            # model the complete graph on "auto"; SPEC.md, "Threat models", says what a sparse active round guarantees).
            choice = find_parameters(**{**rates, "threat": ThreatModel.SEMI_MALICIOUS})
            if choice.graph is not GraphKind.HARARY:
                raise ValueError(
                    f"no Harary degree below n_clients - 1 = {n_clients - 1} meets the bounds for "
                    f"n_clients={n_clients}, dropout_rate={dropout_rate}, adversarial_rate={adversarial_rate}, "
                    f"threat={threat.value}; use graph='complete' or 'auto'"
                )
        else:
            choice = find_parameters(**rates)
            if graph == "harary" and choice.graph is not GraphKind.HARARY:
                raise ValueError(
                    f"no Harary degree below n_clients - 1 = {n_clients - 1} meets the bounds for "
                    f"n_clients={n_clients}, dropout_rate={dropout_rate}, adversarial_rate={adversarial_rate}, "
                    f"threat={threat.value}; use graph='complete' or 'auto'"
                )
        return cls(
            n_clients=n_clients,
            dim=dim,
            bits=bits,
            graph=choice.graph,
            neighbors=choice.neighbors,
            threshold=choice.threshold,
            threat=threat,
            round_counter=round_counter,
        )
