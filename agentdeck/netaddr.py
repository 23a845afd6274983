"""Addresses of the HTTP status server: the one rule for what is loopback, and the one
parser of a ``host:port`` listen value. Standard library only: the config uses it, and
the hook loads the config.
"""
import functools
import ipaddress

MAX_PORT = 65535


@functools.lru_cache(maxsize=64)  # every HTTP request asks about its Host: nearly always the same few
def is_loopback_host(host):
    """True for ``localhost`` or a loopback IP address (127.0.0.0/8, ::1), any case,
    an IPv6 address with or without its brackets; False for anything else, names included."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host_port(value):
    """(host, port) of ``host:port`` (``[v6]:port`` or ``v6:port`` too; an empty host
    means every address). Raises ValueError unless the port is a number from 0 to MAX_PORT."""
    host, sep, port = value.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > MAX_PORT:
        raise ValueError(f"not host:port with a port from 0 to {MAX_PORT}: {value!r}")
    return host.strip("[]"), int(port)


def host_of_authority(authority):
    """The host of an HTTP Host header (``host``, ``host:port``, ``[v6]``, ``[v6]:port``);
    "" when it is none of these."""
    if authority.startswith("["):
        host, sep, rest = authority[1:].partition("]")
        return host if sep and (rest == "" or rest.startswith(":")) else ""
    return authority.rpartition(":")[0] if ":" in authority else authority
