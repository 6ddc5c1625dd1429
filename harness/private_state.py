"""Private files of a run or an estate, kept outside reports/ and readable by
their owner only.

The reports tree is meant to be read, copied and attached to tickets, so what
must not leave the machine lives here instead: the mocks' admin token (which a
later sweep needs to undo a dead run's mock faults), the mocks' configuration
files that carry it, and their SQLite stores of customer records. The root is
``$XDG_RUNTIME_DIR/resilience-harness/private`` (a per-user tmpfs, gone at
log-out), or ``<temp>/resilience-harness-<uid>/private`` without one, beside
the folder of runs in progress; every folder is mode 0700 and
every secret file 0600. A folder is keyed by the name and full path of the
run or estate folder it belongs to, so the same folder always finds it.
"""

import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

from harness.errors import HarnessError

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"
# The same product folder as the registry of runs in progress.
PRODUCT = "resilience-harness"


class PrivateStateError(HarnessError):
    """The private folder is not safe to keep secrets in."""


def private_root() -> Path:
    """The per-user root of private folders, created mode 0700 when missing."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        product = Path(runtime) / PRODUCT
    else:
        product = Path(tempfile.gettempdir()) / f"{PRODUCT}-{os.getuid()}"
    return _owned_folder(_owned_folder(product) / "private")


def private_dir(folder: Path, part: str = "") -> Path:
    """The private folder of a run or estate folder (and a part of it)."""
    folder = Path(folder).resolve()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    path = _owned_folder(private_root() / f"{folder.name}-{digest}")
    return _owned_folder(path / part) if part else path


def write_secrets(path: Path, secrets: dict[str, str]) -> Path:
    """Write secrets as JSON to a file only its owner can read or write."""
    path = Path(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(secrets, handle)
    return path


def read_secrets(path: Path) -> dict[str, str]:
    """The secrets written by write_secrets; refuses a file others can read."""
    path = Path(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PrivateStateError(
            f"secrets file {str(path)!r} has mode {oct(mode & 0o777)}; "
            "expected 0o600 (readable by its owner only)"
        )
    return json.loads(path.read_text())


def remove_private_dir(folder: Path, part: str = "") -> None:
    """Delete the private folder of a run or estate folder (or a part of it)."""
    path = private_dir(folder, part)
    shutil.rmtree(path, ignore_errors=True)
    if part:
        try:
            path.parent.rmdir()  # only when no other part is left in it
        except OSError:
            pass
    log.debug("private folder removed: %s", path)


def _owned_folder(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        raise PrivateStateError(
            f"private folder {str(path)!r} is a link or belongs to uid "
            f"{info.st_uid}; expected a folder owned by uid {os.getuid()}"
        )
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path
