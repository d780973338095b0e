"""The embed example driven through its host page (host.html on another origin, NetcallEmbed in it): two
people join from the host site, the agent records the customer with the page's buttons, and the file the
page is handed is checked by decoding it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from recording.testing.media import assert_media


def test_the_host_page_records_the_customer(netcall_server: Any, participant: Any, host_site: Any) -> None:
    def open_host(account: str, **media: Any) -> Any:
        query = urlencode({"server": netcall_server.url, "channel": "desk-7", "account": account})
        page = participant(account, url=f"{host_site.origin}/host.html?{query}", **media)
        page.page.click("#join")
        page.page.wait_for_selector("#status:text('in the call')")
        return page

    agent = open_host("agent", tone=440, colour="red")
    customer = open_host("customer", tone=660, colour="green")
    agent.page.wait_for_selector('#members [data-account="customer"][data-kind="video"]')
    customer.page.wait_for_selector('#members [data-account="agent"][data-kind="audio"]')
    agent.page.click("#record")
    started_at = int(agent.page.wait_for_selector("#status[data-started-at]").get_attribute("data-started-at"))
    agent.page.wait_for_function("(t) => Date.now() >= t + 3000", arg=started_at, timeout=30_000)
    agent.page.click("#stop")
    agent.page.wait_for_selector("#files li")
    path = agent.save_blob("window.recordings[0].blob", agent.netcall("window.recordings[0].fileName"))
    # the stop is a click through the host page and the frame: it lands up to a second after the 3 s
    assert_media(path, duration=3.0, tolerance=1.0, tones={660: True, 440: False}, colour="green")
