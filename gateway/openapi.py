"""The OpenAPI document: FastAPI's, plus what it cannot infer from endpoints that read the raw body.

The write endpoints parse their body themselves (:mod:`gateway.handlers`), so FastAPI sees no body
parameter; the route table (:data:`gateway.routes.ROUTES`) says which body each takes, and this module
writes its schema (one object or an array up to ``GATEWAY_MAX_BATCH``), its examples, and the API key
requirement when ``GATEWAY_API_KEYS`` is set.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from taxifraud import labels

from . import schema
from .responses import LABEL_EXAMPLE, TLC_RECORD_EXAMPLE
from .routes import ROUTES, Route
from .settings import Settings


def _one_or_many(name: str, max_batch: int) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"anyOf": [ref, {"type": "array", "items": ref, "minItems": 1, "maxItems": max_batch}]}


def request_body(route: Route, max_batch: int) -> dict[str, Any]:
    """The ``requestBody`` of a write route."""
    if route.body == "labels":
        content: dict[str, Any] = {"schema": _one_or_many("Label", max_batch), "example": LABEL_EXAMPLE}
    else:
        content = {
            "schema": _one_or_many("Transaction", max_batch),
            "examples": {
                "wire": {"summary": "wire field names", "value": route.example},
                "tlc": {"summary": "a 2025 record exactly as TLC writes it", "value": TLC_RECORD_EXAMPLE},
            },
        }
    return {"required": True, "content": {"application/json": content}}


def build(app: FastAPI) -> dict[str, Any]:
    """The document for ``app``, built once with the settings it runs with (batch limit, auth)."""
    if app.openapi_schema:
        return app.openapi_schema
    settings: Settings | None = getattr(app.state, "settings", None)
    max_batch = settings.gateway_max_batch if settings else Settings.model_fields["gateway_max_batch"].default
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    tx_schema = schema.transaction_schema()
    components.setdefault("schemas", {}).update(tx_schema.pop("$defs", {}))
    components["schemas"]["Transaction"] = tx_schema
    components["schemas"]["Label"] = labels.ONE.json_schema(ref_template="#/components/schemas/{model}")
    auth_on = bool(settings and settings.api_keys())
    if auth_on:
        components["securitySchemes"] = {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    for route in ROUTES:
        operation = doc["paths"].get(route.path, {}).get(route.method.lower())
        if operation is None or route.body is None:
            continue
        operation["requestBody"] = request_body(route, max_batch)
        if auth_on:
            operation["security"] = [{"ApiKey": []}]
        else:
            operation["responses"].pop("401", None)
    app.openapi_schema = doc
    return doc
