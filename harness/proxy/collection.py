"""The set of proxies a server runs, changed only through whole, checked requests."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.proxy.addresses import split_host_port
from harness.proxy.errors import ApiError, BadRequest, Conflict, NotFound
from harness.proxy.proxy import Proxy

log = logging.getLogger(__name__)

# Toxiproxy would listen on every interface when no listen address is given;
# this proxy stays on the loopback interface unless told otherwise.
DEFAULT_LISTEN = "127.0.0.1:0"

Undo = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ProxySpec:
    """The fields of a proxy as a create or populate request gives them."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True

    @classmethod
    def from_json(cls, body: object, position: str = "") -> "ProxySpec":
        """Read one proxy object; position (" at proxy 2") locates errors."""
        if not isinstance(body, dict):
            raise BadRequest.body(
                f"expected a JSON object for a proxy{position}, got {json.dumps(body)}"
            )

        name = _text(body, "name", "", position)
        upstream = _text(body, "upstream", "", position)
        listen = _text(body, "listen", "", position) or DEFAULT_LISTEN
        enabled = _flag(body, "enabled", True, position)
        if not name:
            raise BadRequest.missing_field(f"name{position}")
        if "/" in name:
            raise BadRequest.unaddressable(f"proxy name{position}", name)
        if not upstream:
            raise BadRequest.missing_field(f"upstream{position}")

        split_host_port(listen, f"listen{position}")
        split_host_port(upstream, f"upstream{position}")
        return cls(name, listen, upstream, enabled)

    @classmethod
    def list_from_json(cls, body: object) -> list["ProxySpec"]:
        """Read a populate body: every entry is checked before any is used."""
        if not isinstance(body, list):
            raise BadRequest.body(
                f"expected a JSON array of proxies, got {json.dumps(body)}"
            )

        specs = [
            cls.from_json(entry, f" at proxy {number}")
            for number, entry in enumerate(body, start=1)
        ]
        names = [spec.name for spec in specs]
        for number, name in enumerate(names, start=1):
            if name in names[: number - 1]:
                raise BadRequest.body(
                    f"duplicate proxy name {name!r} at proxy {number}"
                )
        return specs


@dataclass(frozen=True)
class ProxyChange:
    """The fields of a proxy-update request, defaulting to the current ones."""

    listen: str
    upstream: str
    enabled: bool
    extra_upstreams: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, body: object, proxy: Proxy) -> "ProxyChange":
        if not isinstance(body, dict):
            raise BadRequest.body(f"expected a JSON object, got {json.dumps(body)}")

        # An empty listen keeps the address, where Toxiproxy would move the
        # proxy to a random port on every interface.
        listen = _text(body, "listen", proxy.listen) or proxy.listen
        upstream = _text(body, "upstream", proxy.upstream) or proxy.upstream
        enabled = _flag(body, "enabled", proxy.enabled)
        split_host_port(listen, "listen")
        split_host_port(upstream, "upstream")
        extra = _addresses(body, "extra_upstreams", proxy.extra_upstreams)
        return cls(listen, upstream, enabled, extra)


class ProxyCollection:
    """The proxies of one server, by name."""

    def __init__(self) -> None:
        self._proxies: dict[str, Proxy] = {}
        # Changes that bind or close listeners run one at a time, so two
        # requests never race on the same name or port.
        self._changing = asyncio.Lock()

    def all(self) -> list[Proxy]:
        return [self._proxies[name] for name in sorted(self._proxies)]

    def get(self, name: str) -> Proxy:
        try:
            return self._proxies[name]
        except KeyError:
            raise NotFound.proxy() from None

    async def create(self, spec: ProxySpec) -> Proxy:
        async with self._changing:
            if spec.name in self._proxies:
                raise Conflict.proxy()
            return await self._start(spec)

    async def update(self, name: str, body: object) -> Proxy:
        async with self._changing:
            proxy = self.get(name)
            change = ProxyChange.from_json(body, proxy)
            await proxy.update(change.listen, change.upstream, change.enabled)
            if change.extra_upstreams != proxy.extra_upstreams:
                proxy.balance(change.extra_upstreams)
            return proxy

    async def delete(self, name: str) -> None:
        async with self._changing:
            proxy = self.get(name)
            proxy.delete()
            del self._proxies[name]

    async def populate(self, specs: list[ProxySpec]) -> list[Proxy]:
        """Create or replace each proxy; on failure undo all, as if never asked."""
        async with self._changing:
            undo: list[Undo] = []
            try:
                return [await self._create_or_replace(spec, undo) for spec in specs]
            except ApiError:
                for step in reversed(undo):
                    await step()
                raise

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic, as Toxiproxy's /reset."""
        async with self._changing:
            for proxy in self.all():
                await proxy.enable()
                proxy.remove_all_toxics()

    def close_all(self) -> None:
        """Stop every listener and connection; the server is shutting down."""
        for proxy in self._proxies.values():
            proxy.disable()

    async def _start(self, spec: ProxySpec) -> Proxy:
        proxy = Proxy(spec.name, spec.listen, spec.upstream)
        if spec.enabled:
            await proxy.enable()
        self._proxies[spec.name] = proxy
        log.info("created proxy %s: %s -> %s", proxy.name, proxy.listen, proxy.upstream)
        return proxy

    async def _create_or_replace(self, spec: ProxySpec, undo: list[Undo]) -> Proxy:
        existing = self._proxies.get(spec.name)
        if existing is not None and existing.matches(spec.listen, spec.upstream):
            return existing

        if existing is not None:
            undo.append(self._restorer(existing))
            existing.disable()
            del self._proxies[spec.name]

        proxy = await self._start(spec)
        undo.append(self._remover(proxy))
        return proxy

    def _restorer(self, proxy: Proxy) -> Undo:
        was_enabled = proxy.enabled

        async def restore() -> None:
            self._proxies[proxy.name] = proxy
            if was_enabled:
                try:
                    await proxy.enable()
                except ApiError as exc:
                    log.error("proxy %s could not be restored: %s", proxy.name, exc)

        return restore

    def _remover(self, proxy: Proxy) -> Undo:
        async def remove() -> None:
            proxy.delete()
            del self._proxies[proxy.name]

        return remove


def _text(body: dict, key: str, default: str, position: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest.body(
            f"field {key!r}{position} must be a string, got {json.dumps(value)}"
        )
    return value


def _addresses(body: dict, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A list of host:port strings (an extension of the embedded proxy)."""
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise BadRequest.body(
            f"field {key!r} must be a list of host:port strings, "
            f"got {json.dumps(value)}"
        )
    for address in value:
        split_host_port(address, key)
    return tuple(value)


def _flag(body: dict, key: str, default: bool, position: str = "") -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest.body(
            f"field {key!r}{position} must be true or false, got {json.dumps(value)}"
        )
    return value
