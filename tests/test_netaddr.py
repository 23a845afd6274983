"""One loopback rule and one host:port parser (agentdeck.netaddr), and the config, the
status server's Host check and the CLI's status URL check all answer by them."""
import pytest

from agentdeck import config, netaddr
from agentdeck.daemon import remote
from agentdeck.web.status import StatusServer

# (host, loopback?) side by side.
HOSTS = [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("LocalHost", True), ("::1", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.2", False), ("example.com", False), ("localhost.evil", False),
    ("127.0.0.1.nip.io", False), ("", False),
]


@pytest.mark.parametrize("host, loopback", HOSTS)
def test_every_place_that_asks_gets_the_same_answer(host, loopback):
    bracketed = f"[{host}]" if ":" in host else host
    assert netaddr.is_loopback_host(host) is loopback
    assert netaddr.is_loopback_host(bracketed) is loopback
    assert config.is_loopback_listen(f"{bracketed}:8420") is loopback
    assert remote._loopback_http(f"http://{bracketed}:8420/") is loopback
    server = StatusServer("127.0.0.1:0", dict, list)  # not started: only its Host check is used
    for header in (bracketed, f"{bracketed}:8420"):
        assert (server._allowed({"HTTP_HOST": header}) is None) is loopback, header


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:8420", ("127.0.0.1", 8420)), ("[::1]:0", ("::1", 0)), ("::1:80", ("::1", 80)),
    (":8420", ("", 8420)), ("localhost:65535", ("localhost", 65535)),
    ("127.0.0.1", ValueError), ("127.0.0.1:", ValueError), ("127.0.0.1:65536", ValueError),
    ("127.0.0.1:-1", ValueError), ("127.0.0.1:８４", ValueError),
])
def test_host_port(value, expected):
    if expected is ValueError:
        with pytest.raises(ValueError):
            netaddr.split_host_port(value)
        with pytest.raises(config.ConfigError, match="status_listen"):
            config.build({"daemon": {"status_listen": value}})
    else:
        assert netaddr.split_host_port(value) == expected


@pytest.mark.parametrize("header, host", [
    ("h", "h"), ("h:1", "h"), ("[::1]", "::1"), ("[::1]:1", "::1"), ("[::1]x", ""), ("[::1", ""),
])
def test_host_of_a_host_header(header, host):
    assert netaddr.host_of_authority(header) == host
