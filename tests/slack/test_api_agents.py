"""The API agents from Slack over real HTTP: the generated client's zip is uploaded into the
thread as bytes (a real zip), and the API tests' JUnit report is uploaded too."""

from __future__ import annotations

import io
import zipfile


async def test_a_generated_client_is_uploaded_as_a_zip(bot):
    status, _ = await bot.send.command("generate a python client for checkout", user="U1")
    assert status == 200
    uploads = await bot.slack.wait_for(
        lambda: [u for u in bot.slack.uploads.values() if u["data"] is not None], timeout=60
    )
    (upload,) = uploads
    assert upload["filename"] == "checkout_client.zip"
    names = zipfile.ZipFile(io.BytesIO(upload["data"])).namelist()
    assert "checkout_client/client.py" in names


async def test_api_test_failures_and_the_junit_report_reach_the_thread(bot):
    status, _ = await bot.send.command("run the API tests against checkout in staging", user="U1")
    assert status == 200
    uploads = await bot.slack.wait_for(
        lambda: [u for u in bot.slack.uploads.values() if u["data"] is not None], timeout=60
    )
    assert uploads[0]["filename"] == "checkout-api-tests-junit.xml"
    assert uploads[0]["data"].count(b"<failure") == 3
    said = "\n".join(p.get("text", "") for p in bot.posted())
    assert "not_a_server_error" in said and "curl -X GET" in said, said[-2000:]
