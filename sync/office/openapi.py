"""The OpenAPI schema (/v1/openapi.json) for bodies the routes read by hand.

Signed bodies are read as raw bytes (the signature covers them as sent, and their size is capped
before they are all read), so FastAPI does not see their models. `json_body(Model)` declares the
body for a route (`openapi_extra=`): its schema inline, the models it nests in
components/schemas, added by `document_bodies` (FastAPI registers only the models it parses).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_NESTED_SCHEMAS: dict[str, Any] = {}


def json_body(model: Any) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    _NESTED_SCHEMAS.update(schema.pop("$defs", {}))
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_bodies(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, sub in _NESTED_SCHEMAS.items():
            components.setdefault(name, sub)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
