"""Where ``beit-serve`` listens: ``--host`` as tritonserver takes it, ``HOST:PORT`` strings, free and busy ports.

tritonserver 2.51 takes each address its own way (measured): its HTTP and metrics servers (libevhtp)
read an IPv4 address, or an IPv6 one only behind an ``ipv6:`` prefix (``ipv6:::1``), and bind
255.255.255.255 without a word for anything else (``::1`` plain, or a host name such as ``localhost``),
so that nothing answers; its gRPC server wants an IPv6 address in brackets (``[::1]``; ``::1`` plain is
"Name or service not known", reported as "Socket '::1:8001' already in use"). So ``--host`` must be an
IP address (a name is a usage error), and the flags and the ``HOST:PORT`` strings are written per family.
"""

from __future__ import annotations

import ipaddress
import socket

from ..errors import ServeOptionError

WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # every interface -> the loopback address to probe it at


def check_host(host: str) -> str:
    """``host`` when it is an IPv4 or IPv6 address, else ServeOptionError naming the fix."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ServeOptionError(
            f"--host {host!r} is not an IP address: tritonserver binds addresses only (a name would leave it "
            "listening on 255.255.255.255); give 127.0.0.1 or ::1 (this machine), 0.0.0.0 or :: (every interface)"
        ) from None
    return host


def is_ipv6(host: str) -> bool:
    return ":" in host


def family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if is_ipv6(host) else socket.AF_INET


def host_port(host: str, port: int) -> str:
    """``HOST:PORT`` for a URL (``[::1]:8000`` for IPv6)."""
    return f"[{host}]:{port}" if is_ipv6(host) else f"{host}:{port}"


def http_address(host: str) -> str:
    """``host`` as tritonserver's ``--http-address``/``--metrics-address`` takes it (``ipv6:::1``)."""
    return f"ipv6:{host}" if is_ipv6(host) else host


def grpc_address(host: str) -> str:
    """``host`` as tritonserver's ``--grpc-address`` takes it (``[::1]``)."""
    return f"[{host}]" if is_ipv6(host) else host


def probe_host(host: str) -> str:
    """The address this machine reaches a server listening on ``host`` at (loopback for a wildcard)."""
    return WILDCARDS.get(host, host) if host else "127.0.0.1"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` now (the kernel's pick; tiny race until the server binds it)."""
    with socket.socket(family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host or "127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bind_error(host: str, port: int) -> OSError | None:
    """Why a server could not listen on ``host``:``port`` now (EADDRINUSE: another socket holds it), or None.
    With SO_REUSEADDR, as Triton's servers bind: connections left in TIME_WAIT do not count."""
    with socket.socket(family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            return error
    return None
