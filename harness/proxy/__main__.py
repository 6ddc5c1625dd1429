"""Run the fault proxy: python -m harness.proxy --host 127.0.0.1 --port 8474."""

import argparse
import logging
import sys

from harness.proxy.server import serve

log = logging.getLogger("harness.proxy")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        serve(args.host, args.port)
    except OSError as exc:
        log.error("cannot serve the proxy API on %s:%s: %s", args.host, args.port, exc)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.proxy",
        description="Toxiproxy-compatible fault proxy with an HTTP control API.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="API address (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, default=8474, help="API port, 0 for any (default: 8474)"
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="INFO", help="default: INFO"
    )
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(
            f"port must be a whole number from 0 to 65535, got {text!r}"
        )
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
