"""The HTTP application: the JSON API, the web pages, and the one place where refusals become HTTP answers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.admin_routes import admin_api
from services.api.deps import SESSION_COOKIE
from services.api.intake_routes import intake_api
from services.api.periodic_report_routes import periodic_report_api
from services.api.report_routes import report_api
from services.api.routes import api
from services.api.same_origin import SameOriginOnly
from services.key_check import check_keys
from services.runtime import Runtime, build_runtime
from services.web.admin_pages import admin_pages
from services.web.intake_pages import intake_pages
from services.web.pages import pages, refusal_page
from services.web.plan_pages import plan_pages
from services.web.report_pages import report_pages
from workflows.errors import DomainError, Problem, problem

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

# Vietnamese for the validation errors pydantic reports most (its English message is kept beside it).
_VI = {
    "missing": "Thiếu trường bắt buộc.",
    "string_too_short": "Quá ngắn.",
    "string_too_long": "Quá dài.",
    "int_parsing": "Phải là một số nguyên.",
    "int_type": "Phải là một số nguyên.",
    "greater_than_equal": "Giá trị quá nhỏ.",
    "less_than_equal": "Giá trị quá lớn.",
    "greater_than": "Giá trị quá nhỏ.",
    "less_than": "Giá trị quá lớn.",
    "bool_parsing": "Phải là đúng hoặc sai (true/false).",
    "dict_type": "Phải là một đối tượng JSON.",
    "model_attributes_type": "Phải là một đối tượng JSON.",
    "list_type": "Phải là một danh sách.",
    "too_short": "Danh sách quá ngắn.",
    "too_long": "Danh sách quá dài.",
    "json_invalid": "JSON không hợp lệ.",
    "string_type": "Phải là chuỗi ký tự.",
}


# What the framework itself refuses (an unknown address, a wrong method), said as our refusals are.
_HTTP_ERRORS = {
    404: ("Không có trang hoặc đối tượng này.", "There is no such page or object."),
    405: ("Không dùng được phương thức này ở địa chỉ này.", "This method is not allowed at this address."),
}


class _HttpRefusal(DomainError):
    """A refusal raised by the framework (routing), carried to the same handler as ours."""

    def __init__(self, problems: list[Problem], status: int) -> None:
        super().__init__(problems)
        self.http_status = status


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(location[-1] if location else "")


def _validation_problems(error: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "code": f"field.{item['type']}",
            "field": _field(tuple(item.get("loc", ()))),
            "vi": _VI.get(item["type"], "Giá trị không hợp lệ."),
            "en": str(item.get("msg", "Invalid value.")),
        }
        for item in error.errors()
    ]


class NoStore:
    """ASGI middleware: no browser or proxy keeps a copy of an answer (they hold personal data), static files aside."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, no_store)


class _PathsWithoutQuery(logging.Filter):
    """Drop the query string from access-log lines: a search by personal ID (`?q=…`) must not land in a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            record.args = (*record.args[:2], record.args[2].split("?", 1)[0], *record.args[3:])
        return True


@asynccontextmanager
async def _frozen_at_start(app: FastAPI) -> AsyncIterator[None]:
    """Once the server has started, take what it built (routes, models, schemas: ~165,000 objects) out of the cyclic
    garbage collector's reach. Else each full collection walks them all: a 50 ms pause in whichever requests are
    running, a p99 of ~150 ms for the inbox at 20 clients (bench/api.py)."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()  # a server in a thread (the browser tests) leaves the process collectable as it found it


def create_app(rt: Runtime | None = None) -> FastAPI:
    """Build the application over a runtime (from settings unless a test gives one)."""
    app = FastAPI(
        title="guestwork",
        summary="Case workflows for Vietnamese communes sending residents to work abroad under contract",
        version="0.1.0",
        lifespan=_frozen_at_start,
    )
    app.state.runtime = rt or build_runtime()
    check_keys(app.state.runtime)
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _PathsWithoutQuery) for f in access_log.filters):
        access_log.addFilter(_PathsWithoutQuery())

    @app.exception_handler(DomainError)
    def refused(request: Request, error: DomainError) -> Response:
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            headers = {"Retry-After": "900"} if error.http_status == 429 else None
            return JSONResponse({"problems": [p.as_dict() for p in error.problems]}, status_code=error.http_status, headers=headers)
        return refusal_page(request, error)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code < 400:  # a page's redirect to the login
            return Response(status_code=error.status_code, headers=error.headers)
        vi, en = _HTTP_ERRORS.get(error.status_code, ("Yêu cầu không thực hiện được.", str(error.detail)))
        answer = refused(request, _HttpRefusal([problem(f"http.{error.status_code}", vi, en, None)], error.status_code))
        answer.headers.update(error.headers or {})  # e.g. a 405's Allow
        return answer

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(jsonable_encoder({"problems": _validation_problems(error)}), status_code=422)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """Say that the application answers (no database round trip)."""
        return {"status": "ok"}

    app.include_router(api)
    app.include_router(admin_api)
    app.include_router(intake_api)
    app.include_router(report_api)
    app.include_router(periodic_report_api)
    app.include_router(pages)
    app.include_router(admin_pages)
    app.include_router(intake_pages)
    app.include_router(plan_pages)
    app.include_router(report_pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SameOriginOnly, session_cookie=SESSION_COOKIE)
    app.add_middleware(NoStore)
    return app
