"""The byte path of one proxied connection: two links, each a chain of toxics.

    client ─► upstream link:   Side ─► toxics ─► Side ─► server
    client ◄─ downstream link: Side ◄─ toxics ◄─ Side ◄─ server

Each socket is a Side, an asyncio protocol that hands what it reads to the link
it feeds. While no toxic acts on a link, a chunk is written to the other side
in the same callback that read it: no task, no queue, no copy. Once a toxic
acts, chunks are stamped with the time they arrived and queued, and a pump task
takes them in order through the toxics. Because reading never waits for the
toxics, a latency toxic delays each chunk relative to its own arrival and a
stream stays pipelined instead of paying the latency once per chunk.

Toxics can be added, changed and removed while a connection is open: the link
keeps one Stage per toxic, and a chunk that a changed or removed toxic is
holding (a latency, a slice delay) is let go at once rather than dropped. The
link goes back to direct writes once its queue is empty and no toxic acts.
"""

import asyncio
import collections
import contextlib
import enum
import logging
import random
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.proxy.toxics import Chunk, Direction, ProxyToxic, Toxic

log = logging.getLogger(__name__)

# Chunks a link holds before it stops reading its source; TCP flow control
# then slows the sender, so a stalled toxic never buffers without bound.
QUEUE_CHUNKS = 256
# Event loops wake timers up to a millisecond early (libuv rounds to whole
# milliseconds) or late (epoll waits in whole milliseconds). A pause sleeps
# until this close to its end and then yields to the loop until it is due,
# so a latency toxic is exact to tens of microseconds, not to a millisecond.
TIMER_SLACK_S = 0.0015

clock = time.monotonic


class CloseMode(enum.Enum):
    """How a connection's two sockets are closed."""

    FLUSH = "flush"  # send what is still buffered, then FIN
    DROP = "drop"  # FIN now; bytes not yet handed to the kernel are dropped
    RESET = "reset"  # RST: the peer sees "connection reset by peer"


class _Hold(enum.Enum):
    """Why a side has stopped reading its socket."""

    QUEUE = "queue"  # the link it feeds holds QUEUE_CHUNKS chunks
    DESTINATION = "destination"  # the socket it writes to has a full buffer
    DIALING = "dialing"  # its connection has no other side yet


@dataclass
class TrafficStats:
    """Bytes and connections counted by the links of one proxy."""

    received_bytes: dict[Direction, int] = field(
        default_factory=lambda: dict.fromkeys(Direction, 0)
    )
    sent_bytes: dict[Direction, int] = field(
        default_factory=lambda: dict.fromkeys(Direction, 0)
    )
    connections_total: int = 0


class Side(asyncio.Protocol):
    """One socket of a proxied connection, as an asyncio protocol.

    Until a connection adopts it, what the socket reads is kept in arrival
    order, stamped, so that nothing sent before the upstream answered is lost.
    """

    def __init__(self, on_made: Callable[["Side"], None] | None = None):
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._on_made = on_made
        self._connection: Connection | None = None
        self._feeds: Link | None = None
        self._fed_by: Link | None = None
        self._early: list[Chunk | None] = []
        self._holds: set[_Hold] = set()
        self._writable: asyncio.Future[None] | None = None

    def adopt(self, connection: "Connection", feeds: "Link", fed_by: "Link") -> None:
        """Join a connection: pass on what was read so far, then read on."""
        self._connection = connection
        self._feeds, self._fed_by = feeds, fed_by
        early, self._early = self._early, []
        for chunk in early:
            if chunk is None:
                feeds.feed_eof()
            else:
                feeds.feed(chunk.data, chunk.arrived)
        self.release(_Hold.DIALING)

    def write(self, data: bytes) -> None:
        # A lost socket drops what is written to it; its connection is closing.
        if not self.lost:
            self.transport.write(data)

    def write_eof(self) -> None:
        if not self.lost and self.transport.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                self.transport.write_eof()

    async def drain(self) -> None:
        """Wait until the socket's buffer has room; raise once it is gone."""
        while self._writable is not None and not self.lost:
            await asyncio.shield(self._writable)
        if self.lost:
            raise ConnectionResetError("the socket closed while being written")

    def hold(self, reason: _Hold) -> None:
        if not self._holds:
            self._call_transport("pause_reading")
        self._holds.add(reason)

    def release(self, reason: _Hold) -> None:
        if reason not in self._holds:
            return
        self._holds.discard(reason)
        if not self._holds:
            self._call_transport("resume_reading")

    def close(self, mode: "CloseMode") -> None:
        if self.transport is not None:
            _close_transport(self.transport, mode)

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self._on_made is not None:
            self.hold(_Hold.DIALING)
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        if self._feeds is not None:
            self._feeds.feed(data)
        else:
            self._early.append(Chunk(data, clock()))

    def eof_received(self) -> bool:
        if self._feeds is not None:
            self._feeds.feed_eof()
        else:
            self._early.append(None)
        return True  # keep the socket open for the other direction

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake_writer()
        if self._connection is not None:
            self._connection.side_lost(exc)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()
        if self._fed_by is not None:
            self._fed_by.source.hold(_Hold.DESTINATION)

    def resume_writing(self) -> None:
        self._wake_writer()
        if self._fed_by is not None:
            self._fed_by.source.release(_Hold.DESTINATION)

    def _wake_writer(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _call_transport(self, method: str) -> None:
        if self.transport is None or self.lost or self.transport.is_closing():
            return
        with contextlib.suppress(RuntimeError, OSError):
            getattr(self.transport, method)()


class Stage:
    """One toxic acting on one link: its per-connection state and its pauses."""

    def __init__(
        self,
        proxy_toxic: ProxyToxic,
        applies: bool,
        close: Callable[[CloseMode], None],
        rng: random.Random,
    ):
        self.proxy_toxic = proxy_toxic
        self.applies = applies
        self.removed = False
        self.rng = rng
        self.state: Any = proxy_toxic.toxic.new_state()
        self._close = close
        self._loop = asyncio.get_running_loop()
        self._wake: asyncio.Future[bool] | None = None
        self._hurry = False
        self._gone = asyncio.Event()

    @property
    def toxic(self) -> Toxic:
        return self.proxy_toxic.toxic

    @property
    def acts(self) -> bool:
        return self.applies and not self.removed

    def now(self) -> float:
        return clock()

    async def pause(self, seconds: float) -> bool:
        if self._hurry:
            return False

        due = clock() + seconds
        while (left := due - clock()) > 0:
            if not await self._sleep(left - TIMER_SLACK_S):
                return False
        return True

    def call_later(
        self, seconds: float, callback: Callable[[], None]
    ) -> asyncio.TimerHandle:
        return self._loop.call_later(seconds, callback)

    def close_connection(self, reset: bool = False) -> None:
        self._close(CloseMode.RESET if reset else CloseMode.FLUSH)

    async def until_removed(self) -> None:
        await self._gone.wait()

    def end(self) -> None:
        """The toxic was deleted, or its connection closed."""
        self.removed = True
        self._gone.set()
        self.interrupt()

    def start_chunk(self) -> None:
        """A new chunk enters this toxic: its pauses count again."""
        self._hurry = False

    def interrupt(self) -> None:
        """The toxic changed: let the chunk it holds go on without waiting."""
        self._hurry = True
        if self._wake is not None:
            _settle(self._wake, False)

    async def _sleep(self, seconds: float) -> bool:
        wake = self._loop.create_future()
        if seconds > 0:
            timer = self._loop.call_later(seconds, _settle, wake, True)
        else:
            # The last stretch: come back on the loop's next turn.
            timer = self._loop.call_soon(_settle, wake, True)
        self._wake = wake
        try:
            return await wake
        finally:
            timer.cancel()
            self._wake = None


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


class Link:
    """One direction of a connection: reads a side, runs toxics, writes."""

    def __init__(
        self,
        direction: Direction,
        source: Side,
        destination: Side,
        stats: TrafficStats,
        close: Callable[[CloseMode], None],
        rng: random.Random,
    ):
        self.direction = direction
        self.source = source
        self.destination = destination
        self.finished = False
        self._stats = stats
        self._close = close
        self._rng = rng
        self._stages: list[Stage] = []
        self._queue: collections.deque[Chunk | None] = collections.deque()
        self._pump: asyncio.Task[None] | None = None
        self._on_finished: Callable[[], None] = lambda: None

    def attach(self, proxy_toxic: ProxyToxic) -> None:
        """Append a toxic; whether it acts here is drawn once, by toxicity."""
        applies = self._rng.random() < proxy_toxic.toxicity
        stage = Stage(proxy_toxic, applies, self._close, self._rng)
        self._stages.append(stage)
        if applies:
            stage.toxic.on_attach(stage)

    def replace(self, proxy_toxic: ProxyToxic) -> None:
        """Swap in new settings of a toxic, keeping its per-connection state."""
        stage = self._stage(proxy_toxic.name)
        if stage.applies:
            stage.toxic.on_detach(stage)

        # The draw is kept across updates; only a new probability redraws it.
        if proxy_toxic.toxicity != stage.proxy_toxic.toxicity:
            stage.applies = self._rng.random() < proxy_toxic.toxicity
        stage.proxy_toxic = proxy_toxic
        stage.interrupt()
        if stage.applies:
            stage.toxic.on_attach(stage)

    def detach(self, name: str) -> None:
        """Take a toxic out of the chain; what it holds goes on at once."""
        stage = self._stage(name)
        self._stages.remove(stage)
        stage.end()
        if stage.applies:
            stage.toxic.on_detach(stage)
            stage.toxic.on_removed(stage)

    def start(self, on_finished: Callable[[], None]) -> None:
        self._on_finished = on_finished

    def stop(self) -> None:
        """The connection closed: toxics stop acting (their timers end)."""
        for stage in self._stages:
            stage.end()
            if stage.applies:
                stage.toxic.on_detach(stage)
        self._stages.clear()
        self._queue.clear()
        if self._pump is not None:
            self._pump.cancel()

    def feed(self, data: bytes, arrived: float | None = None) -> None:
        """Take bytes the source read: write them now, or queue them for toxics."""
        self._stats.received_bytes[self.direction] += len(data)
        if self._pump is None and not self._toxics_act():
            self.destination.write(data)
            self._stats.sent_bytes[self.direction] += len(data)
            return

        self._queue.append(Chunk(data, clock() if arrived is None else arrived))
        if len(self._queue) >= QUEUE_CHUNKS:
            self.source.hold(_Hold.QUEUE)
        self._start_pump()

    def feed_eof(self) -> None:
        """The source closed its side: close ours once every chunk went on."""
        if self._pump is None and not self._toxics_act():
            self._finish_now()
            return

        self._queue.append(None)
        self._start_pump()

    def _toxics_act(self) -> bool:
        return any(stage.acts for stage in self._stages)

    def _start_pump(self) -> None:
        if self._pump is None:
            self._pump = asyncio.create_task(self._run_pump())
            self._pump.add_done_callback(self._pump_done)

    async def _run_pump(self) -> None:
        while self._queue:
            chunk = self._queue.popleft()
            if len(self._queue) < QUEUE_CHUNKS // 2:
                self.source.release(_Hold.QUEUE)
            stages = tuple(self._stages)
            if chunk is None:
                await self._finish(stages)
                return
            await self._pass(chunk, stages)

    def _pump_done(self, pump: asyncio.Task[None]) -> None:
        self._pump = None
        if pump.cancelled():
            return
        if pump.exception() is not None:
            log.debug("%s link failed: %r", self.direction, pump.exception())
            self._close(CloseMode.FLUSH)
        elif self._queue:
            # A chunk queued after the pump's last look: it needs a pump too.
            self._start_pump()

    async def _pass(self, chunk: Chunk, stages: Sequence[Stage]) -> None:
        for index, stage in enumerate(stages):
            if stage.acts:
                stage.start_chunk()
                rest = stages[index + 1 :]
                async with contextlib.aclosing(stage.toxic.pipe(chunk, stage)) as out:
                    async for piece in out:
                        await self._pass(piece, rest)
                return
        await self._write(chunk)

    async def _write(self, chunk: Chunk) -> None:
        self.destination.write(chunk.data)
        self._stats.sent_bytes[self.direction] += len(chunk.data)
        await self.destination.drain()

    async def _finish(self, stages: Sequence[Stage]) -> None:
        for stage in stages:
            if stage.acts:
                stage.start_chunk()
                await stage.toxic.on_eof(stage)
        self._finish_now()

    def _finish_now(self) -> None:
        # Half-close: the other direction may still be carrying an answer.
        self.destination.write_eof()
        self.finished = True
        self._on_finished()

    def _stage(self, name: str) -> Stage:
        for stage in self._stages:
            if stage.proxy_toxic.name == name:
                return stage
        raise KeyError(f"link has no toxic named {name!r}")


class Connection:
    """A client's connection and its upstream connection, joined by two links."""

    def __init__(
        self,
        client: Side,
        upstream: Side,
        stats: TrafficStats,
        rng: random.Random,
        on_closed: Callable[["Connection"], None],
    ):
        self._sides = (client, upstream)
        self._links = {
            Direction.UPSTREAM: Link(
                Direction.UPSTREAM, client, upstream, stats, self.close, rng
            ),
            Direction.DOWNSTREAM: Link(
                Direction.DOWNSTREAM, upstream, client, stats, self.close, rng
            ),
        }
        self._on_closed = on_closed
        self.closed = False

    def attach(self, proxy_toxic: ProxyToxic) -> None:
        self._links[proxy_toxic.stream].attach(proxy_toxic)

    def replace(self, proxy_toxic: ProxyToxic) -> None:
        self._links[proxy_toxic.stream].replace(proxy_toxic)

    def detach(self, proxy_toxic: ProxyToxic) -> None:
        self._links[proxy_toxic.stream].detach(proxy_toxic.name)

    def start(self) -> None:
        """Carry both directions until both end, a side fails, or close()."""
        up, down = self._links[Direction.UPSTREAM], self._links[Direction.DOWNSTREAM]
        for link in (up, down):
            link.start(self._link_finished)
        client, upstream = self._sides
        client.adopt(self, feeds=up, fed_by=down)
        upstream.adopt(self, feeds=down, fed_by=up)
        if client.lost or upstream.lost:
            self.close(CloseMode.FLUSH)

    def side_lost(self, exc: Exception | None) -> None:
        """A socket failed or was closed: the connection is over."""
        if exc is not None:
            log.debug("connection ended: %r", exc)
        self.close(CloseMode.FLUSH)

    def close(self, mode: CloseMode = CloseMode.DROP) -> None:
        """Close both sockets once; safe to call from a toxic or the API."""
        if self.closed:
            return

        self.closed = True
        for link in self._links.values():
            link.stop()
        for side in self._sides:
            side.close(mode)
        self._on_closed(self)

    def _link_finished(self) -> None:
        if all(link.finished for link in self._links.values()):
            self.close(CloseMode.FLUSH)


def _close_transport(transport: asyncio.BaseTransport, mode: CloseMode) -> None:
    if mode is CloseMode.FLUSH:
        transport.close()
        return

    if mode is CloseMode.RESET:
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            # A zero linger time makes close() send RST instead of FIN.
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
    transport.abort()
