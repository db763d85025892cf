"""Cross-site request forgery: refuse a state-changing request that a browser sent from another site.

A browser attaches the session cookie to any request for our host, even one a foreign page makes it send.
Every browser we serve marks where a request comes from (`Origin`, `Sec-Fetch-Site`, else `Referer`), so an
unsafe request (POST, PUT, PATCH, DELETE) whose marks name another site is refused; a request that carries
the session cookie must carry such a mark. API clients with a bearer token send no cookie and no mark.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_REFUSAL = {
    "problems": [
        {
            "code": "request.cross_site",
            "field": None,
            "vi": "Yêu cầu này đến từ một trang web khác nên bị từ chối; hãy thao tác từ trang của guestwork.",
            "en": "This request came from another web site and was refused; act from guestwork's own pages.",
        }
    ]
}


class SameOriginOnly:
    """ASGI middleware: let through safe methods, bearer clients and requests from our own pages."""

    def __init__(self, app: ASGIApp, session_cookie: str) -> None:
        self.app = app
        self.session_cookie = session_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or self._same_origin(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps(_REFUSAL, ensure_ascii=False).encode()
        headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _same_origin(self, scope: Scope) -> bool:
        headers: dict[str, str] = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        host = headers.get("host", "")
        origin = headers.get("origin")
        if origin is not None and origin != "null":
            return urlsplit(origin).netloc == host
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in ("same-origin", "none")
        referer = headers.get("referer")
        if referer:
            return urlsplit(referer).netloc == host
        return not _has_cookie(headers.get("cookie", ""), self.session_cookie) and origin is None


def _has_cookie(header: str, name: str) -> bool:
    return any(part.strip().startswith(f"{name}=") for part in header.split(";"))
