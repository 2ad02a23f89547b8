"""A privacy budget ledger: stores events, checks before it commits, saves as JSON.

:class:`PrivacyLedger` holds an ``(epsilon, delta)`` budget and the list of
``DpEvent`` charges made against it (not running epsilons, so the file can be
replayed and audited by anyone with dp-accounting). Every charge is checked
first on a fresh accountant holding the old events plus the new one; only if
the total stays within budget is it committed (after dp-accounting's
``privacy_accountant.py``). A refused charge raises
:class:`~dp.errors.BudgetExceededError` and changes nothing.

The neighbouring relation (``"add_or_remove_one"`` or ``"replace_one"``) is
explicit and stored. Saved files carry a format name and version and are
decoded through a closed table of event tags (never a class looked up by
name); every field is validated and the replayed total must be within the
stored budget, otherwise :class:`~dp.errors.LedgerFormatError`.

JSON format, version 1 (keys exactly these)::

    {"format": "dp-ledger", "version": 1, "accountant": "rdp" | "pld",
     "neighbouring_relation": "add_or_remove_one" | "replace_one",
     "budget": {"epsilon": float, "delta": float},
     "entries": [{"count": int >= 1, "event": EVENT}, ...]}

    EVENT = {"type": "gaussian", "noise_multiplier": float in [1e-6, 1e12]}
          | {"type": "poisson_sampled", "sampling_probability": float in (0, 1], "event": EVENT}
          | {"type": "sampled_without_replacement", "source_dataset_size": int in [1, 2^40],
             "sample_size": int in [1, source_dataset_size], "event": EVENT}
          | {"type": "self_composed", "count": int >= 1, "event": EVENT}
          | {"type": "composed", "events": [EVENT, ...]}
          | {"type": "distributed_noise", "mechanism": "skellam" | "dgauss",
             "clients": int in [1, 2^20], "local_variance": float in [0.25, 2^50],
             "l2_sensitivity": float in [2^-20, 2^50], "l1_sensitivity": float in [2^-20, 2^100],
             "dim": int in [1, 2^30]}

The ranges keep every accountant computation finite and bounded in time and
memory (e.g. the DDG curve sums ``clients`` terms); the same ranges are
enforced when an event is charged, so whatever the ledger saves it can load.
Every malformed file, whatever the field, raises
:class:`~dp.errors.LedgerFormatError` naming the field.

Files (SPEC chapter 40, "The ledger file"): :meth:`PrivacyLedger.load` and
:meth:`PrivacyLedger.save` bind a ledger to its (symlink-resolved) file, and
every later charge runs load-check-commit-save under an exclusive ``flock`` on
the sidecar ``FILE.lock``, so any number of processes may charge one file:
none overspends, none loses a charge. Saves are durable (temporary file,
fsync, rename, fsync of the folder) and a save never overwrites a file that
changed since this ledger last read it.

Version 2 (written when the ledger has a key or records clips) gives each
entry a ``"clip"`` (float or null) and, with a key, a ``"hash"``, plus a
``"head"``: entries are chained by SHA-256 and the head (entry count and last
hash) is authenticated by HMAC-SHA256 under a key the operator holds (SPEC
40.8.2). An edited, moved or removed entry breaks the chain and is named; a
recomputed chain or a truncated file fails the head. :meth:`PrivacyLedger.report`
gives the auditor's per-round table (JSON, CSV, ``dp report``).

Warning:
    Without a key the JSON has **no integrity protection**: whoever can write
    the file can delete entries or raise noise multipliers unnoticed. Even with
    a key, a whole older file (an earlier, validly signed state) can be put
    back: a ledger bound to the file refuses it (it lost committed entries),
    and an auditor should compare the head's entry count and hash with the
    last one the operator recorded.

>>> ledger = PrivacyLedger(epsilon=3.0, delta=1e-5)
>>> _ = ledger.charge_gaussian_round(noise_multiplier=1.1, sampling_rate=0.01, count=100)
>>> 0 < ledger.spent_epsilon() < 3.0
True
>>> PrivacyLedger.from_json(ledger.to_json()) == ledger
True
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import dp_accounting
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

try:  # POSIX advisory locks; see _file_lock
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX platforms
    fcntl = None  # type: ignore[assignment]

from dp.accounting import (
    ACCOUNTANTS,
    MAX_POPULATION,
    NEIGHBOURING_RELATIONS,
    SCHEME_RELATIONS,
    compose_event,
    ddp_round_event,
    gaussian_round_event,
    PLD_MAX_EPSILON,
    make_accountant,
    sampling_scheme,
)
from dp._checks import is_int as _is_int
from dp._checks import is_real as _is_real
from dp.ddp_rdp import DDP_MECHANISMS, DistributedNoiseDpEvent
from dp.errors import (
    BudgetExceededError,
    LedgerConflictError,
    LedgerFormatError,
    LedgerLockError,
    UnsupportedEventError,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from dp.distributed import DistributedDPPlan

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FORMAT_VERSION_CHAINED",
    "MIN_KEY_BYTES",
    "EVENT_L1_SENSITIVITY_RANGE",
    "EVENT_L2_SENSITIVITY_RANGE",
    "EVENT_LOCAL_VARIANCE_RANGE",
    "EVENT_NOISE_MULTIPLIER_RANGE",
    "LOCK_TIMEOUT",
    "NEW_FILE_MODE",
    "MAX_COUNT",
    "MAX_ENTRIES",
    "MAX_EVENT_CLIENTS",
    "MAX_EVENT_DIM",
    "MAX_EVENT_DEPTH",
    "MAX_LEDGER_BYTES",
    "PrivacyLedger",
    "REPORT_COLUMNS",
    "decode_event",
    "encode_event",
]

FORMAT_NAME = "dp-ledger"
FORMAT_VERSION = 1
#: The version written when the ledger is keyed (hash chain + HMAC head) or records clips.
FORMAT_VERSION_CHAINED = 2
#: Shortest HMAC key accepted (bytes); 32 recommended.
MIN_KEY_BYTES = 16
MAX_LEDGER_BYTES = 1 << 20
MAX_ENTRIES = 10_000
MAX_EVENT_DEPTH = 8
MAX_EVENT_NODES = 10_000
MAX_COUNT = 10**9
#: Bounds on the fields of a stored event. They keep every accountant
#: computation finite and small: the DDG curve sums ``clients`` terms per order
#: (``dp.distributed.MAX_CLIENTS`` is the same 2^20), and sensitivities and
#: variances this large or small overflow or divide by zero in the curves.
#: Plans from :func:`dp.distributed.plan` always fall inside them.
MAX_EVENT_CLIENTS = 2**20
MAX_EVENT_DIM = 2**30
EVENT_LOCAL_VARIANCE_RANGE = (0.25, 2.0**50)
EVENT_L2_SENSITIVITY_RANGE = (2.0**-20, 2.0**50)
EVENT_L1_SENSITIVITY_RANGE = (2.0**-20, 2.0**100)
EVENT_NOISE_MULTIPLIER_RANGE = (1e-6, 1e12)
#: Seconds a charge or save waits for the ledger file's lock before LedgerLockError.
LOCK_TIMEOUT = 60.0
#: Permission bits of a ledger file that :meth:`PrivacyLedger.save` creates (an existing file keeps its own).
NEW_FILE_MODE = 0o600


# --------------------------------------------------------------------------- event codec


def _num(value: object, name: str, err: type[Exception]) -> float:
    if not _is_real(value) or not math.isfinite(value):
        raise err(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _ranged(value: object, name: str, bounds: tuple[float, float], err: type[Exception]) -> float:
    lo, hi = bounds
    number = _num(value, name, err)
    if not lo <= number <= hi:
        raise err(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}")
    return number


def _distributed_fields(obj: dict[str, Any], err: type[Exception]) -> dict[str, Any]:
    mechanism = obj["mechanism"]
    if not isinstance(mechanism, str) or mechanism not in DDP_MECHANISMS:
        raise err(f"mechanism must be one of {DDP_MECHANISMS}, got {mechanism!r}")
    return {
        "mechanism": mechanism,
        "clients": _int(obj["clients"], "clients", 1, MAX_EVENT_CLIENTS, err),
        "local_variance": _ranged(obj["local_variance"], "local_variance", EVENT_LOCAL_VARIANCE_RANGE, err),
        "l2_sensitivity": _ranged(obj["l2_sensitivity"], "l2_sensitivity", EVENT_L2_SENSITIVITY_RANGE, err),
        "l1_sensitivity": _ranged(obj["l1_sensitivity"], "l1_sensitivity", EVENT_L1_SENSITIVITY_RANGE, err),
        "dim": _int(obj["dim"], "dim", 1, MAX_EVENT_DIM, err),
    }


def _int(value: object, name: str, lo: int, hi: int, err: type[Exception]) -> int:
    if not _is_int(value) or not lo <= value <= hi:
        raise err(f"{name} must be an int in [{lo}, {hi}], got {value!r}")
    return int(value)


def encode_event(event: dp_accounting.DpEvent) -> dict[str, Any]:
    """The JSON object of an event (the closed set in the module docstring).

    Args:
        event: a ``GaussianDpEvent``, ``PoissonSampledDpEvent``,
            ``SelfComposedDpEvent``, ``ComposedDpEvent`` or
            :class:`~dp.ddp_rdp.DistributedNoiseDpEvent`, nested at most
            :data:`MAX_EVENT_DEPTH` deep.

    Returns:
        A dict of str, int, float and nested dicts/lists.

    Raises:
        UnsupportedEventError: for any other event type, or nesting too deep.
        ValueError: if a field is out of range (e.g. a non-positive noise multiplier).
    """
    return _encode(event, 0)


def _encode(event: object, depth: int) -> dict[str, Any]:
    if depth >= MAX_EVENT_DEPTH:
        raise UnsupportedEventError(f"event nested deeper than {MAX_EVENT_DEPTH}")
    if isinstance(event, dp_accounting.GaussianDpEvent):
        z = _ranged(event.noise_multiplier, "noise_multiplier", EVENT_NOISE_MULTIPLIER_RANGE, ValueError)
        return {"type": "gaussian", "noise_multiplier": z}
    if isinstance(event, dp_accounting.PoissonSampledDpEvent):
        q = _num(event.sampling_probability, "sampling_probability", ValueError)
        if not 0.0 < q <= 1.0:
            raise ValueError(f"sampling_probability must be in (0, 1], got {q}")
        return {"type": "poisson_sampled", "sampling_probability": q, "event": _encode(event.event, depth + 1)}
    if isinstance(event, dp_accounting.SampledWithoutReplacementDpEvent):
        size = _int(event.source_dataset_size, "source_dataset_size", 1, MAX_POPULATION, ValueError)
        sample = _int(event.sample_size, "sample_size", 1, size, ValueError)
        return {
            "type": "sampled_without_replacement",
            "source_dataset_size": size,
            "sample_size": sample,
            "event": _encode(event.event, depth + 1),
        }
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        count = _int(event.count, "count", 1, MAX_COUNT, ValueError)
        return {"type": "self_composed", "count": count, "event": _encode(event.event, depth + 1)}
    if isinstance(event, dp_accounting.ComposedDpEvent):
        return {"type": "composed", "events": [_encode(e, depth + 1) for e in event.events]}
    if isinstance(event, DistributedNoiseDpEvent):
        names = ("mechanism", "clients", "local_variance", "l2_sensitivity", "l1_sensitivity", "dim")
        return {"type": "distributed_noise", **_distributed_fields({n: getattr(event, n) for n in names}, ValueError)}
    raise UnsupportedEventError(f"the ledger cannot store events of type {type(event).__name__}")


def _fields(obj: dict[str, Any], keys: set[str]) -> None:
    if set(obj) != keys:
        raise LedgerFormatError(f"event {obj.get('type')!r} must have exactly the keys {sorted(keys)}, got {sorted(obj)}")


def _decode_gaussian(obj: dict[str, Any], depth: int, budget: list[int]) -> dp_accounting.DpEvent:
    _fields(obj, {"type", "noise_multiplier"})
    z = _ranged(obj["noise_multiplier"], "noise_multiplier", EVENT_NOISE_MULTIPLIER_RANGE, LedgerFormatError)
    return dp_accounting.GaussianDpEvent(z)


def _decode_poisson(obj: dict[str, Any], depth: int, budget: list[int]) -> dp_accounting.DpEvent:
    _fields(obj, {"type", "sampling_probability", "event"})
    q = _num(obj["sampling_probability"], "sampling_probability", LedgerFormatError)
    if not 0.0 < q <= 1.0:
        raise LedgerFormatError(f"sampling_probability must be in (0, 1], got {q}")
    return dp_accounting.PoissonSampledDpEvent(q, _decode(obj["event"], depth + 1, budget))


def _decode_without_replacement(obj: dict[str, Any], depth: int, budget: list[int]) -> dp_accounting.DpEvent:
    _fields(obj, {"type", "source_dataset_size", "sample_size", "event"})
    size = _int(obj["source_dataset_size"], "source_dataset_size", 1, MAX_POPULATION, LedgerFormatError)
    sample = _int(obj["sample_size"], "sample_size", 1, size, LedgerFormatError)
    return dp_accounting.SampledWithoutReplacementDpEvent(size, sample, _decode(obj["event"], depth + 1, budget))


def _decode_self_composed(obj: dict[str, Any], depth: int, budget: list[int]) -> dp_accounting.DpEvent:
    _fields(obj, {"type", "count", "event"})
    count = _int(obj["count"], "count", 1, MAX_COUNT, LedgerFormatError)
    return dp_accounting.SelfComposedDpEvent(_decode(obj["event"], depth + 1, budget), count)


def _decode_composed(obj: dict[str, Any], depth: int, budget: list[int]) -> dp_accounting.DpEvent:
    _fields(obj, {"type", "events"})
    events = obj["events"]
    if not isinstance(events, list):
        raise LedgerFormatError(f"composed events must be a list, got {type(events).__name__}")
    return dp_accounting.ComposedDpEvent([_decode(e, depth + 1, budget) for e in events])


def _decode_distributed(obj: dict[str, Any], depth: int, budget: list[int]) -> dp_accounting.DpEvent:
    _fields(obj, {"type", "mechanism", "clients", "local_variance", "l2_sensitivity", "l1_sensitivity", "dim"})
    return DistributedNoiseDpEvent(**_distributed_fields(obj, LedgerFormatError))


_DECODERS: dict[str, Callable[[dict[str, Any], int, list[int]], dp_accounting.DpEvent]] = {
    "gaussian": _decode_gaussian,
    "poisson_sampled": _decode_poisson,
    "sampled_without_replacement": _decode_without_replacement,
    "self_composed": _decode_self_composed,
    "composed": _decode_composed,
    "distributed_noise": _decode_distributed,
}


def decode_event(obj: object) -> dp_accounting.DpEvent:
    """The event of a JSON object made by :func:`encode_event`, fully validated.

    Args:
        obj: the parsed JSON value.

    Returns:
        The event.

    Raises:
        LedgerFormatError: if ``obj`` is not exactly one of the shapes in the
            module docstring (unknown tag, missing or extra key, wrong type,
            out-of-range value, nesting deeper than :data:`MAX_EVENT_DEPTH`,
            more than ``MAX_EVENT_NODES`` nodes).
    """
    return _decode(obj, 0, [MAX_EVENT_NODES])


def _decode(obj: object, depth: int, budget: list[int]) -> dp_accounting.DpEvent:
    if depth >= MAX_EVENT_DEPTH:
        raise LedgerFormatError(f"event nested deeper than {MAX_EVENT_DEPTH}")
    budget[0] -= 1
    if budget[0] < 0:
        raise LedgerFormatError(f"more than {MAX_EVENT_NODES} events")
    if not isinstance(obj, dict):
        raise LedgerFormatError(f"an event must be a JSON object, got {type(obj).__name__}")
    tag = obj.get("type")
    decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decoder is None:
        raise LedgerFormatError(f"unknown event type {tag!r}; known: {sorted(_DECODERS)}")
    return decoder(obj, depth, budget)


# --------------------------------------------------------------------------- the ledger


def _no_constants(name: str) -> None:
    raise LedgerFormatError(f"non-finite number {name} in ledger JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise LedgerFormatError(f"duplicate key {key!r} in ledger JSON")
        out[key] = value
    return out


# --------------------------------------------------------------------------- files and locks


@contextlib.contextmanager
def _file_lock(target: str, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``target + ".lock"`` (created 0600, never deleted).

    The lock lives on a sidecar file, not on the ledger, because the ledger is
    replaced by rename on every save (a lock on the old inode would not
    exclude a process that opened the new one). The kernel releases it when
    the process dies, so a killed writer never leaves the ledger locked.
    """
    if fcntl is None:  # pragma: no cover - non-POSIX platforms
        raise LedgerLockError("file-backed ledgers need POSIX flock (fcntl), unavailable on this platform")
    lock_path = target + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LedgerLockError(f"could not lock {lock_path} within {timeout:g} s") from None
                time.sleep(pause)
                pause = min(2 * pause, 0.002)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_limited(path: str) -> bytes | None:
    """The file's bytes (at most MAX_LEDGER_BYTES + 1), or None if it does not exist."""
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_LEDGER_BYTES + 1)
    except FileNotFoundError:
        return None


def _write_durably(target: str, data: bytes) -> None:
    """Replace ``target`` by ``data``: temporary file, fsync, rename, fsync the folder.

    An existing target keeps its permission bits; a new one gets
    :data:`NEW_FILE_MODE`. A crash at any point leaves either the old or the
    new complete file (plus, at worst, a stray ``.ledger-*.tmp``).
    """
    directory = os.path.dirname(target) or "."
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=".ledger-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _chain_start(header: dict[str, Any]) -> bytes:
    """``h_0 = SHA-256("dp-ledger/v2/chain|" || canonical header)`` (format, accountant, relation, budget)."""
    return hashlib.sha256(b"dp-ledger/v2/chain|" + _canonical(header)).digest()


def _chain_next(link: bytes, entry: dict[str, Any]) -> bytes:
    """``h_i = SHA-256(h_{i-1} || canonical {count, event, clip})``."""
    try:
        return hashlib.sha256(link + _canonical(entry)).digest()
    except (TypeError, ValueError) as exc:
        raise LedgerFormatError(f"entry is not canonical JSON: {exc}") from exc


def _head_mac(key: bytes, entries: int, link: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(b"dp-ledger/v2/head|" + entries.to_bytes(8, "big") + link)
    return mac.finalize()


def _check_head(head: object, entries: int, link: bytes, key: bytes | None) -> None:
    if not isinstance(head, dict) or set(head) != {"entries", "hash", "mac"}:
        raise LedgerFormatError("head must be an object with exactly the keys ['entries', 'hash', 'mac']")
    named = head["entries"]
    if not _is_int(named) or not 0 <= named <= MAX_ENTRIES:
        raise LedgerFormatError(f"head entries must be an int in [0, {MAX_ENTRIES}], got {named!r}")
    if named > entries:
        raise LedgerFormatError(f"ledger truncated: the head names {named} entries, the file has {entries} (entry {entries} onwards is missing)")
    if named < entries:
        raise LedgerFormatError(f"entry {named} onwards is not covered by the head ({named} entries): appended without the key")
    if not isinstance(head["hash"], str) or head["hash"] != link.hex():
        raise LedgerFormatError(f"the head does not match entry {entries - 1}, the last in the chain")
    if key is None:
        return
    try:
        tag = bytes.fromhex(head["mac"]) if isinstance(head["mac"], str) else b""
        verifier = crypto_hmac.HMAC(key, hashes.SHA256())
        verifier.update(b"dp-ledger/v2/head|" + entries.to_bytes(8, "big") + link)
        verifier.verify(tag)
    except (ValueError, InvalidSignature):
        raise LedgerFormatError(
            "the head fails authentication: the chain was recomputed without the key, or the key is wrong"
        ) from None


def _is_prefix(
    older: tuple[tuple[dp_accounting.DpEvent, int], ...], newer: tuple[tuple[dp_accounting.DpEvent, int], ...]
) -> bool:
    """Whether every charge in ``older`` is also in ``newer`` (the last entry may have grown by merging)."""
    if len(older) > len(newer):
        return False
    if not older:
        return True
    *head, (last_event, last_count) = older
    if tuple(head) != newer[: len(head)]:
        return False
    event, count = newer[len(head)]
    return event == last_event and last_count <= count


#: The columns of :meth:`PrivacyLedger.report`, in order.
REPORT_COLUMNS = (
    "entry",
    "first_round",
    "last_round",
    "rounds",
    "mechanism",
    "noise_multiplier",
    "clip",
    "sampling",
    "sampling_rate",
    "epsilon_rdp",
    "epsilon_pld",
    "delta",
)


def _inner(event: object) -> object:
    while isinstance(event, (dp_accounting.PoissonSampledDpEvent, dp_accounting.SampledWithoutReplacementDpEvent,
                             dp_accounting.SelfComposedDpEvent)):
        event = event.event
    return event


def _has_ddp(event: object) -> bool:
    inner = _inner(event)
    if isinstance(inner, dp_accounting.ComposedDpEvent):
        return any(_has_ddp(e) for e in inner.events)
    return isinstance(inner, DistributedNoiseDpEvent)


def _mechanism_name(event: object) -> str:
    inner = _inner(event)
    if isinstance(inner, dp_accounting.GaussianDpEvent):
        return "gaussian"
    if isinstance(inner, DistributedNoiseDpEvent):
        return inner.mechanism
    if isinstance(inner, dp_accounting.ComposedDpEvent) and len(inner.events) == 2:
        a, b = inner.events
        if isinstance(a, DistributedNoiseDpEvent) and isinstance(b, DistributedNoiseDpEvent) and b.dim == 1:
            return f"{a.mechanism}+indicator"
    return "composed"


def _noise_of(event: object) -> float | None:
    inner = _inner(event)
    if isinstance(inner, dp_accounting.ComposedDpEvent) and inner.events:
        inner = inner.events[0]
    if isinstance(inner, dp_accounting.GaussianDpEvent):
        return float(inner.noise_multiplier)
    if isinstance(inner, DistributedNoiseDpEvent):
        return math.sqrt(inner.total_variance) / float(inner.l2_sensitivity)
    return None


def _rate_of(event: object) -> float | str | None:
    while isinstance(event, dp_accounting.SelfComposedDpEvent):
        event = event.event
    if isinstance(event, dp_accounting.PoissonSampledDpEvent):
        return float(event.sampling_probability)
    if isinstance(event, dp_accounting.SampledWithoutReplacementDpEvent):
        return f"{event.sample_size}/{event.source_dataset_size}"
    return 1.0


class PrivacyLedger:
    """An ``(epsilon, delta)`` budget and the events charged against it.

    Args:
        epsilon: the epsilon budget, finite and > 0.
        max_epsilon: the same budget under Flower's and Opacus's name (give one of the two).
        key: an HMAC-SHA256 key (>= 16 bytes) held by the operator: saved
            files then carry a hash chain over the entries and an
            authenticated head (SPEC 40.8.2), and loading needs the key.
        delta: the delta at which epsilon is measured, in ``(0, 1)``.
        accountant: ``"rdp"`` or ``"pld"`` (see :func:`dp.accounting.make_accountant`).
        neighbouring_relation: ``"add_or_remove_one"`` or ``"replace_one"``.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.

    Warning:
        Charges are serialised per object (a lock) and, for a ledger bound
        to a file, across processes (the file's lock). Distributed-noise rounds are supported only by the ``"rdp"`` accountant
        (PLD raises :class:`~dp.errors.UnsupportedEventError`). A saved
        ledger is tamper-evident only when it has a ``key`` (see the module
        docstring); without one keep the file where only the operator can write.
    """

    __slots__ = (
        "_accountant",
        "_clips",
        "_delta",
        "_key",
        "_read_only",
        "_digest",
        "_entries",
        "_epsilon",
        "_lock_timeout",
        "_mutex",
        "_path",
        "_relation",
        "_spent",
    )

    def __init__(
        self,
        *,
        epsilon: float | None = None,
        delta: float,
        accountant: str = "rdp",
        neighbouring_relation: str = "add_or_remove_one",
        max_epsilon: float | None = None,
        key: bytes | None = None,
    ) -> None:
        if key is not None and (not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES):
            raise ValueError(f"key must be bytes of length >= {MIN_KEY_BYTES} (32 recommended)")
        if (epsilon is None) == (max_epsilon is None):
            raise TypeError("give the budget as epsilon or as max_epsilon (the same thing), exactly once")
        epsilon = max_epsilon if epsilon is None else epsilon
        if not _is_real(epsilon):
            raise TypeError(f"epsilon must be a real number, got {type(epsilon).__name__}")
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"epsilon must be finite and > 0, got {epsilon!r}")
        if not _is_real(delta):
            raise TypeError(f"delta must be a real number, got {type(delta).__name__}")
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        if not isinstance(accountant, str) or not isinstance(neighbouring_relation, str):
            raise TypeError("accountant and neighbouring_relation must be str")
        if accountant not in ACCOUNTANTS:
            raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {accountant!r}")
        if neighbouring_relation not in NEIGHBOURING_RELATIONS:
            raise ValueError(
                f"neighbouring_relation must be one of {tuple(NEIGHBOURING_RELATIONS)}, got {neighbouring_relation!r}"
            )
        self._epsilon = float(epsilon)
        self._delta = float(delta)
        self._accountant = accountant
        self._relation = neighbouring_relation
        self._entries: tuple[tuple[dp_accounting.DpEvent, int], ...] = ()
        self._clips: tuple[float | None, ...] = ()  # the clip each entry's rounds used, when told
        self._spent = 0.0
        self._key = key  # HMAC key of the chain head (tamper evidence), or None
        self._read_only = False  # an authenticated file loaded without its key
        self._path: str | None = None  # the resolved file this ledger is bound to (see save/load)
        self._digest: bytes | None = None  # SHA-256 of the file as last read or written
        self._lock_timeout = LOCK_TIMEOUT
        self._mutex = threading.RLock()

    # ----------------------------------------------------------------- views

    @property
    def epsilon_budget(self) -> float:
        """The epsilon budget."""
        return self._epsilon

    @property
    def delta(self) -> float:
        """The delta at which epsilon is measured."""
        return self._delta

    @property
    def accountant(self) -> str:
        """``"rdp"`` or ``"pld"``."""
        return self._accountant

    @property
    def neighbouring_relation(self) -> str:
        """``"add_or_remove_one"`` or ``"replace_one"``."""
        return self._relation

    @property
    def entries(self) -> tuple[tuple[dp_accounting.DpEvent, int], ...]:
        """The committed charges as ``(event, count)``; equal consecutive events are merged."""
        return self._entries

    def spent_epsilon(self) -> float:
        """Epsilon spent so far at the ledger's delta (0.0 when nothing is charged)."""
        return self._spent

    def remaining_epsilon(self) -> float:
        """``epsilon_budget - spent_epsilon()`` (never negative)."""
        return max(0.0, self._epsilon - self._spent)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivacyLedger):
            return NotImplemented
        return (
            self._epsilon == other._epsilon
            and self._delta == other._delta
            and self._accountant == other._accountant
            and self._relation == other._relation
            and self._entries == other._entries
            and self._clips == other._clips
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"PrivacyLedger(epsilon={self._epsilon!r}, delta={self._delta!r}, accountant={self._accountant!r}, "
            f"neighbouring_relation={self._relation!r}, spent={self._spent:.6g}, entries={len(self._entries)})"
        )

    # ----------------------------------------------------------------- charging

    def _with(
        self, event: dp_accounting.DpEvent, count: int
    ) -> tuple[tuple[dp_accounting.DpEvent, int], ...]:
        return self._with_clip(event, count, None)[0]

    def _with_clip(
        self, event: dp_accounting.DpEvent, count: int, clip: float | None
    ) -> tuple[tuple[tuple[dp_accounting.DpEvent, int], ...], tuple[float | None, ...]]:
        if self._entries and self._entries[-1][0] == event and self._clips[-1] == clip:
            last, n = self._entries[-1]
            return self._entries[:-1] + ((last, n + count),), self._clips
        return self._entries + ((event, count),), self._clips + (clip,)

    def _total_epsilon(self, entries: tuple[tuple[dp_accounting.DpEvent, int], ...]) -> float:
        acc = make_accountant(self._accountant, neighbouring_relation=self._relation)
        for event, count in entries:
            compose_event(acc, event, count)
        eps = float(acc.get_epsilon(self._delta))
        return eps if not math.isnan(eps) else math.inf

    def _check_charge(self, event: object, count: object) -> tuple[dp_accounting.DpEvent, int]:
        if not isinstance(event, dp_accounting.DpEvent):
            raise TypeError(f"event must be a dp_accounting.DpEvent, got {type(event).__name__}")
        if not _is_int(count):
            raise TypeError(f"count must be an int, got {type(count).__name__}")
        if not 1 <= count <= MAX_COUNT:
            raise ValueError(f"count must be in [1, {MAX_COUNT}], got {count}")
        encode_event(event)  # validates, and refuses what could not be saved
        scheme = sampling_scheme(event)
        if scheme == "mixed" or self._relation not in SCHEME_RELATIONS[scheme]:
            raise UnsupportedEventError(
                f"a {scheme!r}-sampled round is accounted under "
                f"{' or '.join(SCHEME_RELATIONS.get(scheme, ('no single relation',)))} neighbours, but this "
                f"ledger's budget is {self._relation!r}: one budget never mixes neighbouring relations"
            )
        return event, int(count)

    def spend(self, event: dp_accounting.DpEvent, *, count: int = 1, clip: float | None = None) -> float:
        """Charge ``count`` compositions of ``event``: check first, commit after.

        Args:
            event: the event of one release (e.g. from
                :func:`dp.accounting.gaussian_round_event` or
                :func:`dp.accounting.ddp_round_event`).
            count: how many times it happens, in ``[1, MAX_COUNT]``.
            clip: the L2 clip the rounds used (recorded for the report only), finite and > 0.

        Returns:
            The epsilon spent after the charge.

        Raises:
            TypeError: if ``event`` is not a DpEvent or ``count`` not an int.
            ValueError: if ``count`` or an event field is out of range.
            UnsupportedEventError: if the event cannot be stored or bounded by
                the ledger's accountant and relation.
            BudgetExceededError: if the charge would take epsilon past the
                budget. In every error case the ledger is unchanged.
            LedgerConflictError, LedgerFormatError: (bound ledger) if the
                file no longer holds this ledger's charges or is not a ledger.
            LedgerLockError: (bound ledger) if the file's lock is not free
                within the lock timeout.
            OSError: (bound ledger) if the file cannot be read or written.

        A ledger bound to a file (by :meth:`load` or :meth:`save`) makes each
        charge under the file's lock: it re-reads the file, checks the charge
        against what the file holds (including other processes' charges),
        commits, and writes the file durably before releasing the lock.
        """
        event, count = self._check_charge(event, count)
        if clip is not None:
            clip = _ranged(clip, "clip", (1e-30, 1e30), ValueError)
        self._writable()
        with self._mutex:
            if self._path is None:
                return self._commit(event, count, clip)
            with _file_lock(self._path, self._lock_timeout):
                self._sync_locked()
                before = (self._entries, self._clips, self._spent)
                asked = self._commit(event, count, clip)
                try:
                    self._store_locked(self._path)
                except BaseException:
                    self._entries, self._clips, self._spent = before
                    raise
                return asked

    def _writable(self) -> None:
        if self._read_only:
            raise LedgerFormatError(
                "this ledger's file is authenticated and was loaded without its key: it is read-only "
                "(load it with key=... to charge or save it)"
            )

    def _commit(self, event: dp_accounting.DpEvent, count: int, clip: float | None = None) -> float:
        candidate, clips = self._with_clip(event, count, clip)
        asked = self._total_epsilon(candidate)
        if not asked <= self._epsilon:
            raise BudgetExceededError(
                f"charge refused: {count} x {type(event).__name__} would bring epsilon from {self._spent:.6g} "
                f"to {asked:.6g} > budget {self._epsilon:.6g} (delta={self._delta:g}); nothing was spent"
            )
        self._entries = candidate
        self._clips = clips
        self._spent = asked
        return asked

    def charge_gaussian_round(
        self,
        *,
        noise_multiplier: float,
        sampling_rate: float | None = None,
        sample_size: int | None = None,
        population: int | None = None,
        count: int = 1,
        clip: float | None = None,
    ) -> float:
        """Charge ``count`` rounds of the Gaussian under one sampling scheme (see :meth:`spend`).

        Args:
            noise_multiplier: noise stddev over L2 sensitivity, finite and > 0.
            sampling_rate: Poisson sampling rate in ``(0, 1]`` (1: every client every round).
            sample_size: clients per round of a fixed-size sample without
                replacement (with ``population``; replace-one ledgers only).
            population: clients the fixed-size sample is drawn from.
            count: number of rounds, >= 1.
            clip: the L2 clip the rounds used (for the report), or None.

        Returns:
            The epsilon spent after the charge.

        Raises:
            TypeError, ValueError: for bad arguments (see
                :func:`dp.accounting.gaussian_round_event`).
            UnsupportedEventError: if the scheme's neighbouring relation is
                not the ledger's.
            BudgetExceededError: if the rounds do not fit; the ledger is unchanged.
        """
        event = gaussian_round_event(
            noise_multiplier=noise_multiplier, sampling_rate=sampling_rate, sample_size=sample_size, population=population
        )
        return self.spend(event, count=count, clip=clip)

    # ----------------------------------------------------------------- Flower / Opacus vocabulary

    @property
    def max_epsilon(self) -> float:
        """The epsilon budget (Flower's and Opacus's ``max_epsilon`` / ``target_epsilon``)."""
        return self._epsilon

    def would_exceed(self, event: dp_accounting.DpEvent, *, count: int = 1) -> bool:
        """Whether charging ``count`` more ``event`` would exceed the budget (nothing is charged).

        For a file-bound ledger the answer is as of the last read; only
        :meth:`spend` decides under the file's lock.

        Args:
            event: the event of one round.
            count: rounds, in ``[1, MAX_COUNT]``.

        Returns:
            ``True`` when :meth:`spend` would raise
            :class:`~dp.errors.BudgetExceededError`.

        Raises:
            TypeError, ValueError: for bad arguments.
            UnsupportedEventError: if the event cannot be bounded under the ledger's relation.
        """
        event, count = self._check_charge(event, count)
        return not self._total_epsilon(self._with(event, count)) <= self._epsilon

    def get_epsilon(self, delta: float | None = None) -> float:
        """Epsilon spent so far at ``delta`` (Opacus's ``accountant.get_epsilon(delta)``).

        Args:
            delta: in ``(0, 1)``; ``None`` means the ledger's delta.

        Returns:
            The epsilon of every committed charge at ``delta``.

        Raises:
            TypeError, ValueError: if ``delta`` is not a number in ``(0, 1)``.
        """
        if delta is None:
            return self._spent
        if not _is_real(delta) or not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be a number in (0, 1), got {delta!r}")
        if not self._entries:
            return 0.0
        acc = make_accountant(self._accountant, neighbouring_relation=self._relation)
        for event, count in self._entries:
            compose_event(acc, event, count)
        return float(acc.get_epsilon(float(delta)))

    def charge_ddp_round(self, *, plan: DistributedDPPlan, sampling_rate: float, count: int = 1) -> float:
        """Charge ``count`` rounds of distributed discrete noise (see :meth:`spend`).

        Args:
            plan: the :class:`dp.distributed.DistributedDPPlan` the clients used.
            sampling_rate: Poisson client-sampling rate in ``(0, 1]``.
            count: number of rounds, >= 1.

        Returns:
            The epsilon spent after the charge.

        Raises:
            TypeError, ValueError: for bad arguments.
            UnsupportedEventError: under the PLD accountant, or sampled rounds
                under replace-one.
            BudgetExceededError: if the rounds do not fit; the ledger is unchanged.
        """
        event = ddp_round_event(plan=plan, sampling_rate=sampling_rate)
        return self.spend(event, count=count, clip=float(plan.config.l2_clip))

    def remaining_rounds(self, event: dp_accounting.DpEvent, *, max_rounds: int = 1_000_000) -> int:
        """How many more compositions of ``event`` fit in the budget (never over).

        Exponential search then bisection on the count, each probe on a fresh
        accountant; the returned count itself was checked to fit.

        Args:
            event: the event of one round.
            max_rounds: upper limit of the search, >= 1.

        Returns:
            The largest ``k <= max_rounds`` found such that charging ``k`` more
            rounds stays within budget (0 if not even one fits).

        Raises:
            TypeError, ValueError: for bad arguments.
            UnsupportedEventError: if the event cannot be bounded.
        """
        if not _is_int(max_rounds) or not 1 <= max_rounds <= MAX_COUNT:
            raise ValueError(f"max_rounds must be an int in [1, {MAX_COUNT}], got {max_rounds!r}")
        event, _ = self._check_charge(event, 1)

        def fits(k: int) -> bool:
            return self._total_epsilon(self._with(event, k)) <= self._epsilon

        if not fits(1):
            return 0
        lo, hi = 1, 2
        while hi <= max_rounds and fits(hi):
            lo, hi = hi, 2 * hi
        if hi > max_rounds:
            if fits(max_rounds):
                return max_rounds
            hi = max_rounds
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
        return lo

    # ----------------------------------------------------------------- the auditor's report

    def report(self) -> list[dict[str, Any]]:
        """One row per entry (a run of identical rounds), with the epsilon spent after it.

        Returns:
            Dicts with the keys of :data:`REPORT_COLUMNS`: ``entry`` (0-based),
            ``first_round`` and ``last_round`` (1-based, inclusive),
            ``rounds``, ``mechanism`` (``gaussian``, ``skellam``, ``dgauss``,
            ``skellam+indicator`` / ``dgauss+indicator`` for adaptive
            clipping, else ``composed``), ``noise_multiplier`` (the Gaussian's,
            or the effective one of distributed noise: total stddev over L2
            sensitivity), ``clip`` (as charged, or None), ``sampling``
            (``poisson``, ``fixed_size``, ``all``), ``sampling_rate`` (``q``,
            or ``m/N`` for a fixed size), ``epsilon_rdp`` and ``epsilon_pld``
            after the entry (PLD: None where it is not defined, i.e. for
            distributed noise or above ``PLD_MAX_EPSILON``), and ``delta``.

        Raises:
            Nothing of its own (the entries were validated when charged or loaded).
        """
        rows: list[dict[str, Any]] = []
        rdp_acc = make_accountant("rdp", neighbouring_relation=self._relation)
        pld_acc = make_accountant("pld", neighbouring_relation=self._relation)
        pld_ok = True
        first = 1
        for index, ((event, count), clip) in enumerate(zip(self._entries, self._clips, strict=True)):
            compose_event(rdp_acc, event, count)
            eps_rdp = float(rdp_acc.get_epsilon(self._delta))
            eps_pld = None
            if pld_ok and eps_rdp <= PLD_MAX_EPSILON and not _has_ddp(event):
                try:
                    compose_event(pld_acc, event, count)
                    eps_pld = float(pld_acc.get_epsilon(self._delta))
                except (UnsupportedEventError, ValueError):
                    pld_ok = False
            else:
                pld_ok = False
            rows.append(
                {
                    "entry": index,
                    "first_round": first,
                    "last_round": first + count - 1,
                    "rounds": count,
                    "mechanism": _mechanism_name(event),
                    "noise_multiplier": _noise_of(event),
                    "clip": clip,
                    "sampling": sampling_scheme(event),
                    "sampling_rate": _rate_of(event),
                    "epsilon_rdp": eps_rdp,
                    "epsilon_pld": eps_pld,
                    "delta": self._delta,
                }
            )
            first += count
        return rows

    def report_json(self) -> str:
        """:meth:`report` as a JSON array (non-finite numbers as null).

        Returns:
            The JSON text.

        Raises:
            Nothing of its own.
        """
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in self.report()]
        return json.dumps(rows, allow_nan=False)

    def report_csv(self) -> str:
        """:meth:`report` as CSV with a header row (:data:`REPORT_COLUMNS`); None is an empty cell.

        Returns:
            The CSV text.

        Raises:
            Nothing of its own.
        """
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.report():
            writer.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in row.items()})
        return out.getvalue()

    # ----------------------------------------------------------------- persistence

    def to_json(self) -> str:
        """The ledger as one JSON object (SPEC 40.8.1; version 2 when keyed or when clips are recorded)."""
        header = {
            "format": FORMAT_NAME,
            "accountant": self._accountant,
            "neighbouring_relation": self._relation,
            "budget": {"epsilon": self._epsilon, "delta": self._delta},
        }
        if self._key is None and all(c is None for c in self._clips) and not self._read_only:
            entries = [{"count": count, "event": encode_event(event)} for event, count in self._entries]
            return json.dumps({**header, "version": FORMAT_VERSION, "entries": entries}, sort_keys=True, allow_nan=False)
        entries = [
            {"count": count, "event": encode_event(event), "clip": clip}
            for (event, count), clip in zip(self._entries, self._clips, strict=True)
        ]
        doc: dict[str, Any] = {**header, "version": FORMAT_VERSION_CHAINED, "entries": entries}
        if self._key is not None:
            link = _chain_start(header)
            for item in entries:
                link = _chain_next(link, item)
                item["hash"] = link.hex()
            doc["head"] = {"entries": len(entries), "hash": link.hex(), "mac": _head_mac(self._key, len(entries), link).hex()}
        return json.dumps(doc, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes, *, key: bytes | None = None) -> PrivacyLedger:
        """Rebuild a ledger from :meth:`to_json` output, validating everything and replaying it.

        Args:
            text: the JSON text (str or UTF-8 bytes), at most :data:`MAX_LEDGER_BYTES`.
            key: the HMAC key of an authenticated ledger. With a key, the
                file must carry a hash chain and a head that verifies under
                it. Without one, an authenticated file's chain is still
                checked, and the ledger is read-only (its head cannot be
                verified or re-signed).

        Returns:
            The ledger, equal to the one saved.

        Raises:
            LedgerFormatError: if the text is too long, not JSON, has a
                duplicate key or non-finite number, a wrong format name or
                version, a missing, extra or ill-typed field, an unknown event
                tag, more than :data:`MAX_ENTRIES` entries, events the
                accountant cannot bound, or a replayed epsilon above the budget;
                for a chained ledger: an entry whose hash breaks the chain
                (edited, reordered or removed before it: the entry is named),
                a truncated chain, or a head that fails authentication.
            ValueError: if ``key`` is not bytes of at least :data:`MIN_KEY_BYTES`.
        """
        if key is not None and (not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES):
            raise ValueError(f"key must be bytes of length >= {MIN_KEY_BYTES}")
        if isinstance(text, bytes):
            if len(text) > MAX_LEDGER_BYTES:
                raise LedgerFormatError(f"ledger is {len(text)} bytes, more than {MAX_LEDGER_BYTES}")
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LedgerFormatError("ledger is not UTF-8") from exc
        if not isinstance(text, str):
            raise LedgerFormatError(f"ledger must be str or bytes, got {type(text).__name__}")
        if len(text) > MAX_LEDGER_BYTES:
            raise LedgerFormatError(f"ledger is {len(text)} characters, more than {MAX_LEDGER_BYTES}")
        try:
            doc = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
        except LedgerFormatError:
            raise
        except (ValueError, RecursionError) as exc:
            raise LedgerFormatError(f"ledger is not valid JSON: {exc}") from exc
        return cls._from_doc(doc, key)

    @classmethod
    def _from_doc(cls, doc: object, key: bytes | None = None) -> PrivacyLedger:
        keys = {"format", "version", "accountant", "neighbouring_relation", "budget", "entries"}
        version = doc.get("version") if isinstance(doc, dict) else None
        chained = isinstance(doc, dict) and _is_int(version) and version == FORMAT_VERSION_CHAINED and "head" in doc
        if chained:
            keys = keys | {"head"}
        if not isinstance(doc, dict) or set(doc) != keys:
            got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
            raise LedgerFormatError(f"ledger must be an object with exactly the keys {sorted(keys)}, got {got}")
        if not isinstance(doc["format"], str) or doc["format"] != FORMAT_NAME:
            raise LedgerFormatError(f"format must be {FORMAT_NAME!r}, got {doc['format']!r}")
        if not _is_int(version) or version not in (FORMAT_VERSION, FORMAT_VERSION_CHAINED):
            raise LedgerFormatError(
                f"unsupported ledger version {version!r} (this code reads {FORMAT_VERSION} and {FORMAT_VERSION_CHAINED})"
            )
        if key is not None and not chained:
            raise LedgerFormatError("a key was given but the ledger is not authenticated (no hash chain and head)")
        if not isinstance(doc["accountant"], str) or doc["accountant"] not in ACCOUNTANTS:
            raise LedgerFormatError(f"accountant must be one of {ACCOUNTANTS}, got {doc['accountant']!r}")
        relation = doc["neighbouring_relation"]
        if not isinstance(relation, str) or relation not in NEIGHBOURING_RELATIONS:
            raise LedgerFormatError(
                f"neighbouring_relation must be one of {tuple(NEIGHBOURING_RELATIONS)}, got {relation!r}"
            )
        budget = doc["budget"]
        if not isinstance(budget, dict) or set(budget) != {"epsilon", "delta"}:
            raise LedgerFormatError("budget must be an object with exactly the keys ['delta', 'epsilon']")
        eps = _num(budget["epsilon"], "budget epsilon", LedgerFormatError)
        dlt = _num(budget["delta"], "budget delta", LedgerFormatError)
        if not eps > 0 or not 0 < dlt < 1:
            raise LedgerFormatError(f"budget must have epsilon > 0 and delta in (0, 1), got {eps}, {dlt}")
        entries = doc["entries"]
        if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
            raise LedgerFormatError(f"entries must be a list of at most {MAX_ENTRIES} items")
        nodes = [MAX_EVENT_NODES]
        decoded: list[tuple[dp_accounting.DpEvent, int]] = []
        clips: list[float | None] = []
        entry_keys = {"count", "event"} | ({"clip"} if version == FORMAT_VERSION_CHAINED else set())
        entry_keys |= {"hash"} if chained else set()
        link = _chain_start({k: doc[k] for k in ("format", "accountant", "neighbouring_relation", "budget")})
        for index, item in enumerate(entries):
            if not isinstance(item, dict) or set(item) != entry_keys:
                raise LedgerFormatError(f"entry {index} must be an object with exactly the keys {sorted(entry_keys)}")
            if chained:
                link = _chain_next(link, {k: item[k] for k in ("count", "event", "clip")})
                if not isinstance(item["hash"], str) or item["hash"] != link.hex():
                    raise LedgerFormatError(
                        f"entry {index} breaks the hash chain: it was edited, moved, or an entry before it "
                        f"was removed or reordered"
                    )
            count = _int(item["count"], f"entry {index} count", 1, MAX_COUNT, LedgerFormatError)
            decoded.append((_decode(item["event"], 0, nodes), count))
            clip = item.get("clip")
            clips.append(None if clip is None else _ranged(clip, f"entry {index} clip", (1e-30, 1e30), LedgerFormatError))
        if chained:
            _check_head(doc["head"], len(entries), link, key)
        ledger = cls(epsilon=eps, delta=dlt, accountant=doc["accountant"], neighbouring_relation=doc["neighbouring_relation"])
        ledger._entries = tuple(decoded)
        ledger._clips = tuple(clips)
        ledger._key = key
        ledger._read_only = chained and key is None
        try:
            spent = ledger._total_epsilon(ledger._entries) if decoded else 0.0
        except UnsupportedEventError as exc:
            raise LedgerFormatError(f"ledger holds an event its accountant cannot bound: {exc}") from exc
        except (ValueError, ArithmeticError, TypeError, MemoryError) as exc:  # defence in depth: fields are bounded
            raise LedgerFormatError(f"ledger entries fail to replay: {type(exc).__name__}: {exc}") from exc
        if not spent <= eps:
            raise LedgerFormatError(f"ledger replays to epsilon {spent:.6g}, above its budget {eps:.6g}")
        ledger._spent = spent
        return ledger

    # ----------------------------------------------------------------- files

    @property
    def read_only(self) -> bool:
        """Whether this ledger came from an authenticated file loaded without its key (it cannot charge or save)."""
        return self._read_only

    @property
    def authenticated(self) -> bool:
        """Whether the ledger holds a key: its files carry a hash chain and an HMAC head."""
        return self._key is not None

    @property
    def clips(self) -> tuple[float | None, ...]:
        """The clip recorded with each entry (None where none was given)."""
        return self._clips

    @property
    def path(self) -> str | None:
        """The resolved file this ledger is bound to (by :meth:`load` or :meth:`save`), or ``None``."""
        return self._path

    def _same_budget(self, other: PrivacyLedger) -> bool:
        return (self._epsilon, self._delta, self._accountant, self._relation) == (
            other._epsilon,
            other._delta,
            other._accountant,
            other._relation,
        )

    def _sync_locked(self) -> None:
        """Adopt the bound file's state (lock held); refuse a file that lost our charges."""
        assert self._path is not None
        data = _read_limited(self._path)
        if data is None:
            if self._entries:
                raise LedgerConflictError(
                    f"{self._path} was removed, but this ledger holds {len(self._entries)} committed entries; "
                    f"save it again explicitly to restore the file"
                )
            return
        digest = hashlib.sha256(data).digest()
        if digest == self._digest:
            return
        other = PrivacyLedger.from_json(data, key=self._key)
        if not self._same_budget(other):
            raise LedgerConflictError(f"{self._path} now holds a ledger with another budget, accountant or relation")
        if not _is_prefix(self._entries, other._entries):
            raise LedgerConflictError(
                f"{self._path} no longer holds every charge this ledger committed (it has {len(other._entries)} "
                f"entries, this ledger {len(self._entries)}): the file was replaced or truncated"
            )
        self._entries, self._clips, self._spent, self._digest = other._entries, other._clips, other._spent, digest

    def _store_locked(self, target: str) -> None:
        data = self.to_json().encode("utf-8")
        _write_durably(target, data)
        self._digest = hashlib.sha256(data).digest()

    def refresh(self) -> float:
        """Re-read the bound file under its lock (other processes' charges) and return the spent epsilon.

        Returns:
            :meth:`spent_epsilon` after the refresh (unchanged for an unbound ledger).

        Raises:
            LedgerConflictError: if the file no longer holds this ledger's charges.
            LedgerFormatError: if the file is not a valid ledger.
            LedgerLockError: if the lock is not free within the lock timeout.
            OSError: if the file cannot be read.
        """
        with self._mutex:
            if self._path is not None:
                with _file_lock(self._path, self._lock_timeout):
                    self._sync_locked()
            return self._spent

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path`` durably, never dropping charges already in the file.

        Under the file's lock (``TARGET.lock`` beside the resolved file): if
        ``path`` already exists, it must be exactly the file this ledger was
        loaded from or last saved to (compare-and-swap on its SHA-256), or
        already hold this ledger's JSON; otherwise nothing is written, so a
        stale copy can never drop another process's charges. The data
        goes to a temporary file in the same folder, is fsynced, renamed over
        the target, and the folder is fsynced. A symbolic link is followed: its
        target is replaced and the link kept. An existing file keeps its
        permission bits (owner and group become the writer's); a new file gets
        :data:`NEW_FILE_MODE` (0600). Afterwards the ledger is bound to the
        file: every later charge is made under its lock (see :meth:`spend`).

        Args:
            path: the file to write.

        Raises:
            LedgerConflictError: if the file holds another ledger, or changed
                since this ledger last read or wrote it.
            LedgerFormatError: if the file exists and is not a valid ledger
                (it is not overwritten).
            LedgerLockError: if the lock is not free within the lock timeout.
            OSError: if the file cannot be read or written.
        """
        self._writable()
        target = os.path.realpath(os.fspath(path))
        with self._mutex, _file_lock(target, self._lock_timeout):
            data = _read_limited(target)
            known = target == self._path and hashlib.sha256(data or b"").digest() == self._digest
            if data is not None and not known and data != self.to_json().encode("utf-8"):
                try:
                    other = PrivacyLedger.from_json(data, key=self._key)
                except LedgerFormatError as exc:
                    raise LedgerFormatError(f"refusing to overwrite {target}: it is not a valid ledger ({exc})") from exc
                raise LedgerConflictError(
                    f"refusing to overwrite {target}: it holds a ledger ({len(other._entries)} entries, epsilon "
                    f"{other._spent:.6g}) that this one was not loaded from or saved to, or that changed since; "
                    f"load it and charge that ledger"
                )
            self._store_locked(target)
            self._path = target

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, lock_timeout: float = LOCK_TIMEOUT, key: bytes | None = None
    ) -> PrivacyLedger:
        """Read a ledger written by :meth:`save` (see :meth:`from_json`) and bind it to the file.

        Reading needs no lock (saves replace the file by rename). Symbolic
        links are followed; the ledger is bound to the resolved file.

        Args:
            path: the ledger file.
            lock_timeout: seconds later charges wait for the file's lock, > 0.
            key: the HMAC key of an authenticated ledger (see :meth:`from_json`).

        Returns:
            The ledger, bound to the file.

        Raises:
            OSError: if the file cannot be read.
            LedgerFormatError: if it is larger than :data:`MAX_LEDGER_BYTES` or invalid.
            ValueError: if ``lock_timeout`` is not a positive finite number.
        """
        if not _is_real(lock_timeout) or not (math.isfinite(lock_timeout) and lock_timeout > 0):
            raise ValueError(f"lock_timeout must be a finite number > 0, got {lock_timeout!r}")
        target = os.path.realpath(os.fspath(path))
        with open(target, "rb") as fh:
            data = fh.read(MAX_LEDGER_BYTES + 1)
        if len(data) > MAX_LEDGER_BYTES:
            raise LedgerFormatError(f"ledger file is larger than {MAX_LEDGER_BYTES} bytes")
        ledger = cls.from_json(data, key=key)
        ledger._path = target
        ledger._digest = hashlib.sha256(data).digest()
        ledger._lock_timeout = float(lock_timeout)
        return ledger
