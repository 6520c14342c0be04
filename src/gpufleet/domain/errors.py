"""One error hierarchy for the whole product.

    GpufleetError                 code            HTTP  CLI exit
    ├── InvalidInput              invalid_input   422   2
    │   └── ScenarioInvalid       invalid_scenario 422  2
    ├── NotAuthenticated          unauthenticated 401   3
    ├── Forbidden                 forbidden       403   3
    ├── NotFound                  not_found       404   4
    ├── Conflict                  conflict        409   5
    ├── PayloadTooLarge           payload_too_large 413 2
    └── Unavailable               unavailable     503   6

The API maps these to HTTP in `gpufleet.api.errors`, the CLI to exit codes in
`gpufleet.cli.output`; nothing else decides how an error looks to a user.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One thing wrong with an input, at a path such as `rental_requests[3].end`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class GpufleetError(Exception):
    """Base of every error a user can cause or see."""

    code = "error"

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues: list[Issue] = list(issues or [])


class InvalidInput(GpufleetError):
    code = "invalid_input"


class ScenarioInvalid(InvalidInput):
    """A scenario broke one or more rules; `issues` holds every one of them."""

    code = "invalid_scenario"

    def __init__(self, issues: list[Issue]) -> None:
        count = len(issues)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"scenario has {count} {noun}", issues)


class NotAuthenticated(GpufleetError):
    code = "unauthenticated"


class Forbidden(GpufleetError):
    code = "forbidden"


class NotFound(GpufleetError):
    code = "not_found"

    @classmethod
    def of(cls, kind: str, ident: object) -> NotFound:
        # The same words whether the object is missing or belongs to another tenant, so that
        # a tenant cannot learn that another tenant's object exists.
        return cls(f"{kind} {ident!r} not found")


class Conflict(GpufleetError):
    code = "conflict"


class PayloadTooLarge(GpufleetError):
    code = "payload_too_large"


class Unavailable(GpufleetError):
    """A server or database that should answer does not."""

    code = "unavailable"
