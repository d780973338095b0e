"""Where the server may connect on a client's behalf: public addresses only, unless an operator allows more.

A host's `rtmpUrl` makes the recorder open a connection. Without this check any join token could aim it at
the server's own loopback services, the private network or a cloud metadata endpoint, in any spelling
(`2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]`, a name that resolves there). Names are resolved and
every address they resolve to is checked: when the URL is accepted, and again right before connecting
(the relay then connects to the checked address, so a name cannot re-resolve elsewhere in between).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection
from typing import Any

Resolver = Callable[..., list[tuple[Any, ...]]]


class TargetRefused(Exception):
    """The target is not one the server may connect to; the message is for the server's logs only."""


def address_is_public(address: str) -> bool:
    """A globally routable unicast address (IPv4-mapped IPv6 judged as the IPv4 address it maps)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scope id (fe80::1%eth0) is link-local anyway
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def host_is_allowed_anyway(host: str, allowed_hosts: Collection[str]) -> bool:
    """Exact match against the operator's list (names case-insensitive, addresses as written there)."""
    return host.lower().strip("[]") in {h.lower().strip("[]") for h in allowed_hosts}


def target_addresses(
    host: str, port: int, *, allowed_hosts: Collection[str], resolve: Resolver | None = None
) -> list[str]:
    """The addresses `host` resolves to, all of them public; TargetRefused otherwise, also when it resolves
    to nothing. A host allowed anyway is not resolved here (empty list): the operator vouches for it."""
    if host_is_allowed_anyway(host, allowed_hosts):
        return []
    try:
        infos = (resolve or socket.getaddrinfo)(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"{host!r} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"{host!r} resolves to no address")
    refused = [a for a in addresses if not address_is_public(a)]
    if refused:
        raise TargetRefused(f"{host!r} resolves to non-public {', '.join(refused)}")
    return addresses
