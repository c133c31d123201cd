"""The OpenAPI document: the report and command bodies the routes read raw, as schemas."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from services.gateway.alert_mapping import AlertmanagerPayload
from services.gateway.commands import ACTIONS, request_schema
from services.gateway.publish import REPORT_MODELS


def document_bodies(app: FastAPI) -> None:
    """Put the report and command body schemas (read as raw bytes) into the OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in REPORT_MODELS.values():
            schema = _component(components, model)
            # Taken from the URL and the token when left out.
            schema["required"] = [r for r in schema["required"] if r not in ("kind", "reported_by")]
        _component(components, AlertmanagerPayload)
        for command in ACTIONS.values():
            components[f"{command.__name__}Request"] = request_schema(command)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _component(components: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s schema, put with the models it uses into `components`."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return schema
