"""Property-based run of schemathesis against the live server's OpenAPI schema: no 5xx, answers match it.

Every operation of the live ``/openapi.json`` gets ``MAX_EXAMPLES`` generated requests (valid and
invalid bodies, with the API key); every answer must pass schemathesis' checks: not a server error,
status code and body documented in the schema, content type as declared.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

API_KEY = "e2e-test-key-9f3a"  # same as conftest.API_KEY
AUTH = {"Authorization": f"Bearer {API_KEY}"}
MAX_EXAMPLES = 40


def test_no_server_errors_and_responses_match_the_schema(live_server):
    schema = schemathesis.openapi.from_url(live_server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/score", "/v1/models", "/healthz", "/readyz", "/metrics"}
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            case.call_and_validate(base_url=live_server.url, headers=AUTH)

        check()
