"""Which fault proxy a run uses."""

from harness.stack.proxy_choice import choose_proxy


def test_toxiproxy_url_wins(tmp_path):
    choice = choose_proxy({"TOXIPROXY_URL": "http://127.0.0.1:8474/", "PATH": ""})

    assert (choice.kind, choice.url) == ("external", "http://127.0.0.1:8474")


def test_a_toxiproxy_server_on_path_is_used(tmp_path):
    server = tmp_path / "toxiproxy-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(0o755)

    choice = choose_proxy({"PATH": str(tmp_path)})

    assert (choice.kind, choice.executable) == ("toxiproxy-server", str(server))


def test_otherwise_the_embedded_proxy(tmp_path):
    assert choose_proxy({"PATH": str(tmp_path)}).kind == "embedded"


def test_a_toxiproxy_url_that_is_not_a_url_is_named():
    import pytest

    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="TOXIPROXY_URL is 'not-a-url'; expected"):
        choose_proxy({"TOXIPROXY_URL": "not-a-url"})
