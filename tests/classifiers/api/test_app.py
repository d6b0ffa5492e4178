"""Route logic of the API with TestClient and a stand-in classifier: scores, limits, errors, auth, CORS."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from classifiers.api import ApiSettings
from classifiers.api.schemas import ScoreResult
from curator import schema


def _assert_error(resp, status: int, code: str, limit: str | None = None, value=None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code
    assert err["message"]
    if limit is not None:
        assert err["limit"] == limit and err["value"] == value
    return err


def test_score_results_in_order_with_ids_int_scores_and_keep(make_client):
    client = make_client()
    docs = [{"id": "a", "text": "one two three four"}, {"text": "one"}, {"id": "c", "text": "w " * 40}]
    resp = client.post("/v1/score", json={"documents": docs})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == "fake" and body["model_version"] == "fake-0001" and body["threshold"] == 3.0
    assert [r["id"] for r in body["results"]] == ["a", "1", "c"]
    assert [r["edu_score"] for r in body["results"]] == [4.0, 1.0, 5.0]
    assert [r["edu_int_score"] for r in body["results"]] == [4, 1, 5]
    assert [r["keep"] for r in body["results"]] == [True, False, True]


def test_threshold_setting_decides_keep(make_client):
    client = make_client(threshold=4.5)
    body = client.post("/v1/score", json={"documents": [{"text": "a b c d"}, {"text": "a b c d e"}]}).json()
    assert [r["keep"] for r in body["results"]] == [False, True]
    assert body["threshold"] == 4.5


def test_named_model_and_empty_batch(make_client):
    client = make_client()
    body = client.post("/v1/score", json={"documents": [{"text": "x"}], "model": "other"}).json()
    assert body["model"] == "other" and body["model_version"] == "other-0001"
    assert client.post("/v1/score", json={"documents": []}).json()["results"] == []


@pytest.mark.parametrize("name", ["nope", "../../etc/passwd", "/tmp/model", "default"])
def test_unknown_or_path_like_model_is_a_4xx_and_never_loaded(make_client, name):
    client = make_client()
    resp = client.post("/v1/score", json={"documents": [{"text": "x"}], "model": name})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] in {"unknown_model", "validation_error"}
    assert set(client.loaded) == {"fake", "other"}  # nothing else was ever loaded


def test_too_many_documents_is_413_naming_the_limit(make_client):
    client = make_client(max_docs_per_request=3)
    resp = client.post("/v1/score", json={"documents": [{"text": "x"}] * 4})
    err = _assert_error(resp, 413, "too_many_documents", "max_docs_per_request", 3)
    assert "4 documents" in err["message"]
    assert client.post("/v1/score", json={"documents": [{"text": "x"}] * 3}).status_code == 200


def test_document_too_long_is_413_naming_the_limit(make_client):
    client = make_client(max_chars_per_doc=10)
    resp = client.post("/v1/score", json={"documents": [{"text": "short"}, {"text": "x" * 11}]})
    err = _assert_error(resp, 413, "document_too_long", "max_chars_per_doc", 10)
    assert "document 1" in err["message"]


def test_body_too_large_by_content_length_and_streamed(make_client):
    client = make_client(max_body_bytes=200)
    big = json.dumps({"documents": [{"text": "x" * 300}]}).encode()
    resp = client.post("/v1/score", content=big, headers={"content-type": "application/json"})
    _assert_error(resp, 413, "body_too_large", "max_body_bytes", 200)

    def chunks():  # no Content-Length: chunked transfer
        for i in range(0, len(big), 50):
            yield big[i : i + 50]

    resp = client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
    _assert_error(resp, 413, "body_too_large", "max_body_bytes", 200)
    small = json.dumps({"documents": [{"text": "a b"}]}).encode()
    resp = client.post(
        "/v1/score", content=iter([small[:10], small[10:]]), headers={"content-type": "application/json"}
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[]",
        b'{"documents": [{"id": "a"}]}',
        b'{"documents": [{"text": 5}]}',
        b'{"documents": "text"}',
        b'{"documents": [], "extra": 1}',
        b"",
    ],
)
def test_invalid_bodies_are_422_in_the_error_shape(make_client, payload):
    client = make_client()
    resp = client.post("/v1/score", content=payload, headers={"content-type": "application/json"})
    err = _assert_error(resp, 422, "validation_error")
    assert isinstance(err["details"], list) and err["details"]


def test_unknown_route_and_method_use_the_error_shape(make_client):
    client = make_client()
    _assert_error(client.get("/v2/nothing"), 404, "not_found")
    _assert_error(client.get("/v1/score"), 405, "method_not_allowed")


def test_api_key_required_when_set(make_client):
    client = make_client(api_key="s3cret-key")
    body = {"documents": [{"text": "a"}]}
    _assert_error(client.post("/v1/score", json=body), 401, "unauthorized")
    resp = client.post("/v1/score", json=body, headers={"Authorization": "Bearer wrong"})
    _assert_error(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"
    _assert_error(
        client.post("/v1/score", json=body, headers={"Authorization": "Basic s3cret-key"}), 401, "unauthorized"
    )
    _assert_error(client.get("/v1/models"), 401, "unauthorized")
    _assert_error(client.get("/metrics"), 401, "unauthorized")
    ok = {"Authorization": "Bearer s3cret-key"}
    assert client.post("/v1/score", json=body, headers=ok).status_code == 200
    assert client.get("/v1/models", headers=ok).status_code == 200
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_no_key_means_open(make_client):
    client = make_client()
    assert client.post("/v1/score", json={"documents": [{"text": "a"}]}).status_code == 200


def test_models_lists_cards_and_default(make_client):
    client = make_client()
    models = client.get("/v1/models").json()["models"]
    assert [m["name"] for m in models] == ["fake", "other"]
    assert [m["default"] for m in models] == [True, False]
    assert models[0]["card"]["metrics"] == {"note": "stand-in for route tests"}
    assert models[0]["version"] == "fake-0001" and models[0]["backend"] == "fake"


def test_health_and_readiness(make_client):
    client = make_client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["models"] == ["fake", "other"]
    client.app.state.registry.ready = False
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json()["status"] == "not_ready"
    _assert_error(client.post("/v1/score", json={"documents": [{"text": "a"}]}), 503, "not_ready")


def _metric(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_metrics_count_requests_documents_errors_and_latency(make_client):
    client = make_client(max_docs_per_request=2)
    client.post("/v1/score", json={"documents": [{"text": "a"}, {"text": "b"}]})
    client.post("/v1/score", json={"documents": [{"text": "a"}] * 3})
    text = client.get("/metrics").text
    assert _metric(text, 'edu_curator_api_documents_scored_total{model="fake"}') == 2
    assert _metric(text, 'edu_curator_api_requests_total{method="POST",route="/v1/score",status="200"}') == 1
    assert _metric(text, 'edu_curator_api_requests_total{method="POST",route="/v1/score",status="413"}') == 1
    assert _metric(text, 'edu_curator_api_errors_total{code="too_many_documents"}') == 1
    assert _metric(text, 'edu_curator_api_request_duration_seconds_count{method="POST",route="/v1/score"}') == 2
    assert _metric(text, 'edu_curator_api_model_batch_documents_count{model="fake"}') == 1


def test_no_cors_by_default_and_listed_origins_only(make_client):
    client = make_client()
    resp = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in resp.headers
    client = make_client(cors_origins=["https://ui.example"])
    resp = client.options(
        "/v1/score", headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    )
    assert resp.headers["access-control-allow-origin"] == "https://ui.example"
    resp = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in resp.headers


def test_settings_refuse_wildcard_cors_and_bad_model_names():
    with pytest.raises(ValidationError, match="wildcard"):
        ApiSettings(cors_origins=["*"])
    with pytest.raises(ValidationError, match="model name"):
        ApiSettings(models={"../x": "/tmp/x"})


def test_settings_env_round_trip(monkeypatch):
    s = ApiSettings(models={"a": "/m/a", "b": "default"}, threshold=2.5, cors_origins=["https://x.example"])
    for k, v in s.to_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("EDU_CURATOR_API_KEY", "key-xyz-123")  # the key var shares the prefix; it must not be a field
    again = ApiSettings()
    assert again == s and again.default_model == "a" and again.api_key == "key-xyz-123"
    assert "key-xyz-123" not in json.dumps(s.to_env())


def test_openapi_documents_typed_models_examples_and_errors(make_client):
    spec = make_client().get("/openapi.json").json()
    op = spec["paths"]["/v1/score"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ScoreRequest")
    assert {"200", "400", "413", "415", "422"} <= set(op["responses"])
    assert spec["components"]["schemas"]["ScoreRequest"]["examples"]
    # issue 28 item 11: no key, no bearer scheme and no 401; with a key both, /metrics included
    assert "securitySchemes" not in spec["components"] and "401" not in op["responses"] and "security" not in op
    keyed = make_client(api_key="k-123").get("/openapi.json").json()
    assert "HTTPBearer" in keyed["components"]["securitySchemes"]
    assert "401" in keyed["paths"]["/v1/score"]["post"]["responses"]
    assert "401" in keyed["paths"]["/metrics"]["get"]["responses"]


def test_result_fields_are_the_schema_column_names():
    assert {schema.ID, schema.EDU_SCORE, schema.EDU_INT_SCORE} <= set(ScoreResult.model_fields)


def test_openapi_shows_this_servers_limits(make_client):
    spec = make_client(max_docs_per_request=7, max_chars_per_doc=99).get("/openapi.json").json()
    assert spec["components"]["schemas"]["ScoreRequest"]["properties"]["documents"]["maxItems"] == 7
    assert spec["components"]["schemas"]["Document"]["properties"]["text"]["maxLength"] == 99
    model = spec["components"]["schemas"]["ScoreRequest"]["properties"]["model"]
    assert model["anyOf"][0]["enum"] == ["fake", "other"]
