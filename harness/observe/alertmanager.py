"""A real Alertmanager for an experiment: its config and its process."""

import logging
from pathlib import Path

import yaml

from harness.config import Observability
from harness.observe._process import start_until_ready
from harness.observe.binaries import Binaries, find_binaries
from harness.observe.checks import check_alertmanager_config
from harness.observe.durations import render_duration
from harness.stack.ports import LOOPBACK
from harness.stack.process import ManagedProcess

log = logging.getLogger(__name__)

RECEIVER = "harness-webhook"
GROUP_BY = ["alertname", "service"]


def render_alertmanager_config(obs: Observability, webhook_url: str) -> str:
    """alertmanager.yml as YAML: every alert goes to one webhook."""
    document = {
        "route": {
            "receiver": RECEIVER,
            "group_by": list(GROUP_BY),
            "group_wait": render_duration(obs.group_wait_s, "group_wait_s"),
            "group_interval": render_duration(obs.group_interval_s, "group_interval_s"),
            "repeat_interval": render_duration(
                obs.repeat_interval_s, "repeat_interval_s"
            ),
        },
        "receivers": [
            {
                "name": RECEIVER,
                "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_alertmanager_config(path: Path, obs: Observability, webhook_url: str) -> Path:
    """Write render_alertmanager_config() to path and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_alertmanager_config(obs, webhook_url))
    return path


class AlertmanagerProcess:
    """One Alertmanager on 127.0.0.1, alone (no gossip); its files live in workdir.

    `process` exists from construction on, so a caller can register it for
    clean-up before calling start().
    """

    def __init__(
        self,
        workdir: Path,
        port: int,
        webhook_url: str,
        observability: Observability,
        log_path: Path | None = None,
        binaries: Binaries | None = None,
    ):
        self.binaries = binaries or find_binaries()
        self.workdir = Path(workdir)
        self.port = port
        self.config_file = self.workdir / "alertmanager.yml"
        self.data_dir = self.workdir / "data"
        self._config_text = render_alertmanager_config(observability, webhook_url)
        self.process = ManagedProcess(
            "alertmanager",
            self.argv(),
            Path(log_path or self.workdir / "alertmanager.log"),
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def argv(self) -> list[str]:
        return [
            str(self.binaries.alertmanager),
            f"--config.file={self.config_file}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            # An empty address turns gossip off; otherwise it would listen on
            # every interface at 9094 and two runs would collide.
            "--cluster.listen-address=",
        ]

    def start(self, timeout_s: float = 30.0) -> "AlertmanagerProcess":
        """Write and check the config, start Alertmanager, wait for /-/ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._config_text)
        check_alertmanager_config(self.binaries, self.config_file)
        start_until_ready(self.process, f"{self.url}/-/ready", timeout_s)
        return self

    def stop(self) -> int | None:
        """Stop the process by its PID; return its exit code."""
        return self.process.stop()

    def __enter__(self) -> "AlertmanagerProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
