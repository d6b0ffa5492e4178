"""The scoring REST API (FastAPI): `POST /v1/score`, `GET /v1/models`, health, readiness and metrics.

Build an app with :func:`create_app` (models load in its lifespan, never at import); run it with
`curator serve`. See ``classifiers/api/README.md`` for the layout.
"""

from classifiers.api.app import create_app, create_app_from_env
from classifiers.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app", "create_app_from_env"]
