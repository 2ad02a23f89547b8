"""The in-process driver's clients: all in this process, or split over forked workers.

A client pool answers one phase at a time: given the server's messages for
the phase (bytes), it returns every client's reply (bytes), the ids whose
reply was a rejection, and the seconds its clients spent. The driver feeds
the replies to the server in ascending id order, so a pool of workers gives
the server exactly the messages of the serial pool.

:class:`ForkedClients` runs the clients in ``workers`` processes made with
``fork`` (each holds the clients ``u`` with ``u % workers == i`` and its
inputs by inheritance). Between the driver and a worker only bytes travel,
framed below; no object is pickled. Every worker draws its randomness from
the OS CSPRNG, which a fork does not duplicate; a deterministic source would
be copied into every worker, so :func:`make_pool` refuses one.

Frames (little-endian): a request is ``u8 phase index`` then
``u32 count`` then ``count x (u32 id, u32 length, bytes)``; a reply is
``f64 client seconds`` then ``u32 count`` then
``count x (u32 id, u8 kind, u32 length, bytes)`` with kind 1 = reply,
2 = rejected (the bytes are the client's Abort, or empty), and after kind 2
a ``u32 length, utf-8`` error text. A client that neither replies nor is
rejected has no entry.

Requests travel over the worker's pipe. A reply frame is written by the
worker straight into its **reply arena**, a shared anonymous ``mmap`` made
before the fork and sized for every one of its clients' largest reply (the
masked input; at most 2 GiB), and the pipe then carries only ``u8 1, u64
frame length``; a frame that does not fit goes over the pipe as ``u8 0``
then the frame.
So the masked vectors (most of a round's bytes) are written once by the
worker and read once by the driver, which copies each reply out of the
arena before the server sees it (the arena is rewritten next phase): no
frame-sized buffers, no pipe traffic of the vectors. Only our own processes
map the arena, and it holds only message bytes, parsed as untrusted like
any other message.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import struct
import time
from collections.abc import Callable, Mapping, Sequence

from secagg.codec import encoded_size_masked_input
from secagg.errors import RemoteProtocolError
from secagg.params import Params
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource
from secagg.protocol.client import Client

__all__ = ["ForkedClients", "LocalClients", "PhaseReplies", "make_pool"]

_U32 = struct.Struct("<I")
_ENTRY = struct.Struct("<II")
_REPLY = struct.Struct("<IBI")
_F64 = struct.Struct("<d")
_HEAD = struct.Struct("<dI")  # a reply frame's header: client seconds, count
_IN_ARENA = struct.Struct("<BQ")  # u8 1, u64 frame length: the frame is in the arena
_ENTRY_SLACK = 64  # per-client arena bytes beyond the masked input (entry header, an abort's text)
_MAX_ARENA = 2 << 30  # bytes of address space per worker at most; a larger frame's tail goes over the pipe

PhaseReplies = tuple[list[tuple[int, bytes]], dict[int, str], float]
"""``(replies ascending by id, {id: rejection text}, client seconds)``; a
reply may be a ``memoryview`` into the frame a worker sent."""


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

    def run_phase(
        self, index: int, requests: Mapping[int, bytes] | None, progress: Callable[[int], None] | None = None
    ) -> PhaseReplies:
        """Answer one phase.

        Args:
            index: the phase's position in :data:`secagg.driver.PHASES`.
            requests: ``{id: the server's message}``, or None for the first
                phase (every client starts).
            progress: called with the count of clients done so far.

        Returns:
            The replies, rejections and client seconds of the phase.

        Raises:
            Nothing for a client's rejection: it is reported in the result.
        """
        replies: list[tuple[int, bytes]] = []
        rejected: dict[int, str] = {}
        seconds = 0.0
        for done, (u, reply, error, spent) in enumerate(self.answers(index, requests), 1):
            if progress is not None:
                progress(done)
            seconds += spent
            if error is not None:
                rejected[u] = error
            if reply is not None:
                replies.append((u, reply))
        return replies, rejected, seconds

    def answers(self, index: int, requests: Mapping[int, bytes] | None):
        """Yield ``(id, reply or None, rejection text or None, seconds)`` per targeted client, ascending.

        Args:
            index: the phase's position in :data:`secagg.driver.PHASES`.
            requests: as :meth:`run_phase`.

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
            yield u, reply, error, time.perf_counter() - t0

    def close(self) -> None:
        """Nothing to release."""


def _pack_requests(index: int, items: Sequence[tuple[int, bytes]]) -> bytes:
    parts = [bytes([index]), _U32.pack(len(items))]
    for u, data in items:
        parts += [_ENTRY.pack(u, len(data)), data]
    return b"".join(parts)


def _unpack_requests(frame: bytes) -> tuple[int, dict[int, bytes] | None]:
    index = frame[0]
    (count,) = _U32.unpack_from(frame, 1)
    off, out = 5, {}
    for _ in range(count):
        u, length = _ENTRY.unpack_from(frame, off)
        off += _ENTRY.size
        out[u] = bytes(frame[off : off + length])
        off += length
    return index, (None if index == 0 else out)  # phase 0: every client starts


def _unpack_replies(frame, length: int | None = None, *, copy: bool = False) -> PhaseReplies:
    """Parse a reply frame (its first ``length`` bytes); replies are slices of it, or copies with ``copy``."""
    length = len(frame) if length is None else length
    with memoryview(frame) as whole:
        view = whole[:length]
        (seconds, count) = _HEAD.unpack_from(view, 0)
        off = _HEAD.size
        replies: list[tuple[int, bytes]] = []
        rejected: dict[int, str] = {}
        for _ in range(count):
            u, kind, size = _REPLY.unpack_from(view, off)
            off += _REPLY.size
            if off + size > length:
                raise RuntimeError("a client worker sent a truncated frame")
            data = bytes(view[off : off + size]) if copy else view[off : off + size]
            off += size
            if kind == 2:
                (tlen,) = _U32.unpack_from(view, off)
                off += 4
                rejected[u] = bytes(view[off : off + tlen]).decode("utf-8")
                off += tlen
            if kind == 1 or size:  # a rejected client may still have an Abort to send
                replies.append((u, data))
        if copy:
            view.release()
    return replies, rejected, seconds


def _write_replies(arena: mmap.mmap, pool: LocalClients, index: int, requests) -> bytes:
    """Answer a phase into ``arena``; return the pipe message (the frame itself if it did not fit)."""
    off, count, seconds, size = _HEAD.size, 0, 0.0, len(arena)
    spill: list[bytes] | None = None  # the frame so far, once the arena is full
    for u, reply, error, spent in pool.answers(index, requests):
        seconds += spent
        if reply is None and error is None:
            continue
        data = b"" if reply is None else reply
        parts = [_REPLY.pack(u, 2 if error is not None else 1, len(data)), data]
        if error is not None:
            text = error.encode("utf-8")
            parts += [_U32.pack(len(text)), text]
        count += 1
        need = sum(len(p) for p in parts)
        if spill is None and off + need <= size:
            for p in parts:
                arena[off : off + len(p)] = p
                off += len(p)
        else:
            if spill is None:
                spill = [bytes(arena[_HEAD.size : off])]
            spill += parts
    head = _HEAD.pack(seconds, count)
    if spill is not None:
        return b"\x00" + b"".join([head, *spill])
    arena[: _HEAD.size] = head
    return _IN_ARENA.pack(1, off)


def _worker(conn, arena: mmap.mmap, pool: LocalClients, inherited) -> None:  # pragma: no cover - runs in the forked child
    # Close the driver's ends this child inherited (its own and earlier workers'): then the
    # driver's exit, however abrupt, closes the last copy and this worker sees EOF and ends.
    for other in inherited:
        other.close()
    try:
        while True:
            frame = conn.recv_bytes()
            if not frame:
                return
            index, requests = _unpack_requests(frame)
            conn.send_bytes(_write_replies(arena, pool, index, requests))
    except (EOFError, OSError):
        return
    finally:
        conn.close()


def _read_replies(arena: mmap.mmap, message: bytes) -> PhaseReplies:
    """The driver's side of :func:`_write_replies`: each reply copied out of the arena (or the pipe message)."""
    if message[:1] == b"\x00":
        return _unpack_replies(memoryview(message)[1:])
    (_, length) = _IN_ARENA.unpack(message)
    if length > len(arena):
        raise RuntimeError("a client worker announced a frame larger than its arena")
    return _unpack_replies(arena, length, copy=True)  # copies: the worker rewrites the arena next phase


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
        self.conns = []
        self.procs = []
        self.arenas = []
        try:
            for i in range(workers):
                ids = [u for u in range(1, params.n_clients + 1) if u % workers == i]
                pool = LocalClients(params, inputs, keys, pki, DEFAULT_RANDOM, alive, ids)
                # Shared between this process and the child; pages are only touched when written.
                size = _HEAD.size + len(ids) * (encoded_size_masked_input(params) + _ENTRY_SLACK)
                arena = mmap.mmap(-1, min(size, _MAX_ARENA))
                self.arenas.append(arena)
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child, arena, pool, [*self.conns, parent]), daemon=True)
                self.conns.append(parent)
                proc.start()
                child.close()
                self.procs.append(proc)
        except BaseException:
            self.close()
            raise

    def run_phase(
        self, index: int, requests: Mapping[int, bytes] | None, progress: Callable[[int], None] | None = None
    ) -> PhaseReplies:
        """Answer one phase in parallel; same arguments and result as
        :meth:`LocalClients.run_phase`, except that ``progress`` is called once,
        when every worker is done, and client seconds are summed over workers.

        Raises:
            RuntimeError: if a worker died.
        """
        replies: list[tuple[int, bytes]] = []
        rejected: dict[int, str] = {}
        seconds = 0.0
        try:
            for i, conn in enumerate(self.conns):
                mine = [] if requests is None else sorted((u, d) for u, d in requests.items() if u % self.workers == i)
                conn.send_bytes(_pack_requests(index, mine))
            messages = [conn.recv_bytes() for conn in self.conns]
        except (EOFError, OSError):
            raise RuntimeError("a client worker process died") from None
        for arena, message in zip(self.arenas, messages):
            r, rej, s = _read_replies(arena, message)
            replies += r
            rejected.update(rej)
            seconds += s
        replies.sort()
        if progress is not None:
            progress(len(replies))
        return replies, rejected, seconds

    def close(self) -> None:
        """Stop the workers."""
        for conn in self.conns:
            try:
                conn.send_bytes(b"")
            except OSError:
                pass
            conn.close()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        for arena in self.arenas:
            arena.close()


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
