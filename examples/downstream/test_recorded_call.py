"""A downstream test with netcall's test kit (`pip install "netcall[testing]"`): a support agent records the
customer in a two-party call, and the upload lands on the server."""

from recording.testing.media import assert_media


def test_the_agent_records_the_customer(netcall_server, participant):
    agent = participant("agent", tone=440, colour="red")
    customer = participant("customer", tone=660, colour="green", media="sync")  # flash + beep every 2 s
    agent.join("support-42")
    customer.join("support-42")
    agent.wait_for_remote_media("customer", colour="green")
    recording = agent.record("customer", save="upload")
    source = customer.record()  # the sync source as captured: the A/V offset of its fake devices
    path, ref = recording.wait(5).stop(), source.stop()
    assert_media(
        path,
        duration=recording.seconds,
        tones={660: True, 440: False},
        colour="green",
        av_sync_ms=600,
        av_reference=ref,
    )
    [upload] = netcall_server.wait_for_recordings("support-42")
    assert (upload["account"], upload["id"]) == ("customer", recording.result["recordingId"])
