"""`make bench`: run every benchmark and write docs/performance.md."""

import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.detection import run as detection
from bench.experiment_overhead import run as experiment_overhead
from bench.mock_capacity import run as mock_capacity
from bench.proxy_overhead import run as proxy_overhead

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    sections = [
        proxy_overhead(),
        "",
        mock_capacity(),
        "",
        detection(),
        "",
        experiment_overhead(),
    ]
    header = [
        "# Performance",
        "",
        "Written by `make bench`; every number is a ratio against a reference",
        "measured in the same run, so machines of different speed compare.",
        "",
        f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench`, "
        f"Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}, {platform.machine()}, {_cpu_model()}, "
        f"{_cpus()} CPUs.",
        "",
    ]
    text = "\n".join(header + sections) + "\n"
    (REPO / "docs" / "performance.md").write_text(text)
    print(text)
    return 0


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0


if __name__ == "__main__":
    sys.exit(main())
