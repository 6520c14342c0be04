"""The CLI's HTTP client: the API's own schemas on the way back, its errors as ours."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from gpufleet.api.schemas.common import ErrorOut
from gpufleet.domain import errors
from gpufleet.domain.errors import Issue

T = TypeVar("T")
_BY_STATUS: dict[int, type[errors.GpufleetError]] = {
    401: errors.NotAuthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
}


class ApiClient:
    def __init__(self, url: str, key: str | None, timeout: float = 300.0) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = url.rstrip("/")
        self.key = key  # for the event stream, which has a client of its own
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def send(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        """The server's answer as it is, whatever its status; an unreachable server is
        Unavailable, named with the way to start one."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            return self._http.request(method, path, json=json, params=clean)
        except httpx.HTTPError as exc:
            raise errors.Unavailable(
                f"cannot reach the gpufleet server at {self.url} ({exc.__class__.__name__}); "
                "start it with 'gpufleet serve' or set --url / GPUFLEET_URL"
            ) from exc

    def call(
        self,
        method: str,
        path: str,
        shape: type[T],
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> T:
        response = self.send(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise error_from(response)
        adapter: TypeAdapter[T] = TypeAdapter(shape)
        return adapter.validate_python(response.json())

    def text(self, path: str, **params: Any) -> str:
        """A document the server renders as text (an invoice's CSV or HTML), unchanged."""
        response = self.send("GET", path, params=params)
        if response.status_code >= 400:
            raise error_from(response)
        return response.text

    def get(self, path: str, shape: type[T], **params: Any) -> T:
        return self.call("GET", path, shape, params=params)

    def post(self, path: str, shape: type[T], body: Any) -> T:
        if isinstance(body, BaseModel):
            body = body.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self.call("POST", path, shape, json=body)


def error_from(response: httpx.Response) -> errors.GpufleetError:
    """An error answer in gpufleet's shape as the error it stands for."""
    try:
        body = ErrorOut.model_validate(response.json()).error
    except ValueError:
        return errors.Unavailable(f"server answered {response.status_code}: {response.text[:200]}")
    kind = _BY_STATUS.get(response.status_code, errors.InvalidInput)
    if response.status_code >= 500:
        kind = errors.Unavailable
    return kind(body.message, [Issue(i.path, i.message) for i in body.issues])
