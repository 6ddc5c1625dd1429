import os
import stat

import pytest

from harness.private_state import (
    PrivateStateError,
    private_dir,
    private_root,
    read_secrets,
    remove_private_dir,
    write_secrets,
)


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_private_folders_live_under_the_runtime_dir_readable_by_the_owner_only(
    tmp_path, runtime_dir
):
    folder = private_dir(tmp_path / "reports" / "run-1", "estate")

    assert folder.is_relative_to(runtime_dir / "resilience-harness" / "private")
    assert not folder.is_relative_to(tmp_path / "reports")
    assert folder.parent.name.startswith("run-1-")
    assert mode(folder) == mode(folder.parent) == mode(private_root()) == 0o700


def test_the_same_folder_finds_the_same_private_folder_and_another_does_not(tmp_path):
    first = private_dir(tmp_path / "a" / "run-1")

    assert private_dir(tmp_path / "a" / "run-1") == first
    assert private_dir(tmp_path / "b" / "run-1") != first


def test_secrets_are_written_0600_and_read_back(tmp_path):
    path = write_secrets(private_dir(tmp_path / "run") / "secrets.json", {"k": "v"})

    assert mode(path) == 0o600
    assert read_secrets(path) == {"k": "v"}


def test_a_secrets_file_others_can_read_is_refused_naming_its_mode(tmp_path):
    path = write_secrets(tmp_path / "secrets.json", {"k": "v"})
    path.chmod(0o640)

    with pytest.raises(PrivateStateError, match="0o640"):
        read_secrets(path)


def test_without_a_runtime_dir_the_root_is_a_per_user_temp_folder(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))

    assert private_root() == tmp_path / f"resilience-harness-{os.getuid()}" / "private"
    assert mode(private_root()) == 0o700


def test_a_removed_private_folder_is_gone(tmp_path):
    folder = private_dir(tmp_path / "run")
    (folder / "x").write_text("y")

    remove_private_dir(tmp_path / "run")

    assert not folder.exists()


def test_removing_the_last_part_removes_the_folder_and_not_before(tmp_path):
    estate = private_dir(tmp_path / "run", "estate")
    secrets = write_secrets(private_dir(tmp_path / "run") / "secrets.json", {})

    remove_private_dir(tmp_path / "run", "estate")

    assert not estate.exists() and secrets.exists()
    secrets.unlink()
    private_dir(tmp_path / "run", "estate")

    remove_private_dir(tmp_path / "run", "estate")

    assert not estate.parent.exists()
