"""recording/net.py: which addresses the server may connect to on a client's behalf, in every spelling."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from recording.media.rtmp_relay import pinned_target
from recording.net import TargetRefused, address_is_public, target_addresses

# Numeric spellings resolve without a network: the system resolver parses them (inet_aton rules).
REFUSED_SPELLINGS = [
    "127.0.0.1",
    "127.1",  # short form
    "2130706433",  # decimal
    "0x7f000001",  # hex
    "0177.0.0.1",  # octal
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",  # IPv4-mapped IPv6
    "[::ffff:7f00:1]",
    "0.0.0.0",  # unspecified
    "::",
    "10.0.0.5",  # private
    "172.16.3.4",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT (shared address space)
    "169.254.169.254",  # link-local: cloud metadata
    "fe80::1",
    "fd00:ec2::254",  # unique local: a cloud's IPv6 metadata endpoint
    "224.0.0.1",  # multicast
    "ff02::1",
    "240.0.0.1",  # reserved
    "198.18.0.1",  # benchmarking, not global
]
PUBLIC_ADDRESSES = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34", "8.8.8.8"]


def fake_resolver(answers: dict[str, list[str]]) -> Any:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    return resolve


@pytest.mark.parametrize("spelling", REFUSED_SPELLINGS)
def test_every_spelling_of_a_non_public_address_is_refused(spelling: str) -> None:
    with pytest.raises(TargetRefused):
        target_addresses(spelling, 1935, allowed_hosts=[])


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_pass(address: str) -> None:
    assert address_is_public(address)
    assert target_addresses(address, 1935, allowed_hosts=[]) != []


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    resolver = fake_resolver({"push.example": ["93.184.216.34"], "sneaky.example": ["93.184.216.34", "127.0.0.1"]})
    assert target_addresses("push.example", 1935, allowed_hosts=[], resolve=resolver) == ["93.184.216.34"]
    with pytest.raises(TargetRefused, match=r"127\.0\.0\.1"):
        target_addresses("sneaky.example", 1935, allowed_hosts=[], resolve=resolver)


def test_a_name_that_resolves_to_nothing_is_refused() -> None:
    with pytest.raises(TargetRefused):
        target_addresses("nowhere.example", 1935, allowed_hosts=[], resolve=fake_resolver({}))


def test_allowed_hosts_are_exact() -> None:
    assert target_addresses("127.0.0.1", 1935, allowed_hosts=["127.0.0.1"]) == []
    assert target_addresses("LocalTest.Example", 1935, allowed_hosts=["localtest.example"]) == []
    assert target_addresses("[::1]", 1935, allowed_hosts=["::1"]) == []
    for other_spelling in ("2130706433", "0x7f000001", "127.1"):  # allowing 127.0.0.1 allows that spelling only
        with pytest.raises(TargetRefused):
            target_addresses(other_spelling, 1935, allowed_hosts=["127.0.0.1"])


def test_the_relay_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the relay checks again and connects to the checked address, not the name."""
    answers = {"push.example": ["93.184.216.34"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver(answers))
    url, options = pinned_target("rtmp://push.example:1935/live/key", [])
    assert url == "rtmp://93.184.216.34:1935/live/key"
    assert options == {"rtmp_tcurl": "rtmp://push.example:1935/live"}
    answers["push.example"] = ["10.1.2.3"]  # the name now points inside
    with pytest.raises(TargetRefused):
        pinned_target("rtmp://push.example:1935/live/key", [])
