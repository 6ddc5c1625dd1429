"""Where the Prometheus and Alertmanager programs are on this machine."""

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import StackError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "Install them with your package manager: on Debian or Ubuntu run "
    "'sudo apt-get install --no-install-recommends prometheus "
    "prometheus-alertmanager'; on macOS run 'brew install prometheus alertmanager'."
)

# Debian renames the upstream "alertmanager" binary; accept either name.
_CANDIDATES = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "amtool": ("amtool",),
}


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the four programs the observe stack runs."""

    prometheus: Path
    promtool: Path
    alertmanager: Path
    amtool: Path


def find_binaries(search_path: str | None = None) -> Binaries:
    """Locate every program on search_path (default $PATH), or say how to install."""
    search_path = os.environ.get("PATH", "") if search_path is None else search_path
    found = {}
    missing = []
    for role, names in _CANDIDATES.items():
        path = _first_on_path(names, search_path)
        if path is None:
            missing.append(" or ".join(names))
        else:
            found[role] = path
    if missing:
        raise StackError(
            f"cannot find {', '.join(missing)} on PATH ({search_path!r}). "
            f"{INSTALL_HINT}"
        )
    log.debug("observe binaries found: %s", found)
    return Binaries(**found)


def _first_on_path(names: tuple[str, ...], search_path: str) -> Path | None:
    for name in names:
        location = shutil.which(name, path=search_path)
        if location is not None:
            return Path(location)
    return None
