"""The OpenAPI document, with the error answers the API really gives.

FastAPI documents every route's 422 as its own `HTTPValidationError`; gpufleet answers bad
input in its one error shape (`ErrorOut`, api/errors.py), and the gateway's routes answer
OpenAI's shape with 400 (they document that themselves). So the 422s are rewritten here, and
FastAPI's validation schemas are dropped once nothing refers to them. Every route that needs
a key also documents its 401, and every route that names an object its 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gpufleet.api.schemas.common import ErrorOut

GATEWAY_TAG = "gateway"
_FASTAPI_ERROR = "#/components/schemas/HTTPValidationError"
_OURS = "#/components/schemas/ErrorOut"


def install(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = with_real_errors(schema)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def with_real_errors(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if GATEWAY_TAG not in operation.get("tags", []):
                _add_common_errors(operation)
            answer = responses.get("422", {}).get("content", {}).get("application/json", {})
            if answer.get("schema", {}).get("$ref") != _FASTAPI_ERROR:
                continue
            if GATEWAY_TAG in operation.get("tags", []):
                del responses["422"]  # bad input is a 400 in OpenAI's shape, documented
            else:
                responses["422"]["description"] = "The request is invalid; `issues` say where"
                answer["schema"] = {"$ref": _OURS}
    ours = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in {**ours.pop("$defs", {}), "ErrorOut": ours}.items():
        known = components.setdefault(name, definition)
        assert known == definition, f"two different schemas are named {name}"
    text = repr(schema["paths"])
    for name in ("HTTPValidationError", "ValidationError"):
        if f"/{name}'" not in text:
            components.pop(name, None)
    return schema


def _add_common_errors(operation: dict[str, Any]) -> None:
    """401 for every route that needs a key; 404 for every route that names an object (also
    another tenant's, answered alike: ADR 0003)."""
    responses = operation["responses"]
    error = {"application/json": {"schema": {"$ref": _OURS}}}
    if operation.get("security"):
        responses.setdefault(
            "401",
            {"description": "No key, or an unknown, revoked or expired one", "content": error},
        )
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        responses.setdefault(
            "404", {"description": "No such object, or another tenant's", "content": error}
        )
