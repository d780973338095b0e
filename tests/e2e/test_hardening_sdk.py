"""Issue 14 in the SDK, in Chromium: names with hidden characters are refused before anything is sent, and a
page never believes it is an account the server does not hold."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from recording.testing.browser import ParticipantPage
from recording.testing.capture import ALICE
from recording.testing.server import DaphneServer

pytestmark = pytest.mark.e2e

TRY_JS = """
async ([account, token, channel]) => {
  const { Netcall } = await import('/static/netcall/netcall.js');
  try {
    const netcall = new Netcall({ account, token });
    window.__hardening = netcall;
    await netcall.joinChannel({ channelName: channel, type: Netcall.NETCALL_TYPE_AUDIO });
    return { joined: netcall.account };
  } catch (err) {
    return { code: err.code ?? String(err) };
  }
}
"""


def test_sdk_refuses_hidden_characters_and_someone_elses_token(
    open_participant: Callable[..., ParticipantPage], netcall_server: DaphneServer
) -> None:
    page = open_participant(ALICE)
    page.page.goto(netcall_server.url + "/")
    bobs = netcall_server.mint_token("bob", "hardening")
    for account, channel in [("demo\u202e", "hardening"), ("a\u200bb", "hardening"), ("alice", "x\u2028y")]:
        result = page.page.evaluate(TRY_JS, [account, bobs, channel])
        assert result == {"code": "bad_argument"}, (account, channel, result)
    result = page.page.evaluate(TRY_JS, ["alice", bobs, "hardening"])
    assert result == {"code": "token_wrong_account"}, result
    result = page.page.evaluate(TRY_JS, ["bob", bobs, "hardening"])
    assert result == {"joined": "bob"}, result
    page.page.evaluate("() => window.__hardening.leaveChannel()")
