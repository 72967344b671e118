"""What a call can fail with: the service's refusal (a problem document with
its ``error_class``), or no answer at all after the retries the call was allowed."""

from __future__ import annotations

import json
from typing import Any

import httpx


class ProblemError(Exception):
    """The service refused the request.

    ``error_class`` is the problem's fixed class (``ProcedureCannotHold``, ...), or
    ``UnexpectedResponse`` for an answer that is not a problem document (a proxy's
    error page, say). ``errors`` lists the offending fields of a validation failure.
    """

    def __init__(
        self,
        status: int,
        error_class: str,
        detail: str,
        *,
        title: str = "",
        type: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{error_class}: {detail}" if detail else error_class)
        self.status = status
        self.error_class = error_class
        self.detail = detail
        self.title = title
        self.type = type
        self.errors = errors or []
        self.request_id = request_id

    @classmethod
    def from_response(cls, response: httpx.Response) -> ProblemError:
        """The problem a (read) response carries; one made up when it carries none."""
        text = response.text
        if "json" in response.headers.get("content-type", ""):
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("error_class"), str):
                errors = body.get("errors")
                return cls(
                    status=int(body.get("status", response.status_code)),
                    error_class=body["error_class"],
                    detail=str(body.get("detail", "")),
                    title=str(body.get("title", response.reason_phrase)),
                    type=str(body.get("type", "about:blank")),
                    errors=errors if isinstance(errors, list) else None,
                    request_id=body.get("request_id") or response.headers.get("x-request-id"),
                )
        return cls(
            status=response.status_code,
            error_class="UnexpectedResponse",
            detail=text[:500],
            title=response.reason_phrase or f"HTTP {response.status_code}",
            request_id=response.headers.get("x-request-id"),
        )


class NetworkError(Exception):
    """No answer from the service (connection lost, timeout) after the allowed attempts."""


def is_problem(error: BaseException, error_class: str | None = None) -> bool:
    """True when ``error`` is the service's refusal, of ``error_class`` when one is given."""
    return isinstance(error, ProblemError) and (error_class is None or error.error_class == error_class)
