"""The HTTP layer: `create_app(services)` builds the Quart app (read routes, SSE, errors, OpenAPI, plugin routes)."""

from spark.api.app import create_app

__all__ = ["create_app"]
