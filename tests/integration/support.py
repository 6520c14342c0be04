"""Helpers shared by the integration tests: scenarios as documents, checked calls, paging."""

from __future__ import annotations

from typing import Any

import httpx

from gpufleet.planning.scenario import read_scenario_text
from tests.conftest import EXAMPLES


def scenario_doc(name: str = "small") -> dict[str, Any]:
    """An example scenario as the JSON document POST /v1/fleet/import takes."""
    doc: dict[str, Any] = read_scenario_text((EXAMPLES / f"{name}.yaml").read_text("utf-8"))
    return doc


def expect(response: httpx.Response, status: int) -> Any:
    """The JSON body of a response that must have `status`; the body is shown when not."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code} "
        f"(wanted {status}): {response.text[:2000]}"
    )
    return response.json() if response.content else None


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` object of an error response in the API's one error shape."""
    body = expect(response, status)
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "issues"}, error
    assert error["message"], error
    return error


def issue_paths(response: httpx.Response, status: int = 422) -> list[str]:
    return [issue["path"] for issue in error_of(response, status)["issues"]]


def import_small(client: httpx.Client) -> dict[str, Any]:
    result: dict[str, Any] = expect(client.post("/v1/fleet/import", json=scenario_doc()), 201)
    return result


def all_pages(
    client: httpx.Client, path: str, params: dict[str, Any] | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Every item of a cursor-paged list, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100_000):
        query = {**(params or {}), "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        page = expect(client.get(path, params=query), 200)
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"], "a page with a next_cursor must not be empty"
    raise AssertionError(f"{path} never reached the last page")
