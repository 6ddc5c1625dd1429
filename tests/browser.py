"""Render a page in headless Chromium and report what its scripts did.

The page is copied with a recorder script put first in its head, which
writes every uncaught error, rejected promise, console.error call and
Content-Security-Policy violation into an attribute of the root element;
Chromium's --dump-dom then hands back the DOM after the scripts ran.
"""

import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ERRORS_ATTRIBUTE = "data-page-errors"

RECORDER = """<script>
(function () {
  var errors = [];
  function keep(text) {
    errors.push(String(text));
    document.documentElement.setAttribute("@ATTRIBUTE@", JSON.stringify(errors));
  }
  window.addEventListener("error", function (e) {
    keep("error: " + e.message + " at " + e.filename + ":" + e.lineno);
  });
  window.addEventListener("unhandledrejection", function (e) {
    keep("unhandled rejection: " + e.reason);
  });
  document.addEventListener("securitypolicyviolation", function (e) {
    keep("blocked by CSP: " + e.violatedDirective + " " + e.blockedURI);
  });
  var original = console.error;
  console.error = function () {
    keep("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
  document.documentElement.setAttribute("@ATTRIBUTE@", "[]");
})();
</script>""".replace("@ATTRIBUTE@", ERRORS_ATTRIBUTE)


@dataclass
class RenderedPage:
    dom: str
    errors: list[str]
    body: dict[str, str] = field(default_factory=dict)  # the body's attributes


class BrowserError(RuntimeError):
    """Chromium did not render the page."""


# Headless, and nothing that reaches out to the network on its own.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def chromium_available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


def require_chromium() -> Path:
    """Chromium, or a skip; in CI (CI set) its absence fails: make installs it."""
    if chromium_available():
        return CHROMIUM
    message = f"{CHROMIUM} is missing; `make browser` installs Debian's chromium"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def chromium_argv(profile: Path, *extra: str) -> list[str]:
    """The command line of a headless Chromium with its own profile folder."""
    return [
        str(require_chromium()),
        *HEADLESS_FLAGS,
        f"--user-data-dir={profile}",
        *extra,
    ]


def render(page: Path, timeout_s: float = 90.0) -> RenderedPage:
    """The DOM of page after its scripts ran, with the errors they raised."""
    html = Path(page).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="page-render-") as work:
        copy = Path(work) / Path(page).name
        copy.write_text(_with_recorder(html), encoding="utf-8")
        dom = _dump_dom(copy, Path(work) / "profile", timeout_s)
    attributes = _Attributes()
    attributes.feed(dom)
    recorded = attributes.html.get(ERRORS_ATTRIBUTE)
    if recorded is None:
        raise BrowserError(f"the error recorder never ran in {page}; DOM: {dom[:300]}")
    return RenderedPage(dom, json.loads(recorded), attributes.body)


def _with_recorder(html: str) -> str:
    at = html.find("<head>")
    if at < 0:
        raise BrowserError("the page has no <head> to put the error recorder in")
    at += len("<head>")
    return html[:at] + RECORDER + html[at:]


def _dump_dom(page: Path, profile: Path, timeout_s: float) -> str:
    command = chromium_argv(profile, "--dump-dom", page.as_uri())
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        # Chromium starts helpers of its own; they share its session.
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise BrowserError(f"Chromium did not render {page} in {timeout_s} s") from exc
    if process.returncode != 0:
        raise BrowserError(
            f"Chromium exited {process.returncode} on {page}: {err[-500:]}"
        )
    return out


class _Attributes(HTMLParser):
    """The attributes of the html and body elements of a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.html: dict[str, str] = {}
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        if tag in ("html", "body"):
            getattr(self, tag).update((k, v or "") for k, v in attrs)
