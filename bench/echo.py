"""An echo server in a process of its own: the upstream every proxy bench uses.

    python -m bench.echo    prints its port, echoes until stdin closes

It runs on the same event loop as the proxy, so a direct connection and a
proxied one differ only by the proxy.
"""

import asyncio
import sys

from harness.proxy.server import allow_many_open_files, run_fast


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._transport.write(data)

    def eof_received(self) -> bool:
        return False  # close once the client has closed its side


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Echo, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Serve until whoever started this process closes its stdin.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    allow_many_open_files()
    run_fast(_serve())
