import pytest

from harness.errors import StackError
from harness.observe import find_binaries


def test_every_program_is_found_on_this_machine(binaries):
    for path in (
        binaries.prometheus,
        binaries.promtool,
        binaries.alertmanager,
        binaries.amtool,
    ):
        assert path.is_absolute() and path.exists()


def test_alertmanager_is_found_under_its_upstream_name_too(tmp_path):
    for name in ("prometheus", "promtool", "alertmanager", "amtool"):
        program = tmp_path / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)

    found = find_binaries(search_path=str(tmp_path))

    assert found.alertmanager == tmp_path / "alertmanager"


def test_missing_programs_say_how_to_install_them(tmp_path):
    with pytest.raises(StackError) as caught:
        find_binaries(search_path=str(tmp_path))

    message = str(caught.value)
    assert "prometheus-alertmanager or alertmanager" in message
    assert (
        "sudo apt-get install --no-install-recommends prometheus "
        "prometheus-alertmanager" in message
    )
    assert "brew install prometheus alertmanager" in message
