"""Where the fault proxy of a run comes from: embedded, a local Toxiproxy, or a URL."""

import os
import shutil
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.errors import ConfigError


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
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"TOXIPROXY_URL is {url!r}; expected the URL of a Toxiproxy API, "
                "such as http://127.0.0.1:8474"
            )
        return ProxyChoice("external", url=url.rstrip("/"))
    executable = shutil.which("toxiproxy-server", path=environ.get("PATH"))
    if executable:
        return ProxyChoice("toxiproxy-server", executable=executable)
    return ProxyChoice("embedded")
