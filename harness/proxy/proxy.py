"""One proxy: a listener that joins each client to the upstream, with toxics."""

import asyncio
import enum
import functools
import logging
import random
from collections.abc import MutableMapping
from typing import Any

from harness.proxy.addresses import (
    BACKLOG,
    bind_listener,
    format_address,
    same_address,
    split_host_port,
)
from harness.proxy.errors import Conflict, ListenError, NotFound
from harness.proxy.link import CloseMode, Connection, Side, TrafficStats
from harness.proxy.toxics import Direction, ProxyToxic

log = logging.getLogger(__name__)

UPSTREAM_CONNECT_TIMEOUT_S = 10.0


class ProxyState(enum.Enum):
    """Where a proxy is in its life."""

    DISABLED = "disabled"  # configured and keeping its toxics, but not listening
    ENABLED = "enabled"  # listening; every client is joined to the upstream
    DELETED = "deleted"  # removed from its server; using it again is a bug


class _ProxyLog(logging.LoggerAdapter):
    """Prefixes every message with the proxy's name, bound once."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> Any:
        kwargs.setdefault("extra", {}).update(self.extra)
        name = str(self.extra["proxy"]).replace("%", "%%")
        return f"proxy {name}: {msg}", kwargs


class Proxy:
    """A named TCP proxy from listen to upstream, with its toxics and traffic."""

    def __init__(
        self, name: str, listen: str, upstream: str, rng: random.Random | None = None
    ):
        self.name = name
        self.listen = listen
        self.upstream = upstream
        # An extension of the embedded proxy (Toxiproxy has none): more
        # instances of the upstream service, dialled in turn with upstream.
        self.extra_upstreams: tuple[str, ...] = ()
        self._next_upstream = 0
        self.state = ProxyState.DISABLED
        self.stats = TrafficStats()
        self._rng = rng or random.Random()
        self._toxics: dict[str, ProxyToxic] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        # Clients whose upstream is being dialled, with the task dialling it.
        self._dialing: dict[Side, asyncio.Task[None]] = {}
        # Bumped on every stop, so a dial that outlives its listener is dropped.
        self._generation = 0
        self._log = _ProxyLog(log, {"proxy": name})

    @property
    def enabled(self) -> bool:
        return self.state is ProxyState.ENABLED

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def to_json(self) -> dict[str, object]:
        described = {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.toxics()],
        }
        if self.extra_upstreams:
            described["extra_upstreams"] = list(self.extra_upstreams)
        return described

    def balance(self, extra_upstreams: tuple[str, ...]) -> None:
        """Spread new connections, round robin, over upstream and extra_upstreams."""
        self.extra_upstreams = tuple(extra_upstreams)
        self._next_upstream = 0
        self._log.info("upstreams: %s", ", ".join(self._upstreams()))

    def _upstreams(self) -> tuple[str, ...]:
        return (self.upstream, *self.extra_upstreams)

    def _pick_upstream(self) -> str:
        upstreams = self._upstreams()
        chosen = upstreams[self._next_upstream % len(upstreams)]
        self._next_upstream += 1
        return chosen

    def matches(self, listen: str, upstream: str) -> bool:
        """Tell whether listen and upstream are the ones this proxy uses."""
        return same_address(listen, self.listen) and same_address(
            upstream, self.upstream
        )

    async def enable(self) -> None:
        """Listen on the listen address; port 0 is replaced by the bound port."""
        self._require_alive()
        if self.enabled:
            return

        sock = await bind_listener(self.listen)
        accepted = functools.partial(self._accepted, self._generation)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            functools.partial(Side, accepted), sock=sock, backlog=BACKLOG
        )
        self.listen = format_address(sock.getsockname())
        self.state = ProxyState.ENABLED
        self._log.info("listening on %s, upstream %s", self.listen, self.upstream)

    def disable(self) -> None:
        """Stop listening and drop every open connection; toxics are kept."""
        self._require_alive()
        if not self.enabled:
            return

        self.state = ProxyState.DISABLED
        self._generation += 1
        self._server.close()
        self._server = None
        self._drop_connections()
        self._log.info("disabled")

    def delete(self) -> None:
        """Disable for good; the proxy must not be used afterwards."""
        self.disable()
        self.state = ProxyState.DELETED

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply new fields; a new address restarts the listener, as in Toxiproxy."""
        if not self.matches(listen, upstream):
            await self._move(listen, upstream, enabled)
        elif enabled:
            await self.enable()
        else:
            self.disable()

    def toxics(self) -> list[ProxyToxic]:
        """The toxics in Toxiproxy's order: upstream ones, then downstream ones."""
        return [
            toxic
            for direction in (Direction.UPSTREAM, Direction.DOWNSTREAM)
            for toxic in self._toxics.values()
            if toxic.stream is direction
        ]

    def get_toxic(self, name: str) -> ProxyToxic:
        try:
            return self._toxics[name]
        except KeyError:
            raise NotFound.toxic() from None

    def add_toxic(self, toxic: ProxyToxic) -> ProxyToxic:
        """Install a toxic; it acts on open connections at once."""
        if toxic.name in self._toxics:
            raise Conflict.toxic()

        self._toxics[toxic.name] = toxic
        for connection in list(self._connections):
            connection.attach(toxic)
        self._log.info("added toxic %s (%s)", toxic.name, toxic.to_json())
        return toxic

    def update_toxic(self, name: str, body: object) -> ProxyToxic:
        """Change a toxic's attributes or toxicity, on open connections too."""
        toxic = self.get_toxic(name).updated(body)
        self._toxics[name] = toxic
        for connection in list(self._connections):
            connection.replace(toxic)
        self._log.info("updated toxic %s (%s)", name, toxic.to_json())
        return toxic

    def remove_toxic(self, name: str) -> None:
        """Remove a toxic; what it was holding back is released at once."""
        toxic = self.get_toxic(name)
        del self._toxics[name]
        for connection in list(self._connections):
            connection.detach(toxic)
        self._log.info("removed toxic %s", name)

    def remove_all_toxics(self) -> None:
        for name in list(self._toxics):
            self.remove_toxic(name)

    async def _move(self, listen: str, upstream: str, enabled: bool) -> None:
        old_listen, old_upstream, was_enabled = self.listen, self.upstream, self.enabled
        self.disable()
        self.listen, self.upstream = listen, upstream
        if not enabled:
            return

        try:
            await self.enable()
        except ListenError:
            # Leave the proxy as it was, rather than half-moved and down.
            self.listen, self.upstream = old_listen, old_upstream
            if was_enabled:
                await self.enable()
            raise

    def _accepted(self, generation: int, client: Side) -> None:
        # A client of a listener closed meanwhile can still be handed over.
        if generation != self._generation:
            client.close(CloseMode.DROP)
            return

        self.stats.connections_total += 1
        dialing = asyncio.create_task(self._join(client, generation))
        self._dialing[client] = dialing
        dialing.add_done_callback(lambda _: self._dialing.pop(client, None))

    async def _join(self, client: Side, generation: int) -> None:
        upstream = await self._dial(client)
        if upstream is None:
            return
        if generation != self._generation or client.lost:
            client.close(CloseMode.DROP)
            upstream.close(CloseMode.DROP)
            return

        connection = Connection(
            client, upstream, self.stats, self._rng, self._connections.discard
        )
        self._connections.add(connection)
        for toxic in self.toxics():
            connection.attach(toxic)
        connection.start()

    async def _dial(self, client: Side) -> Side | None:
        address = self._pick_upstream()
        host, port = split_host_port(address, "upstream")
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await asyncio.wait_for(
                loop.create_connection(Side, host, port), UPSTREAM_CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            # Toxiproxy accepts and then closes when the upstream is down.
            self._log.warning("upstream %s unreachable: %s", address, exc)
            client.close(CloseMode.FLUSH)
            return None
        return upstream

    def _drop_connections(self) -> None:
        for connection in list(self._connections):
            connection.close(CloseMode.DROP)
        for client, dialing in list(self._dialing.items()):
            dialing.cancel()
            client.close(CloseMode.DROP)

    def _require_alive(self) -> None:
        if self.state is ProxyState.DELETED:
            raise RuntimeError(
                f"proxy {self.name!r} was deleted; create a new one instead of "
                "reusing it"
            )
