"""End to end: `curator serve` as a real uvicorn subprocess with a real fastText model, over HTTP."""

from __future__ import annotations

import concurrent.futures
import json

import httpx
import numpy as np
import pytest

API_KEY = "e2e-test-key-9f3a"  # same as conftest.API_KEY
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _metric(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_probes_are_open(live_server):
    assert httpx.get(live_server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(live_server.url + "/readyz").json()
    assert ready == {"status": "ready", "models": ["main", "alt"]}


def test_scores_match_the_model_loaded_in_process(live_server, fasttext_model_dir, texts_factory):
    from classifiers import load_classifier

    texts, _ = texts_factory(8, seed=7)
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    resp = httpx.post(live_server.url + "/v1/score", json={"documents": docs}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    clf = load_classifier(fasttext_model_dir)
    expected = clf.predict(texts)
    assert body["model"] == "main" and body["model_version"] == clf.version and body["threshold"] == 2.5
    got = np.array([r["edu_score"] for r in body["results"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [r["id"] for r in body["results"]] == [d["id"] for d in docs]
    assert [r["keep"] for r in body["results"]] == [bool(s >= 2.5) for s in expected]
    assert [r["edu_int_score"] for r in body["results"]] == np.clip(np.rint(expected), 0, 5).astype(int).tolist()
    # the model learned something: educational documents (even positions) score above spam
    assert got[0::2].min() > got[1::2].max()


def test_second_registered_name_and_models_listing(live_server):
    body = httpx.post(
        live_server.url + "/v1/score", json={"documents": [{"text": "theorem proof"}], "model": "alt"}, headers=AUTH
    ).json()
    assert body["model"] == "alt"
    models = httpx.get(live_server.url + "/v1/models", headers=AUTH).json()["models"]
    assert [(m["name"], m["default"], m["backend"]) for m in models] == [
        ("main", True, "fasttext"),
        ("alt", False, "fasttext"),
    ]
    assert models[0]["card"]["training_data"]["n_examples"] == 400


def test_limits_answer_413_naming_the_limit(live_server):
    url = live_server.url + "/v1/score"
    r = httpx.post(url, json={"documents": [{"text": "a"}] * 9}, headers=AUTH)
    assert r.status_code == 413
    assert r.json()["error"] | {} == {
        **r.json()["error"],
        "code": "too_many_documents",
        "limit": "max_docs_per_request",
        "value": 8,
    }
    r = httpx.post(url, json={"documents": [{"text": "a" * 5001}]}, headers=AUTH)
    assert (
        r.status_code == 413
        and r.json()["error"]["limit"] == "max_chars_per_doc"
        and r.json()["error"]["value"] == 5000
    )
    big = json.dumps({"documents": [{"text": "b" * 4000}] * 16}).encode()
    r = httpx.post(url, content=big, headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == {
        "code": "body_too_large",
        "message": r.json()["error"]["message"],
        "limit": "max_body_bytes",
        "value": 60000,
    }
    r = httpx.post(url, content=iter([big[:30000], big[30000:]]), headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_validation_and_unknown_model_are_4xx_json(live_server):
    url = live_server.url + "/v1/score"
    r = httpx.post(url, content=b"{oops", headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = httpx.post(url, json={"documents": [{"text": "x"}], "model": "nope"}, headers=AUTH)
    assert (
        r.status_code == 422
        and r.json()["error"]["code"] == "unknown_model"
        and "main" in r.json()["error"]["message"]
    )
    r = httpx.post(url, json={"documents": [{"text": "x"}], "model": "../../etc"}, headers=AUTH)
    assert r.status_code == 422


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": API_KEY}])
def test_auth_401(live_server, headers):
    r = httpx.post(live_server.url + "/v1/score", json={"documents": [{"text": "x"}]}, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert httpx.get(live_server.url + "/metrics", headers=headers).status_code == 401


def test_metrics_increase_and_concurrent_requests_are_served(live_server, texts_factory):
    def scrape() -> str:
        return httpx.get(live_server.url + "/metrics", headers=AUTH).text

    before = scrape()
    texts, _ = texts_factory(8, seed=3)

    def one(_):
        return httpx.post(
            live_server.url + "/v1/score", json={"documents": [{"text": t} for t in texts]}, headers=AUTH
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(one, range(24)))
    assert all(r.status_code == 200 for r in responses)
    assert len({json.dumps(r.json()["results"]) for r in responses}) == 1  # same input, same answer
    httpx.post(live_server.url + "/v1/score", json={"documents": [{"text": "x"}], "model": "nope"}, headers=AUTH)
    after = scrape()
    key = 'edu_curator_api_documents_scored_total{model="main"}'
    assert _metric(after, key) - _metric(before, key) == 24 * 8
    ok = 'edu_curator_api_requests_total{method="POST",route="/v1/score",status="200"}'
    assert _metric(after, ok) - _metric(before, ok) == 24
    err = 'edu_curator_api_errors_total{code="unknown_model"}'
    assert _metric(after, err) - _metric(before, err) == 1
    lat = 'edu_curator_api_request_duration_seconds_count{method="POST",route="/v1/score"}'
    assert _metric(after, lat) - _metric(before, lat) == 25
    calls = 'edu_curator_api_model_batch_documents_count{model="main"}'
    assert 1 <= _metric(after, calls) - _metric(before, calls) <= 24


def test_bad_model_dir_fails_fast_with_a_clear_message(start_server, tmp_path):
    server = start_server(["--model", str(tmp_path / "missing")])
    assert server.proc.wait(30) == 2
    server.stop()
    assert "does not exist" in server.log_path.read_text()


def test_two_workers_serve_and_aggregate_metrics(fasttext_model_dir, start_server):
    server = start_server(
        ["--model", str(fasttext_model_dir), "--workers", "2", "--executor", "thread", "--log-level", "warning"]
    )
    server.wait_ready()
    with httpx.Client(base_url=server.url) as client:
        for _ in range(6):
            r = client.post(
                "/v1/score", json={"documents": [{"text": "theorem proof"}] * 3}, headers={"Connection": "close"}
            )
            assert r.status_code == 200 and r.json()["model"] == "edu-e2e"
        text = client.get("/metrics").text
    assert _metric(text, 'edu_curator_api_documents_scored_total{model="edu-e2e"}') == 18
