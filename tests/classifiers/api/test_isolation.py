"""API client isolation against the real server: bad documents fail only their own request, with a 4xx naming them."""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx

from classifiers.api import ApiSettings, create_app

API_KEY = "e2e-test-key-9f3a"  # same as conftest.API_KEY
AUTH = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
# JSON lets a lone surrogate through as an escape; fastText's predict used to raise on it inside the merged call
BAD = json.dumps({"documents": [{"text": "fine document about photosynthesis"}, {"text": "abc \ud800"}]}).encode()


def test_good_clients_all_get_200_beside_bad_clients(live_server, texts_factory):
    texts, _ = texts_factory(8, seed=3)
    good = json.dumps({"documents": [{"text": t} for t in texts[:4]]}).encode()
    deadline = time.monotonic() + 4.0

    def client(body: bytes) -> list[tuple[int, dict]]:
        answers = []
        with httpx.Client(base_url=live_server.url, headers=AUTH, timeout=30) as c:
            while time.monotonic() < deadline:
                r = c.post("/v1/score", content=body)
                answers.append((r.status_code, r.json()))
        return answers

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(client, BAD if i < 3 else good) for i in range(12)]
        results = [f.result() for f in futures]
    bad_answers = [a for r in results[:3] for a in r]
    good_answers = [a for r in results[3:] for a in r]
    assert len(good_answers) > 20 and len(bad_answers) > 5
    assert {s for s, _ in good_answers} == {200}
    for status, body in bad_answers:
        assert (
            status == 422 and body["error"]["code"] == "invalid_document" and "document 1" in body["error"]["message"]
        )


class _PickyModel:
    """Refuses any batch holding the text "POISON" (a model failure a request check cannot foresee)."""

    backend = "fake"
    version = "picky-1"
    card = None

    def predict(self, texts):
        import numpy as np

        time.sleep(0.002)
        if "POISON" in texts:
            raise ValueError("cannot score this")
        return np.full(len(texts), 4.0, dtype=np.float32)


def test_model_failure_on_one_document_is_a_422_naming_it_and_spares_merged_requests():
    from fastapi.testclient import TestClient

    settings = ApiSettings(models={"m": "m"}, scoring_executor="thread", batch_max_wait_ms=20)
    with TestClient(create_app(settings, loader=lambda spec: _PickyModel())) as c:

        def post(texts):
            return c.post("/v1/score", json={"documents": [{"text": t} for t in texts]})

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(post, ["a", "b", "POISON"] if i % 4 == 0 else ["good text"]) for i in range(32)]
            answers = [f.result() for f in futures]
    for i, r in enumerate(answers):
        if i % 4 == 0:
            assert r.status_code == 422 and r.json()["error"]["code"] == "unscorable_document"
            assert "document 2" in r.json()["error"]["message"]
        else:
            assert r.status_code == 200, r.text
