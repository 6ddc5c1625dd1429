"""Where the fault proxy of a run comes from: embedded, a local Toxiproxy, or a URL."""

import os
import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyChoice:
    """Which Toxiproxy-compatible server a run uses, and why."""

    kind: str  # "embedded", "toxiproxy-server" or "external"
    url: str | None = None
    executable: str | None = None


def choose_proxy(environ: dict[str, str] | None = None) -> ProxyChoice:
    """TOXIPROXY_URL wins, then a toxiproxy-server on PATH, then the embedded one."""
    environ = os.environ if environ is None else environ
    url = environ.get("TOXIPROXY_URL", "").strip()
    if url:
        return ProxyChoice("external", url=url.rstrip("/"))
    executable = shutil.which("toxiproxy-server", path=environ.get("PATH"))
    if executable:
        return ProxyChoice("toxiproxy-server", executable=executable)
    return ProxyChoice("embedded")
