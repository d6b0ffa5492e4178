"""Limits answered before the body is parsed and validated (issue 28 items 7 and 11)."""

from __future__ import annotations

import json

HUGE = json.dumps({"documents": [{"text": ""}] * 1_000_000}).encode()  # ~14 MB; validating it takes seconds


def test_too_many_documents_is_refused_before_validation(make_client):
    client = make_client(max_body_bytes=32 * 2**20, max_docs_per_request=64)
    r = client.post("/v1/score", content=HUGE, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_documents"
    assert r.json()["error"]["message"].startswith("1000000 documents")
    ok = client.post("/v1/score", json={"documents": [{"text": "a {b} c"}] * 64})  # braces in text are fine
    assert ok.status_code == 200


def test_missing_key_is_refused_before_the_body_is_read(make_client):
    client = make_client(api_key="k-123", max_body_bytes=32 * 2**20)
    r = client.post("/v1/score", content=HUGE, headers={"content-type": "application/json"})
    assert (
        r.status_code == 401
        and r.json()["error"]["code"] == "unauthorized"
        and r.headers["www-authenticate"] == "Bearer"
    )
    r = client.post("/v1/score", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 401  # the key is checked first: the body was never parsed (it used to be a 422)
    good = client.post("/v1/score", json={"documents": [{"text": "x"}]}, headers={"Authorization": "Bearer k-123"})
    assert good.status_code == 200


def test_wrong_content_type_is_415(make_client):
    client = make_client()
    r = client.post("/v1/score", content=b'{"documents": [{"text": "x"}]}', headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = client.post(
        "/v1/score",
        content=b'{"documents": [{"text": "x"}]}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200
