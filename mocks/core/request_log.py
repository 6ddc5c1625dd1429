"""One JSON line per request, appended to <log_dir>/<service>.log."""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)


class RequestLog:
    """An append-only file of request records, one JSON object per line."""

    def __init__(self, path: Path):
        self.path = path
        self._file: TextIO | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Line buffering: a killed process loses no line it finished writing.
        self._file = open(self.path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        log.info("request log open: %s", self.path)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, record: dict) -> None:
        if self._file is None:
            raise RuntimeError(f"request log {self.path} is not open")
        line = {"time": _now_iso(), **record}
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
