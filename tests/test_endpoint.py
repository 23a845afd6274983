"""The URL of a pooled server's Streamable HTTP front door, from `[daemon] status_listen`."""
import pytest

from agentdeck import config
from agentdeck.clientfiles import endpoint
from agentdeck.errors import UserError

# status_listen -> the base URL a local client uses (None: the listen names no fixed address)
LISTENS = [
    ("127.0.0.1:8420", "http://127.0.0.1:8420"),
    ("localhost:8420", "http://localhost:8420"),
    ("0.0.0.0:8420", "http://127.0.0.1:8420"),   # a wildcard bind is reached through loopback
    (":8420", "http://127.0.0.1:8420"),
    ("[::]:8420", "http://[::1]:8420"),
    ("::1:8420", "http://[::1]:8420"),
    ("[::1]:8420", "http://[::1]:8420"),
    ("192.168.1.5:08420", "http://192.168.1.5:8420"),
    ("127.0.0.1:0", None),                        # the daemon picks its port at start
    ("", None),                                   # HTTP off
]


@pytest.mark.parametrize("listen, url", LISTENS)
def test_local_base_url(listen, url):
    assert endpoint.local_base_url(listen) == url


def test_server_url_and_headers():
    assert endpoint.server_url("http://127.0.0.1:8420/", "my.server-1") == \
        "http://127.0.0.1:8420/servers/my.server-1/mcp"
    assert endpoint.auth_headers("") == {}
    assert endpoint.auth_headers("t" * 16) == {"Authorization": "Bearer " + "t" * 16}


def test_no_url_without_a_fixed_port_or_a_running_daemon(home, monkeypatch):
    monkeypatch.delenv(config.ENV_HOME, raising=False)  # the daemon looked for is the one on ``home``
    cfg = config.build({"daemon": {"home": str(home), "status_listen": "127.0.0.1:0"}}, "my.toml")
    with pytest.raises(UserError, match=r"my.toml: \[daemon\] status_listen = '127.0.0.1:0' leaves the port"):
        endpoint.mcp_base_url(cfg)
