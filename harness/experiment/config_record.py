"""The exact configuration a run used, as the journal's "config" key."""

import logging
from importlib import metadata
from pathlib import Path

from harness.report.history import git_commit

log = logging.getLogger(__name__)

PACKAGE = "insurer-resilience-harness"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def run_config(
    experiment_path: Path, config_dir: Path, options: dict, repo: Path = REPO_ROOT
) -> dict:
    """The experiment file's text, every file of the config folder, the options."""
    config_dir = Path(config_dir)
    return {
        "experiment_yaml": _text(Path(experiment_path)),
        "files": {
            f"{config_dir.name}/{path.relative_to(config_dir).as_posix()}": _text(path)
            for path in sorted(config_dir.rglob("*"))
            if path.is_file()
        },
        "options": options,
        "harness_version": harness_version(),
        "git_commit": git_commit(repo),
    }


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return f"(not readable: {exc})"


def harness_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"
