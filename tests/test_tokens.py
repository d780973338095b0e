import time

import pytest
from django.core import signing

from recording.tokens import TOKEN_SALT, TokenError, token_mint, token_verify


def test_token_round_trip_binds_account_channel_grants_and_expiry() -> None:
    token = token_mint(account="alice", channel="room-1", ttl=60, grants=["publish", "record"])
    parsed = token_verify(token)
    assert (parsed.account, parsed.channel) == ("alice", "room-1")
    assert parsed.grants == frozenset({"publish", "record"})
    assert not parsed.allows("upload")
    assert abs(parsed.expires_at - (time.time() + 60)) < 5


def test_expired_token_is_refused() -> None:
    token = token_mint(account="alice", channel="c", ttl=10, now=time.time() - 20)
    with pytest.raises(TokenError) as caught:
        token_verify(token)
    assert caught.value.code == "token_expired"


def test_forged_token_is_refused() -> None:
    forged = signing.dumps({"acc": "alice", "ch": "c", "grants": [], "exp": 2**40}, key="other", salt=TOKEN_SALT)
    with pytest.raises(TokenError) as caught:
        token_verify(forged)
    assert caught.value.code == "token_invalid"


def test_tampered_token_is_refused() -> None:
    token = token_mint(account="alice", channel="c")
    with pytest.raises(TokenError) as caught:
        token_verify(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    assert caught.value.code == "token_invalid"


@pytest.mark.parametrize("value", [None, "", 42])
def test_missing_token_is_refused(value: object) -> None:
    with pytest.raises(TokenError) as caught:
        token_verify(value)
    assert caught.value.code == "token_missing"


@pytest.mark.parametrize("account", ["", "a/b", "x" * 65, "nul\x00", " padded"])
def test_bad_names_cannot_be_minted(account: str) -> None:
    with pytest.raises(ValueError):
        token_mint(account=account, channel="c")


def test_unknown_grant_cannot_be_minted() -> None:
    with pytest.raises(ValueError):
        token_mint(account="a", channel="c", grants=["admin"])
