"""Sockets on 127.0.0.1 that refuse, hold or reset every connection made to them."""

import socket
import struct
import threading

from harness.stack.ports import LOOPBACK

REFUSE = "refuse"  # bound but not listening: the kernel refuses each connect
HOLD = "hold"  # accepts, reads nothing, never answers
RESET = "reset"  # accepts, reads the request, then resets the connection
BEHAVIOURS = (REFUSE, HOLD, RESET)


class HostileServer:
    """One misbehaving server; its port stays bound until stop()."""

    def __init__(self, behaviour: str):
        if behaviour not in BEHAVIOURS:
            raise ValueError(
                f"behaviour is {behaviour!r}; expected one of {BEHAVIOURS}"
            )
        self.behaviour = behaviour
        self.accepted = 0
        self.held: list[socket.socket] = []
        self.stopping = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((LOOPBACK, 0))
        self.thread = threading.Thread(
            target=self._serve, name=f"hostile-{behaviour}", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.listener.getsockname()
        return f"http://{host}:{port}"

    def start(self) -> "HostileServer":
        if self.behaviour != REFUSE:
            self.listener.listen(256)
            # A short timeout lets the accept loop see stop() promptly.
            self.listener.settimeout(0.05)
            self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        for connection in self.held:
            connection.close()
        self.listener.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            if self.behaviour == HOLD:
                self.held.append(connection)
            else:
                _reset(connection)


def _reset(connection: socket.socket) -> None:
    connection.settimeout(1.0)
    try:
        connection.recv(65536)
    except OSError:
        pass
    # Linger on with a zero timeout: close() sends RST instead of FIN.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
