"""The fault proxy server: its proxies, their metrics and the HTTP control API.

It runs as a process of its own (``python -m harness.proxy``) and imports
nothing of the harness outside this package, so the harness can always swap
it for the real ``toxiproxy-server``.

    serve()             blocking front door; stops on SIGTERM or SIGINT
    ProxyServer         async start()/stop() on the caller's event loop
    ProxyServerThread   a ProxyServer on a loop in a thread, for tests
"""

import asyncio
import contextlib
import enum
import logging
import signal
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, Self, TypeVar

import uvicorn
from prometheus_client import CollectorRegistry

from harness.proxy.addresses import bind_socket, format_address
from harness.proxy.api import ControlApi
from harness.proxy.collection import ProxyCollection
from harness.proxy.metrics import ProxyMetrics

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0

T = TypeVar("T")


class ServerState(enum.Enum):
    """Where a ProxyServer is in its life."""

    NEW = "new"  # built; nothing bound yet
    RUNNING = "running"  # the API answers; proxies accept clients
    STOPPED = "stopped"  # every listener closed; build a new server to run again


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn that leaves signals to whoever runs the event loop.

    uvicorn would install its own SIGINT/SIGTERM handlers and raise the signal
    again once stopped, which kills the process before the proxies are closed.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ProxyServer:
    """Runs the proxies and the control API on the current event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474):
        self.proxies = ProxyCollection()
        self.registry = CollectorRegistry()
        self.registry.register(ProxyMetrics(self.proxies))
        self.state = ServerState.NEW
        self._host = host
        self._port = port
        self._api_address = ""
        self._http: _EmbeddedUvicorn | None = None
        self._serving: asyncio.Task[None] | None = None

    @property
    def api_url(self) -> str:
        """Base URL of the control API; known once start() returned."""
        if self.state is ServerState.NEW:
            raise RuntimeError("the proxy server has no address before start()")
        return f"http://{self._api_address}"

    async def start(self) -> None:
        """Bind the API (port 0 picks a free one) and answer requests."""
        if self.state is not ServerState.NEW:
            raise RuntimeError(
                f"the proxy server is {self.state.value}; build a new one to start"
            )

        sock = bind_socket(self._host, self._port)
        self._api_address = format_address(sock.getsockname())
        config = uvicorn.Config(
            ControlApi(self.proxies, self.registry).app(),
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._http = _EmbeddedUvicorn(config)
        self._serving = asyncio.create_task(self._http.serve(sockets=[sock]))
        await self._until_serving()

        self.state = ServerState.RUNNING
        log.info("fault proxy API listening on %s", self.api_url)

    async def stop(self) -> None:
        """Close every proxy listener and connection, then the API."""
        if self.state is not ServerState.RUNNING:
            return

        self.state = ServerState.STOPPED
        self.proxies.close_all()
        self._http.should_exit = True
        await self._serving
        log.info("fault proxy stopped")

    async def _until_serving(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not self._http.started:
            if self._serving.done():
                self._serving.result()
                raise RuntimeError("the proxy API stopped while starting")
            if loop.time() > deadline:
                raise RuntimeError(
                    f"the proxy API did not start within {START_TIMEOUT_S} s"
                )
            await asyncio.sleep(0.01)


def serve(host: str = "127.0.0.1", port: int = 8474) -> None:
    """Run the fault proxy until SIGTERM or SIGINT; raise OSError if unbindable."""
    allow_many_open_files()
    run_fast(_serve_until_signalled(host, port))


def allow_many_open_files() -> None:
    """Raise this process's open-file limit to the most it may have.

    Each proxied connection takes two sockets, and a default limit of 1024
    would refuse clients long before the proxy is busy; Go raises the same
    limit for the real Toxiproxy.
    """
    try:
        import resource
    except ImportError:
        return

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on uvloop when it is installed, else on asyncio's loop."""
    run_fast_value(main)


def run_fast_value(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its result on uvloop when installed, else on asyncio's.

    On uvloop the proxy adds about 40% less to a round trip and its latency
    toxic is closer to exact (see docs/limitations.md); it behaves the same on
    either loop.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def _serve_until_signalled(host: str, port: int) -> None:
    server = ProxyServer(host, port)
    await server.start()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
        log.info("stopping on signal")
    finally:
        await server.stop()


class ProxyServerThread:
    """A ProxyServer on its own event loop in a daemon thread.

    For tests and for embedding in synchronous code:

        with ProxyServerThread() as proxy_server:
            ToxiproxyClient(proxy_server.api_url).version()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._host = host
        self._port = port
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._server: ProxyServer | None = None
        self._failure: BaseException | None = None

    @property
    def api_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy server thread has not started")
        return self._server.api_url

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Self:
        self._thread = threading.Thread(
            target=run_fast, args=(self._run(),), name="fault-proxy", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"the proxy server did not start within {timeout_s} s")
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self, timeout_s: float = START_TIMEOUT_S) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"the proxy server did not stop within {timeout_s} s")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = ProxyServer(self._host, self._port)
        try:
            await server.start()
        except Exception as exc:
            self._failure = exc
            self._ready.set()
            return

        self._server = server
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await server.stop()
