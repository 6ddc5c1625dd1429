"""The byte path of one proxied connection: two links, each a chain of toxics.

    client ─► upstream link:   read ─► queue ─► toxics ─► write ─► server
    client ◄─ downstream link: write ◄─ toxics ◄─ queue ◄─ read ◄─ server

Each link reads its source in a task of its own and stamps every chunk with the
time it arrived. A second task takes the chunks in order through the toxics of
the link's direction and writes them out. Because the reader never waits for
the toxics, a latency toxic delays each chunk relative to its own arrival and a
stream stays pipelined instead of paying the latency once per chunk.

Toxics can be added, changed and removed while a connection is open: the link
keeps one Stage per toxic, and a chunk that a changed or removed toxic is
holding (a latency, a slice delay) is let go at once rather than dropped.
"""

import asyncio
import contextlib
import enum
import logging
import random
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.proxy.toxics import Chunk, Direction, ProxyToxic, Toxic

log = logging.getLogger(__name__)

READ_BYTES = 64 * 1024
# Chunks a link holds before it stops reading its source; TCP flow control
# then slows the sender, so a stalled toxic never buffers without bound.
QUEUE_CHUNKS = 256


class CloseMode(enum.Enum):
    """How a connection's two sockets are closed."""

    FLUSH = "flush"  # send what is still buffered, then FIN
    DROP = "drop"  # FIN now; bytes not yet handed to the kernel are dropped
    RESET = "reset"  # RST: the peer sees "connection reset by peer"


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

    @property
    def toxic(self) -> Toxic:
        return self.proxy_toxic.toxic

    def now(self) -> float:
        return self._loop.time()

    async def pause(self, seconds: float) -> bool:
        if self._hurry:
            return False
        if seconds <= 0:
            return True

        wake = self._loop.create_future()
        timer = self._loop.call_later(seconds, _settle, wake, True)
        self._wake = wake
        try:
            return await wake
        finally:
            timer.cancel()
            self._wake = None

    def call_later(
        self, seconds: float, callback: Callable[[], None]
    ) -> asyncio.TimerHandle:
        return self._loop.call_later(seconds, callback)

    def close_connection(self, reset: bool = False) -> None:
        self._close(CloseMode.RESET if reset else CloseMode.FLUSH)

    def start_chunk(self) -> None:
        """A new chunk enters this toxic: its pauses count again."""
        self._hurry = False

    def interrupt(self) -> None:
        """The toxic changed: let the chunk it holds go on without waiting."""
        self._hurry = True
        if self._wake is not None:
            _settle(self._wake, False)


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


class Link:
    """One direction of a connection: reads a socket, runs toxics, writes."""

    def __init__(
        self,
        direction: Direction,
        source: asyncio.StreamReader,
        destination: asyncio.StreamWriter,
        stats: TrafficStats,
        close: Callable[[CloseMode], None],
        rng: random.Random,
    ):
        self.direction = direction
        self._source = source
        self._destination = destination
        self._stats = stats
        self._close = close
        self._rng = rng
        self._stages: list[Stage] = []
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue(QUEUE_CHUNKS)

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
        stage.removed = True
        stage.interrupt()
        if stage.applies:
            stage.toxic.on_detach(stage)
            stage.toxic.on_removed(stage)

    def stop(self) -> None:
        """The connection closed: toxics stop acting (their timers end)."""
        for stage in self._stages:
            if stage.applies:
                stage.toxic.on_detach(stage)
        self._stages.clear()

    async def run(self) -> None:
        """Carry bytes until the source closes; raise if the destination fails."""
        reading = asyncio.create_task(self._read())
        try:
            while (chunk := await self._queue.get()) is not None:
                await self._pass(chunk, tuple(self._stages))
            await self._finish(tuple(self._stages))
        finally:
            reading.cancel()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await self._source.read(READ_BYTES):
                self._stats.received_bytes[self.direction] += len(data)
                await self._queue.put(Chunk(data, loop.time()))
        except OSError as exc:
            # A peer that reset its side has nothing more to say: treat as EOF.
            log.debug("%s source failed: %s", self.direction, exc)
        await self._queue.put(None)

    async def _pass(self, chunk: Chunk, stages: Sequence[Stage]) -> None:
        for index, stage in enumerate(stages):
            if stage.applies and not stage.removed:
                stage.start_chunk()
                rest = stages[index + 1 :]
                async with contextlib.aclosing(stage.toxic.pipe(chunk, stage)) as out:
                    async for piece in out:
                        await self._pass(piece, rest)
                return
        await self._write(chunk)

    async def _write(self, chunk: Chunk) -> None:
        self._destination.write(chunk.data)
        self._stats.sent_bytes[self.direction] += len(chunk.data)
        await self._destination.drain()

    async def _finish(self, stages: Sequence[Stage]) -> None:
        for stage in stages:
            if stage.applies and not stage.removed:
                stage.start_chunk()
                await stage.toxic.on_eof(stage)

        # Half-close: the other direction may still be carrying an answer.
        if self._destination.can_write_eof():
            with contextlib.suppress(OSError):
                self._destination.write_eof()

    def _stage(self, name: str) -> Stage:
        for stage in self._stages:
            if stage.proxy_toxic.name == name:
                return stage
        raise KeyError(f"link has no toxic named {name!r}")


class Connection:
    """A client's connection and its upstream connection, joined by two links."""

    def __init__(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        stats: TrafficStats,
        rng: random.Random,
        on_closed: Callable[["Connection"], None],
    ):
        self._writers = (client[1], upstream[1])
        self._links = {
            Direction.UPSTREAM: Link(
                Direction.UPSTREAM, client[0], upstream[1], stats, self.close, rng
            ),
            Direction.DOWNSTREAM: Link(
                Direction.DOWNSTREAM, upstream[0], client[1], stats, self.close, rng
            ),
        }
        self._on_closed = on_closed
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = False

    def attach(self, proxy_toxic: ProxyToxic) -> None:
        self._links[proxy_toxic.stream].attach(proxy_toxic)

    def replace(self, proxy_toxic: ProxyToxic) -> None:
        self._links[proxy_toxic.stream].replace(proxy_toxic)

    def detach(self, proxy_toxic: ProxyToxic) -> None:
        self._links[proxy_toxic.stream].detach(proxy_toxic.name)

    async def run(self) -> None:
        """Carry both directions until both end, one fails, or close() is called."""
        if self.closed:
            return

        self._tasks = [asyncio.create_task(link.run()) for link in self._links.values()]
        try:
            done, _ = await asyncio.wait(
                self._tasks, return_when=asyncio.FIRST_EXCEPTION
            )
            for task in done:
                _log_failure(task)
        finally:
            self.close(CloseMode.FLUSH)

    def close(self, mode: CloseMode = CloseMode.DROP) -> None:
        """Close both sockets once; safe to call from a toxic or the API."""
        if self.closed:
            return

        self.closed = True
        for link in self._links.values():
            link.stop()
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            _close_transport(writer.transport, mode)
        self._on_closed(self)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("link ended: %r", task.exception())


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
