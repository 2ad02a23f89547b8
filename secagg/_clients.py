"""The in-process driver's clients: all in this process, or split over forked workers.

A client pool answers one phase at a time. :meth:`LocalClients.answers` (and
:meth:`ForkedClients.answers`) yields every targeted client's reply in
ascending id order **as soon as it exists**, and the driver hands each one to
the server before it asks for the next: the server gets exactly the serial
pool's messages in the serial pool's order, whatever the pool, and a phase's
replies are never all alive at once (at n = 1000, d = 1e5 the masked inputs
alone would be 360 MB of fresh pages).

A yielded reply is only valid until the generator is advanced: a forked
pool's reply is a ``memoryview`` into a slot of shared memory that the
worker rewrites later. The server copies what it keeps out of a message
while it parses it (the codec's fields are ``bytes``), so nothing of a
reply outlives :meth:`Server.receive`; the pool checks this on
:meth:`ForkedClients.close`, where closing the arena fails with
``BufferError`` if any view of it is still alive.

:class:`ForkedClients` runs the clients in ``workers`` processes made with
``fork`` (each holds the clients ``u`` with ``u % workers == i`` and its
inputs by inheritance). Between the driver and a worker only bytes travel,
framed below; no object is pickled. Every worker draws its randomness from
the OS CSPRNG, which a fork does not duplicate; a deterministic source would
be copied into every worker, so :func:`make_pool` refuses one.

Frames (little-endian). A request, driver to worker over the worker's pipe:
``u8 phase index`` then ``u32 count`` then ``count x (u32 id, u32 length,
bytes)``. Then, for every targeted client of the worker in ascending id
order, one **entry** over the pipe, sent as soon as the client is done:
``u32 id, u8 kind, f64 client seconds, u32 length, u32 slot``, then the
reply's bytes if kind & 3 is 1 (inline), nothing if it is 2 (the reply is in
arena slot ``slot``) or 0 (no reply: the client is gone or finished); if
kind & 0x80 (rejected), then ``u32 length, utf-8`` error text (the reply, if
any, is the client's Abort).

The **arena** is a shared anonymous ``mmap`` per worker, made before the
fork: :data:`SLOTS` slots, each as large as the largest reply (the masked
input). A reply of more than :data:`INLINE_MAX` bytes that fits a slot is
written by the worker into the next slot, round robin, and the driver hands
a view of that slot to the server; once the server returns, the driver
writes one byte to the worker's **ack pipe**, and a worker takes a slot
only when it holds an ack for it (it reads acks only when all its slots are
taken). So the masked vectors are written once by the worker into the same
few already-mapped pages, read once by the server, never copied by the
driver, and never cross a pipe. Only our own processes map the arena, and it
holds only message bytes, parsed as untrusted like any other message.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import struct
import time
from collections.abc import Iterator, Mapping, Sequence

from secagg.codec import encoded_size_masked_input
from secagg.errors import RemoteProtocolError
from secagg.params import Params
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource
from secagg.protocol.client import Client

__all__ = ["INLINE_MAX", "SLOTS", "Answer", "ForkedClients", "LocalClients", "make_pool"]

_U32 = struct.Struct("<I")
_REQUEST = struct.Struct("<II")
_ENTRY = struct.Struct("<IBdII")  # id, kind, client seconds, length, slot
_NONE, _INLINE, _SLOT, _REJECTED = 0, 1, 2, 0x80

SLOTS = 4
"""Arena slots per worker: how many large replies a worker may have written that the server has not read yet."""

INLINE_MAX = 16384
"""Replies up to this many bytes travel over the pipe inside their entry; larger ones through an arena slot."""

Answer = tuple[int, "bytes | memoryview | None", "str | None", float]
"""``(id, reply or None, rejection text or None, client seconds)``: one targeted client's answer to a phase."""


class LocalClients:
    """Every client in this process, run one after another.

    Args:
        params: the round parameters.
        inputs: ``inputs[u - 1]`` is client ``u``'s vector.
        keys: ``{id: Ed25519 signing key}`` (active model) or empty.
        pki: ``{id: verify key}`` (active model) or None.
        random: the randomness source of every client.
        alive: ``alive(u, phase_index)``: whether ``u`` still answers then.
        ids: the clients this pool runs (default: all).
    """

    def __init__(self, params: Params, inputs, keys, pki, random: RandomSource, alive, ids=None) -> None:
        ids = range(1, params.n_clients + 1) if ids is None else ids
        self.alive = alive
        self.clients = {
            u: Client(u, params, input=inputs[u - 1], identity_key=keys.get(u), pki=pki, random=random) for u in ids
        }

    def answers(self, index: int, requests: Mapping[int, bytes] | None) -> Iterator[Answer]:
        """Yield ``(id, reply or None, rejection text or None, seconds)`` per targeted client, ascending.

        Each client runs when the previous answer has been consumed, so the
        caller can hand a reply to the server before the next client makes
        its own.

        Args:
            index: the phase's position in :data:`secagg.driver.PHASES`.
            requests: ``{id: the server's message}``, or None for the first
                phase (every client starts).

        Returns:
            A generator; a client that is gone or finished yields ``(id, None, None, 0.0)``.

        Raises:
            Nothing for a client's rejection: it is in the yielded text.
        """
        targets = sorted(self.clients) if requests is None else sorted(u for u in requests if u in self.clients)
        for u in targets:
            client = self.clients[u]
            if not self.alive(u, index) or client.finished:
                yield u, None, None, 0.0
                continue
            t0 = time.perf_counter()
            error = None
            try:
                reply = client.start() if requests is None else client.receive(requests[u])
            except RemoteProtocolError as exc:
                reply = client.abort_message
                error = str(exc)
            spent = time.perf_counter() - t0
            yield u, reply, error, spent
            del reply  # not kept alive while the next client makes its reply

    def close(self, strict: bool = True) -> None:
        """Nothing to release.

        Args:
            strict: unused (as :meth:`ForkedClients.close`).
        """


def _pack_requests(index: int, items: Sequence[tuple[int, bytes]]) -> bytes:
    parts = [bytes([index]), _U32.pack(len(items))]
    for u, data in items:
        parts += [_REQUEST.pack(u, len(data)), data]
    return b"".join(parts)


def _unpack_requests(frame: bytes) -> tuple[int, dict[int, bytes] | None]:
    index = frame[0]
    (count,) = _U32.unpack_from(frame, 1)
    off, out = 5, {}
    with memoryview(frame) as view:
        for _ in range(count):
            u, length = _REQUEST.unpack_from(view, off)
            off += _REQUEST.size
            out[u] = bytes(view[off : off + length])
            off += length
    return index, (None if index == 0 else out)  # phase 0: every client starts


class _Slots:
    """The worker's side of its arena: the next slot, and the acks that free slots."""

    def __init__(self, arena: mmap.mmap, slot_size: int, acks: int) -> None:
        self.arena, self.size, self.acks = arena, slot_size, acks
        self.count = len(arena) // slot_size if slot_size else 0
        self.free, self.next = self.count, 0

    def fits(self, n: int) -> bool:
        return INLINE_MAX < n <= self.size and self.count > 0

    def put(self, data) -> int:
        """Copy ``data`` into the next slot once it is free; return the slot. Raises EOFError if the driver is gone."""
        while not self.free:
            got = os.read(self.acks, 4096)  # blocks until the driver has released at least one slot
            if not got:
                raise EOFError
            self.free += len(got)
        slot = self.next
        self.next = (slot + 1) % self.count
        self.free -= 1
        off = slot * self.size
        self.arena[off : off + len(data)] = data
        return slot


def _entry(u: int, reply, error: str | None, spent: float, slots: _Slots) -> bytes:
    """One entry (see the module docstring); a large reply goes into a slot first."""
    size = 0 if reply is None else len(reply)
    kind, slot, data = _NONE, 0, b""
    if reply is not None:
        if slots.fits(size):
            kind, slot = _SLOT, slots.put(reply)
        else:
            kind, data = _INLINE, reply
    parts = [_ENTRY.pack(u, kind | (_REJECTED if error is not None else 0), spent, size, slot), data]
    if error is not None:
        text = error.encode("utf-8")
        parts += [_U32.pack(len(text)), text]
    return b"".join(parts)


def _worker(conn, slots: _Slots, pool: LocalClients, inherited, fds) -> None:  # pragma: no cover - runs in the forked child
    # Close the driver's ends this child inherited (its own and earlier workers' pipes and ack write
    # ends): then the driver's exit, however abrupt, closes the last copy and this worker sees EOF and ends.
    for other in inherited:
        other.close()
    for fd in fds:
        os.close(fd)
    try:
        while True:
            frame = conn.recv_bytes()
            if not frame:
                return
            index, requests = _unpack_requests(frame)
            for u, reply, error, spent in pool.answers(index, requests):
                conn.send_bytes(_entry(u, reply, error, spent, slots))
                del reply
    except (EOFError, OSError):
        return
    finally:
        conn.close()
        os.close(slots.acks)


def _read_entry(message: bytes, arena_view: memoryview, slot_size: int):
    """The driver's side of :func:`_entry`: ``(id, kind, reply or None, error or None, seconds)``.

    An inline reply is a view of ``message``; a slot reply a view of the arena.
    """
    u, kind, spent, size, slot = _ENTRY.unpack_from(message, 0)
    off = _ENTRY.size
    reply = None
    where = kind & 3
    if where == _INLINE:
        if off + size > len(message):
            raise RuntimeError("a client worker sent a truncated entry")
        reply = memoryview(message)[off : off + size]
        off += size
    elif where == _SLOT:
        if size > slot_size or (slot + 1) * slot_size > len(arena_view):
            raise RuntimeError("a client worker named a slot outside its arena")
        reply = arena_view[slot * slot_size : slot * slot_size + size]
    error = None
    if kind & _REJECTED:
        (tlen,) = _U32.unpack_from(message, off)
        error = bytes(message[off + 4 : off + 4 + tlen]).decode("utf-8")
    return u, where, reply, error, spent


class ForkedClients:
    """The clients split over ``workers`` forked processes (see the module docstring).

    Args:
        params, inputs, keys, pki, alive: as :class:`LocalClients`.
        workers: the number of processes, >= 2.

    Raises:
        ValueError: if the platform cannot fork.
    """

    def __init__(self, params: Params, inputs, keys, pki, alive, workers: int) -> None:
        try:
            ctx = multiprocessing.get_context("fork")
        except ValueError:
            raise ValueError("workers > 1 needs the 'fork' start method (Linux, macOS)") from None
        self.workers = workers
        self.n = params.n_clients
        self.slot_size = encoded_size_masked_input(params)
        self.conns = []
        self.acks: list[int] = []  # the write end of each worker's ack pipe
        self.procs = []
        self.arenas = []
        self.views: list[memoryview] = []
        try:
            for i in range(workers):
                ids = [u for u in range(1, params.n_clients + 1) if u % workers == i]
                pool = LocalClients(params, inputs, keys, pki, DEFAULT_RANDOM, alive, ids)
                # Shared between this process and the child; pages are only touched when written.
                arena = mmap.mmap(-1, SLOTS * self.slot_size)
                self.arenas.append(arena)
                ack_read, ack_write = os.pipe()
                parent, child = ctx.Pipe()
                slots = _Slots(arena, self.slot_size, ack_read)
                inherited = [*self.conns, parent]
                proc = ctx.Process(target=_worker, args=(child, slots, pool, inherited, [*self.acks, ack_write]), daemon=True)
                self.conns.append(parent)
                self.acks.append(ack_write)
                try:
                    proc.start()
                finally:
                    child.close()
                    os.close(ack_read)
                self.procs.append(proc)
            self.views = [memoryview(a) for a in self.arenas]
        except BaseException:
            self.close()
            raise

    def answers(self, index: int, requests: Mapping[int, bytes] | None) -> Iterator[Answer]:
        """Answer one phase in parallel; yields as :meth:`LocalClients.answers` does, in ascending id order.

        The workers run ahead (up to :data:`SLOTS` large replies each); each
        answer is yielded as soon as its worker has sent it and the answers
        of every smaller id have been consumed. A yielded reply is valid
        until the generator is advanced.

        Raises:
            RuntimeError: if a worker died or broke the framing.
        """
        w = self.workers
        try:
            for i, conn in enumerate(self.conns):
                mine = [] if requests is None else sorted((u, d) for u, d in requests.items() if u % w == i)
                conn.send_bytes(_pack_requests(index, mine))
            targets = range(1, self.n + 1) if requests is None else sorted(requests)
            for u in targets:
                i = u % w
                message = self.conns[i].recv_bytes()
                got, where, reply, error, spent = _read_entry(message, self.views[i], self.slot_size)
                if got != u:
                    raise RuntimeError(f"a client worker answered for client {got} where {u} was due")
                yield u, reply, error, spent
                if reply is not None:
                    reply.release()
                if where == _SLOT:
                    os.write(self.acks[i], b"\x01")  # the server is done with the slot
        except (EOFError, OSError):
            raise RuntimeError("a client worker process died") from None

    def close(self, strict: bool = True) -> None:
        """Stop the workers and unmap the arenas.

        Args:
            strict: raise if an arena cannot be unmapped; False while another
                error is on its way out (whose traceback may hold a reply).

        Raises:
            BufferError: with ``strict``, if a view of an arena is still alive
                (something kept a reply past its phase; see the module docstring).
        """
        for conn in self.conns:
            try:
                conn.send_bytes(b"")
            except OSError:
                pass
            conn.close()
        for fd in self.acks:
            os.close(fd)
        self.acks = []
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        for view in self.views:
            view.release()
        self.views = []
        for arena in self.arenas:
            try:
                arena.close()
            except BufferError:
                if strict:
                    raise


def make_pool(params: Params, inputs, keys, pki, random: RandomSource, alive, workers: int):
    """Return the client pool for ``workers`` processes (1: this process).

    Args:
        params, inputs, keys, pki, random, alive: as :class:`LocalClients`.
        workers: 1 or more.

    Returns:
        A :class:`LocalClients` or a :class:`ForkedClients`.

    Raises:
        TypeError: if ``workers`` is not an int.
        ValueError: if ``workers < 1``, or ``workers > 1`` with a ``random``
            other than the OS CSPRNG (a forked copy of a deterministic source
            would give two clients the same keys), or without ``fork``.
    """
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be an int, got {workers!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers > 1 and random is not DEFAULT_RANDOM:
        raise ValueError(
            "workers > 1 needs the default randomness (the OS CSPRNG): a forked copy of another source "
            "would repeat its bytes in every worker"
        )
    workers = min(workers, params.n_clients, os.cpu_count() or 1)
    if workers == 1:
        return LocalClients(params, inputs, keys, pki, random, alive)
    return ForkedClients(params, inputs, keys, pki, alive, workers)
