"""Start a server program and wait until it says it is ready."""

import logging

from harness.errors import StackError
from harness.stack.process import ManagedProcess

log = logging.getLogger(__name__)


def start_until_ready(
    process: ManagedProcess, ready_url: str, timeout_s: float
) -> None:
    """Start process and wait for ready_url to answer 2xx; stop it again if not."""
    if process.popen is not None:
        # One object runs one process; a second start would orphan the first.
        raise StackError(
            f"{process.name} was already started (pid {process.pid}); build a "
            "new one to run another"
        )
    process.start()
    try:
        process.wait_http_ok(ready_url, timeout_s)
    except StackError:
        process.stop()
        raise
    log.info(
        "server ready: name=%s pid=%s url=%s", process.name, process.pid, ready_url
    )
