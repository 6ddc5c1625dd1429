"""An HTTP endpoint of the harness itself, served from a background thread."""

import logging
import threading
from http.server import ThreadingHTTPServer

from harness.errors import StackError

log = logging.getLogger(__name__)


class BackgroundServer:
    """Binds on start(), serves in a daemon thread, stops by stop() or `with`.

    Subclasses name themselves (`what`), say how their server is built
    (`_make_server`) and keep what they receive under `_changed`, which
    stop() notifies so that anyone waiting wakes up.
    """

    what = "server"
    url_suffix = ""

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()

    def _make_server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    @property
    def url(self) -> str:
        if self._server is None:
            raise StackError(f"{self.what} has no URL until start() is called")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.url_suffix}"

    def start(self):
        """Bind and serve in a background thread."""
        if self._server is not None:
            raise StackError(f"{self.what} already serves at {self.url}")
        self._server = self._make_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=self.what.replace(" ", "-"),
            daemon=True,
        )
        self._thread.start()
        log.info("%s listening: url=%s", self.what, self.url)
        return self

    def stop(self) -> None:
        """Stop serving, and wake anyone waiting for something to arrive."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
        with self._changed:
            self._server = None
            self._changed.notify_all()
        log.info("%s stopped", self.what)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
