"""The HTTP application: the JSON API, the web pages, and the one place where refusals become HTTP answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from services.api.intake_routes import intake_api
from services.api.routes import api
from services.runtime import Runtime, build_runtime
from services.web.intake_pages import intake_pages
from services.web.pages import pages, refusal_page
from workflows.errors import DomainError

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


def create_app(rt: Runtime | None = None) -> FastAPI:
    """Build the application over a runtime (from settings unless a test gives one)."""
    app = FastAPI(
        title="guestwork",
        summary="Case workflows for Vietnamese communes sending residents to work abroad under contract",
        version="0.1.0",
    )
    app.state.runtime = rt or build_runtime()

    @app.exception_handler(DomainError)
    def refused(request: Request, error: DomainError) -> Response:
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            headers = {"Retry-After": "900"} if error.http_status == 429 else None
            return JSONResponse({"problems": [p.as_dict() for p in error.problems]}, status_code=error.http_status, headers=headers)
        return refusal_page(request, error)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(jsonable_encoder({"problems": _validation_problems(error)}), status_code=422)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        """Say that the application answers (no database round trip)."""
        return {"status": "ok"}

    app.include_router(api)
    app.include_router(intake_api)
    app.include_router(pages)
    app.include_router(intake_pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
