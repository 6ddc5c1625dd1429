"""Toxics: small typed values that say how a proxy harms the bytes it carries.

A toxic is looked up by its Toxiproxy type name in TOXIC_TYPES, built from the
JSON attributes Toxiproxy documents (``latency``, ``rate``, ...) and holds them
in fields whose names carry their unit (``latency_ms``, ``rate_kbps``).
A ProxyToxic is a toxic as installed on a proxy: a name, the direction it acts
on and the probability (toxicity) that it acts on a given connection.

The behaviour of a toxic is a set of hooks that a link calls for each connection
the toxic acts on (see harness.proxy.link):

    on_attach ─► pipe(chunk) ... pipe(chunk) ─► on_eof ─► on_detach
                                                  └── on_removed, when deleted

``pipe`` receives each chunk in arrival order and yields what goes on to the
next toxic, so yielding nothing drops a chunk and yielding pieces slices it.
"""

import asyncio
import dataclasses
import enum
import json
import logging
import math
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, Self

from harness.proxy.errors import BadRequest

log = logging.getLogger(__name__)

INT64_MAX = 2**63 - 1


class Direction(enum.StrEnum):
    """The half of a connection a toxic acts on."""

    UPSTREAM = "upstream"  # client -> server: requests
    DOWNSTREAM = "downstream"  # server -> client: responses


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes read from one side, with the loop time at which they arrived."""

    data: bytes
    arrived: float


class ToxicContext(Protocol):
    """What a toxic may use and do on the one connection it acts on."""

    state: Any
    rng: random.Random

    def now(self) -> float:
        """The event loop's clock, in seconds."""

    async def pause(self, seconds: float) -> bool:
        """Wait; False when the toxic was changed or removed meanwhile."""

    def call_later(
        self, seconds: float, callback: Callable[[], None]
    ) -> asyncio.TimerHandle:
        """Run callback after a delay, on the proxy's event loop."""

    def close_connection(self, reset: bool = False) -> None:
        """Close both sides of the connection; reset=True sends a TCP RST."""

    async def until_removed(self) -> None:
        """Wait until the toxic is deleted or the connection closes."""


def attribute(name: str, unit: str) -> Any:
    """Declare a field read from the Toxiproxy attribute name, in unit."""
    return field(default=0, metadata={"attribute": name, "unit": unit})


@dataclass(frozen=True)
class Toxic:
    """Base of every toxic: parsing, JSON, and hooks that change nothing."""

    type_name: ClassVar[str]

    @classmethod
    def from_attributes(cls, attributes: object, base: Self | None = None) -> Self:
        """Build from Toxiproxy attributes; absent ones keep base's values."""
        if attributes is None:
            attributes = {}
        if not isinstance(attributes, dict):
            raise BadRequest.body(
                f"attributes of a {cls.type_name} toxic must be a JSON object, "
                f"got {json.dumps(attributes)}"
            )

        known = {spec.metadata["attribute"] for spec in fields(cls)}
        for name in attributes:
            if name not in known:
                # Toxiproxy ignores unknown attributes, and clients rely on
                # that; a typo is still worth a line in the proxy's log.
                log.warning(
                    "ignoring unknown attribute %r of a %s toxic; known: %s",
                    name,
                    cls.type_name,
                    ", ".join(sorted(known)),
                )
        values = {}
        for spec in fields(cls):
            name = spec.metadata["attribute"]
            if name in attributes:
                values[spec.name] = cls._amount(name, attributes[name], spec)
            elif base is not None:
                values[spec.name] = getattr(base, spec.name)

        toxic = cls(**values)
        toxic.validate()
        return toxic

    @classmethod
    def _amount(cls, name: str, value: object, spec: dataclasses.Field) -> int:
        whole = isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
        # Toxiproxy decodes attributes into Go int64s and refuses what does not fit.
        if isinstance(value, bool) or not whole or not 0 <= value <= INT64_MAX:
            raise BadRequest.body(
                f"attribute {name!r} of a {cls.type_name} toxic must be a whole "
                f"number of {spec.metadata['unit']} from 0 to {INT64_MAX}, "
                f"got {json.dumps(value)}"
            )
        return int(value)

    def validate(self) -> None:
        """Refuse combinations of attributes that cannot work together."""

    def attributes(self) -> dict[str, int]:
        """The attributes as Toxiproxy names them in its JSON."""
        return {
            spec.metadata["attribute"]: getattr(self, spec.name)
            for spec in fields(self)
        }

    def new_state(self) -> Any:
        """Per-connection state of this toxic; None when it keeps none."""
        return None

    def on_attach(self, ctx: ToxicContext) -> None:
        """Start acting on a connection: added, updated, or connection opened."""

    def on_detach(self, ctx: ToxicContext) -> None:
        """Stop acting on a connection: updated, removed, or connection closed."""

    def on_removed(self, ctx: ToxicContext) -> None:
        """The toxic was deleted while it acted on this open connection."""

    async def pipe(self, chunk: Chunk, ctx: ToxicContext) -> AsyncIterator[Chunk]:
        """Yield what of chunk goes on to the next toxic, and when."""
        yield chunk

    async def on_eof(self, ctx: ToxicContext) -> None:
        """The source closed its side; return when the close may go on."""


@dataclass(frozen=True)
class LatencyToxic(Toxic):
    """Delays every chunk by latency_ms +/- jitter_ms after it arrived."""

    type_name: ClassVar[str] = "latency"
    latency_ms: int = attribute("latency", "milliseconds")
    jitter_ms: int = attribute("jitter", "milliseconds")

    async def pipe(self, chunk: Chunk, ctx: ToxicContext) -> AsyncIterator[Chunk]:
        jitter_ms = ctx.rng.uniform(-self.jitter_ms, self.jitter_ms)
        due = chunk.arrived + max(0.0, self.latency_ms + jitter_ms) / 1000
        await ctx.pause(due - ctx.now())

        # The next latency toxic counts from here, so two of them add up.
        yield Chunk(chunk.data, min(due, ctx.now()))


@dataclass
class _Pacing:
    sendable_at: float = 0.0


@dataclass(frozen=True)
class BandwidthToxic(Toxic):
    """Lets at most rate_kbps kilobytes (1000 bytes) per second through."""

    type_name: ClassVar[str] = "bandwidth"
    rate_kbps: int = attribute("rate", "KB/s")

    def new_state(self) -> _Pacing:
        return _Pacing()

    async def pipe(self, chunk: Chunk, ctx: ToxicContext) -> AsyncIterator[Chunk]:
        if self.rate_kbps == 0:
            yield chunk
            return

        bytes_per_s = self.rate_kbps * 1000
        piece_bytes = self.rate_kbps * 100  # a tenth of a second of traffic
        for start in range(0, len(chunk.data), piece_bytes):
            piece = chunk.data[start : start + piece_bytes]
            pacing = ctx.state
            pacing.sendable_at = max(pacing.sendable_at, ctx.now())
            pacing.sendable_at += len(piece) / bytes_per_s
            if not await ctx.pause(pacing.sendable_at - ctx.now()):
                pacing.sendable_at = ctx.now()
            yield Chunk(piece, chunk.arrived)


@dataclass(frozen=True)
class SlowCloseToxic(Toxic):
    """Holds back the close of a side for delay_ms after its source closed."""

    type_name: ClassVar[str] = "slow_close"
    delay_ms: int = attribute("delay", "milliseconds")

    async def on_eof(self, ctx: ToxicContext) -> None:
        await ctx.pause(self.delay_ms / 1000)


@dataclass
class _Timer:
    handle: asyncio.TimerHandle | None = None


async def _swallowed() -> AsyncIterator[Chunk]:
    # An async generator that yields nothing: the chunk goes no further.
    for _ in ():
        yield _


@dataclass(frozen=True)
class TimeoutToxic(Toxic):
    """Drops all data; closes after timeout_ms, or never when it is 0.

    Deleting the toxic closes the connections it held, as Toxiproxy does: a
    client that saw its requests vanish must not resume mid-stream.
    """

    type_name: ClassVar[str] = "timeout"
    timeout_ms: int = attribute("timeout", "milliseconds")

    def new_state(self) -> _Timer:
        return _Timer()

    def on_attach(self, ctx: ToxicContext) -> None:
        if self.timeout_ms > 0:
            ctx.state.handle = ctx.call_later(
                self.timeout_ms / 1000, ctx.close_connection
            )

    def on_detach(self, ctx: ToxicContext) -> None:
        if ctx.state.handle is not None:
            ctx.state.handle.cancel()
            ctx.state.handle = None

    def on_removed(self, ctx: ToxicContext) -> None:
        ctx.close_connection()

    def pipe(self, chunk: Chunk, ctx: ToxicContext) -> AsyncIterator[Chunk]:
        return _swallowed()

    async def on_eof(self, ctx: ToxicContext) -> None:
        # Toxiproxy's timeout reads nothing, not even the close: a peer that
        # closed still looks hung until the timeout or the toxic's removal.
        await ctx.until_removed()


@dataclass(frozen=True)
class ResetPeerToxic(Toxic):
    """Resets the connection (TCP RST) timeout_ms after data next arrives."""

    type_name: ClassVar[str] = "reset_peer"
    timeout_ms: int = attribute("timeout", "milliseconds")

    async def pipe(self, chunk: Chunk, ctx: ToxicContext) -> AsyncIterator[Chunk]:
        if await ctx.pause(self.timeout_ms / 1000):
            ctx.close_connection(reset=True)
            return
        yield chunk  # changed or removed while waiting: the data goes through


@dataclass(frozen=True)
class SlicerToxic(Toxic):
    """Cuts chunks into pieces of about average_size_bytes, delay_us apart."""

    type_name: ClassVar[str] = "slicer"
    average_size_bytes: int = attribute("average_size", "bytes")
    size_variation_bytes: int = attribute("size_variation", "bytes")
    delay_us: int = attribute("delay", "microseconds")

    def validate(self) -> None:
        if self.average_size_bytes < 1:
            raise BadRequest.body(
                "attribute 'average_size' of a slicer toxic must be at least 1 "
                f"byte, got {self.average_size_bytes}"
            )
        if self.size_variation_bytes >= self.average_size_bytes:
            raise BadRequest.body(
                "attribute 'size_variation' of a slicer toxic must be smaller "
                f"than average_size ({self.average_size_bytes}), "
                f"got {self.size_variation_bytes}"
            )

    async def pipe(self, chunk: Chunk, ctx: ToxicContext) -> AsyncIterator[Chunk]:
        variation = self.size_variation_bytes
        start = 0
        while start < len(chunk.data):
            if start:
                await ctx.pause(self.delay_us / 1_000_000)
            size = self.average_size_bytes + ctx.rng.randint(-variation, variation)
            yield Chunk(chunk.data[start : start + size], chunk.arrived)
            start += size


@dataclass
class _ByteCount:
    passed_bytes: int = 0


@dataclass(frozen=True)
class LimitDataToxic(Toxic):
    """Closes the connection once limit_bytes have gone through this side."""

    type_name: ClassVar[str] = "limit_data"
    limit_bytes: int = attribute("bytes", "bytes")

    def new_state(self) -> _ByteCount:
        return _ByteCount()

    async def pipe(self, chunk: Chunk, ctx: ToxicContext) -> AsyncIterator[Chunk]:
        count = ctx.state
        allowed = max(0, self.limit_bytes - count.passed_bytes)
        if allowed:
            piece = chunk.data[:allowed]
            count.passed_bytes += len(piece)
            yield Chunk(piece, chunk.arrived)

        if count.passed_bytes >= self.limit_bytes:
            ctx.close_connection()


TOXIC_TYPES: Mapping[str, type[Toxic]] = MappingProxyType(
    {
        toxic.type_name: toxic
        for toxic in (
            BandwidthToxic,
            LatencyToxic,
            LimitDataToxic,
            ResetPeerToxic,
            SlicerToxic,
            SlowCloseToxic,
            TimeoutToxic,
        )
    }
)


@dataclass(frozen=True)
class ProxyToxic:
    """A toxic as installed on a proxy: name, direction and toxicity."""

    name: str
    stream: Direction
    toxicity: float
    toxic: Toxic

    @classmethod
    def from_json(cls, body: object) -> "ProxyToxic":
        """Read a toxic-create request body, with Toxiproxy's defaults."""
        if not isinstance(body, dict):
            raise BadRequest.body(f"expected a JSON object, got {json.dumps(body)}")

        stream = _stream(body.get("stream", Direction.DOWNSTREAM.value))
        kind = _toxic_type(body.get("type"))
        name = body.get("name") or f"{kind.type_name}_{stream}"
        if not isinstance(name, str):
            raise BadRequest.body(f"name must be a string, got {json.dumps(name)}")
        if "/" in name:
            raise BadRequest.unaddressable("toxic name", name)

        toxicity = _toxicity(body.get("toxicity", 1.0))
        toxic = kind.from_attributes(body.get("attributes"))
        return cls(name, stream, toxicity, toxic)

    def updated(self, body: object) -> "ProxyToxic":
        """Apply a toxic-update body: only attributes and toxicity change."""
        if not isinstance(body, dict):
            raise BadRequest.body(f"expected a JSON object, got {json.dumps(body)}")

        toxicity = _toxicity(body.get("toxicity", self.toxicity))
        toxic = self.toxic
        if "attributes" in body:
            toxic = type(toxic).from_attributes(body["attributes"], base=toxic)
        return dataclasses.replace(self, toxicity=toxicity, toxic=toxic)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.toxic.type_name,
            "stream": self.stream.value,
            "toxicity": self.toxicity,
            "attributes": self.toxic.attributes(),
        }


def _stream(value: object) -> Direction:
    if isinstance(value, str) and value.lower() in set(Direction):
        return Direction(value.lower())
    raise BadRequest(
        "stream was invalid, can be either upstream or downstream: "
        f"got {json.dumps(value)}"
    )


def _toxic_type(value: object) -> type[Toxic]:
    if isinstance(value, str) and value in TOXIC_TYPES:
        return TOXIC_TYPES[value]
    raise BadRequest(
        f"invalid toxic type: {json.dumps(value)} is not one of "
        f"{', '.join(sorted(TOXIC_TYPES))}"
    )


def _toxicity(value: object) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 <= value <= 1:
        raise BadRequest.body(
            f"toxicity must be a number from 0 to 1, got {json.dumps(value)}"
        )
    return float(value)
