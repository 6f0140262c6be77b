"""Body limits: a request's body is bounded before anything parses it.

Forms, JSON and the Skype upload are read by Starlette's parsers, which
would otherwise take a body of any size, and a form's CSRF field can only be
checked once the form is parsed. :class:`BodyLimits` wraps the request's
``receive``: a ``Content-Length`` over the limit is refused on the first read,
and a body sent in chunks (no length given) as soon as the chunks go over it.
The refusal is Starlette's ``HTTPException(413)``, which the handlers of
:mod:`vardmote.web.problems` answer in Swedish: problem JSON under ``/api/``,
an error page elsewhere. A route that never reads its body is not affected.

Trade-off: the limit is per path, not per route: only the Skype upload
(``POST /admin/skype``) takes a large file; everything else is a form or a
small JSON object.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vardmote.skype.calendar_export import MAX_FILE_BYTES

BODY_MAX_BYTES = 1024 * 1024
"""A form or a JSON body at most (the largest, an invitation template, is a few KiB)."""
UPLOAD_MAX_BYTES = MAX_FILE_BYTES + 1024 * 1024
"""The Skype upload at most: the file's own limit and room for the form around it."""
UPLOAD_PATHS = frozenset({"/admin/skype"})
"""Paths whose body may be a Skype calendar export (multipart)."""


def body_limit(path: str) -> int:
    """body_limit is the largest body a request to path may send."""
    return UPLOAD_MAX_BYTES if path in UPLOAD_PATHS else BODY_MAX_BYTES


class BodyLimits:
    """BodyLimits refuses a request body over :func:`body_limit` before it is parsed (413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = _content_length(scope)
        received = 0

        async def bounded() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, bounded, send)


def _content_length(scope: Scope) -> int | None:
    raw = Headers(scope=scope).get("content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None
