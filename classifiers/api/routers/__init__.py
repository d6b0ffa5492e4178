"""One router per resource: `score` (POST /v1/score), `models` (GET /v1/models), `health` (probes)."""
