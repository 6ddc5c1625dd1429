"""TCP addresses written as "host:port": parsing, comparing, binding, naming."""

import asyncio
import ipaddress
import socket

from harness.proxy.errors import BadRequest, ListenError

BACKLOG = 512


def split_host_port(address: object, field: str) -> tuple[str, int]:
    """Split "host:port" ("[v6]:port" for IPv6), naming field when it is not."""
    if not isinstance(address, str):
        raise BadRequest.body(f"{field} must be a string host:port, got {address!r}")

    host, colon, port_text = address.rpartition(":")
    if not colon or not port_text.isdigit() or int(port_text) > 65535:
        raise BadRequest.body(
            f"{field} must be host:port with a port from 0 to 65535, got {address!r}"
        )

    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def format_address(sockname: tuple) -> str:
    """Write a socket name as Toxiproxy reports it: "host:port" or "[v6]:port"."""
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def same_address(left: str, right: str) -> bool:
    """Tell whether two "host:port" strings name the same endpoint, without DNS."""
    return _canonical(left) == _canonical(right)


async def bind_listener(listen: str) -> socket.socket:
    """Bind and listen on the address; refuse with ListenError as Toxiproxy does."""
    host, port = split_host_port(listen, "listen")
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(f"listen tcp {listen}: {_reason(exc)}") from exc

    try:
        return bind_first(infos)
    except OSError as exc:
        raise ListenError(f"listen tcp {listen}: bind: {_reason(exc)}") from exc


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on host and port; raise OSError when that fails."""
    infos = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    return bind_first(infos)


def bind_first(infos: list) -> socket.socket:
    """Bind a non-blocking listening socket to the first resolved address."""
    # IPv4 first, as Go's resolver does for "localhost": a proxy configured
    # for localhost must answer clients that dial 127.0.0.1.
    infos = sorted(infos, key=lambda info: info[0] != socket.AF_INET)
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Re-enabling a proxy binds its old port again at once, while the
        # connections it just closed still sit in TIME_WAIT on that port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _canonical(address: str) -> tuple[str, int]:
    host, port = split_host_port(address, "address")
    if host.lower() == "localhost":
        host = "127.0.0.1"
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = host.lower()
    return host, port
