"""What every route depends on: the runtime and the user behind the request (session cookie or bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services import auth
from services.runtime import Runtime
from services.users import Actor
from workflows.errors import problem

SESSION_COOKIE = "gw_session"
_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/auth/token.")


async def runtime(request: Request) -> Runtime:
    """Return the runtime the app was built with (async: no I/O, so FastAPI need not send it to a worker thread)."""
    rt: Runtime = request.app.state.runtime
    return rt


def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """Return the bearer token, else the session cookie's."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials
    return request.cookies.get(SESSION_COOKIE)


async def request_token(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Return the request's bearer token or session cookie, or refuse with 401 (async: no I/O, no worker thread)."""
    token = token_of(request, credentials)
    if not token:
        raise auth.NotAuthenticated([problem("auth.required", "Hãy đăng nhập.", "Please log in.", None)])
    return token


def current_actor(rt: Annotated[Runtime, Depends(runtime)], token: Annotated[str, Depends(request_token)]) -> Actor:
    """Return the logged-in user, or refuse with 401 (403 while they still have the password an admin chose)."""
    return auth.authenticate(rt, token)


def account_actor(rt: Annotated[Runtime, Depends(runtime)], token: Annotated[str, Depends(request_token)]) -> Actor:
    """Return the logged-in user, also one who must still choose their own password (for their account's routes)."""
    return auth.authenticate(rt, token, allow_admin_password=True)


def remote_address(request: Request) -> str:
    """Return the client's address (for the login rate limit)."""
    return request.client.host if request.client else "unknown"


Rt = Annotated[Runtime, Depends(runtime)]
Me = Annotated[Actor, Depends(current_actor)]
Account = Annotated[Actor, Depends(account_actor)]
# The request's token itself: for a route that checks it on its own transaction (auth.actor_for_token) beside what it
# reads, or that acts on it (logging out, keeping it across a password change).
Token = Annotated[str, Depends(request_token)]
