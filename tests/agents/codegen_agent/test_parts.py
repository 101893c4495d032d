"""A binary file part (the generated zip): written as bytes by --out, uploaded as bytes."""

from __future__ import annotations

import base64

from bot import render, results
from workflow import parts


def _zip_part() -> dict:
    payload = b"PK\x03\x04\x00\xffbinary"
    return parts.binary_file(
        "client.zip", base64.b64encode(payload).decode(), media_type="application/zip"
    )


def test_out_writes_the_decoded_bytes(tmp_path):
    part = _zip_part()
    assert part["encoding"] == "base64" and parts.file_bytes(part).startswith(b"PK")
    (written,) = render.write_files(tmp_path, [part])
    assert written.read_bytes() == b"PK\x03\x04\x00\xffbinary"


async def test_slack_gets_the_bytes_not_the_base64(monkeypatch):
    sent = {}

    async def upload(client, **kwargs):
        sent.update(kwargs)
        return None

    monkeypatch.setattr(results, "upload", upload)
    await results._post_file(results._Where(None, "C1", "1.0", ""), _zip_part())
    assert sent["file"] == b"PK\x03\x04\x00\xffbinary" and "content" not in sent
    assert sent["filename"] == "client.zip"


async def test_a_failed_upload_of_an_archive_posts_only_the_note(monkeypatch):
    said = []

    async def upload(client, **kwargs):
        return "not_allowed"

    async def say(client, channel, thread_ts, text):
        said.append(text)

    monkeypatch.setattr(results, "upload", upload)
    monkeypatch.setattr(results, "say", say)
    await results._post_file(results._Where(None, "C1", "1.0", ""), _zip_part())
    assert len(said) == 1 and "client.zip" in said[0], said
