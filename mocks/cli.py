"""The front door: `python -m mocks serve --config PATH` runs one mock service."""

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from mocks.config import ServiceConfig, load_config
from mocks.core.app import create_app
from mocks.core.context import ServiceSpec
from mocks.errors import ConfigError
from mocks.services import spec_for

log = logging.getLogger(__name__)

EXIT_CONFIG_ERROR = 2
EXIT_STARTUP_FAILED = 3
_GRACEFUL_SHUTDOWN_S = 5


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO; per-request lines belong in the
    # request log, not in the process's diagnostics.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        spec = spec_for(config, str(args.config))
    except ConfigError as exc:
        log.error("config refused: %s", exc)
        return EXIT_CONFIG_ERROR
    return serve(config, spec)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mocks", description="Run one mock service."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="serve one mock service")
    serve_command.add_argument(
        "--config", required=True, type=Path, help="path of the service's JSON config"
    )
    return parser


def serve(config: ServiceConfig, spec: ServiceSpec) -> int:
    """Serve until SIGINT or SIGTERM; 0 after a clean stop."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, spec),
            host=config.host,
            port=config.port,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        )
    )
    log.info("serving %s on %s:%s", spec.name, config.host, config.port)
    server.run()
    if not server.started:
        log.error("%s did not start on %s:%s", spec.name, config.host, config.port)
        return EXIT_STARTUP_FAILED
    return 0
