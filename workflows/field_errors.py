"""Bilingual messages for the fields of a record that failed validation."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from workflows.errors import Problem, RecordInvalid, problem


def refuse_nul(data: Any) -> None:
    """Raise RecordInvalid naming the first text that holds a NUL character."""
    nul = _nul_path(data)
    if nul is not None:
        raise RecordInvalid(
            [problem("field.nul", "Có ký tự NUL (\\0) không hợp lệ.", "Contains a NUL character (\\0), which is not allowed.", nul)]
        )


def _nul_path(data: Any, path: str = "") -> str | None:
    """Return the path of the first text holding a NUL character (no database stores one)."""
    if isinstance(data, str):
        return path if "\x00" in data else None
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _nul_path(value, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def translate_errors(error: ValidationError, kind: str) -> list[Problem]:
    """Turn pydantic's errors for a record kind into bilingual problems, one per field."""
    found: list[Problem] = []
    for item in error.errors(include_url=False):
        path = [str(part) for part in item["loc"] if not str(part).startswith("function-")]
        if kind == "loan" and path and path[0] in ("bank_loan", "self_financed"):
            path = path[1:]  # the union's tag is not a field the user wrote
        context = {key: str(value).strip("'") if key == "discriminator" else value for key, value in (item.get("ctx") or {}).items()}
        if item["type"] == "union_tag_not_found":
            path = [context["discriminator"]]
        field = ".".join(path)
        nested = context.get("error")
        if isinstance(nested, RecordInvalid):
            found.extend(nested.problems)
            continue
        vi, en = _MESSAGES.get(item["type"], ("Giá trị không hợp lệ: {msg}", "Invalid value: {msg}"))
        values = {**context, "msg": item["msg"], "expected_vi": str(context.get("expected", "")).replace(" or ", " hoặc ")}
        if "vi" in context:
            vi, en = context["vi"], context["en"]
        found.append(problem(f"field.{item['type']}", vi.format(**values), en.format(**values), field or None))
    return found


_MESSAGES = {
    "missing": ("Thiếu trường bắt buộc.", "This field is required."),
    "extra_forbidden": ("Trường này không có trong mẫu hồ sơ.", "This field is not part of the record."),
    "string_too_short": ("Không được để trống (tối thiểu {min_length} ký tự).", "Must not be empty (at least {min_length} characters)."),
    "string_too_long": ("Quá dài (tối đa {max_length} ký tự).", "Too long (at most {max_length} characters)."),
    "string_pattern_mismatch": ("Sai định dạng (mẫu {pattern}).", "Wrong format (pattern {pattern})."),
    "string_type": ("Phải là chuỗi ký tự.", "Must be text."),
    "date_parsing": ("Ngày không hợp lệ; dùng dạng YYYY-MM-DD.", "Not a valid date; use YYYY-MM-DD."),
    "date_from_datetime_parsing": ("Ngày không hợp lệ; dùng dạng YYYY-MM-DD.", "Not a valid date; use YYYY-MM-DD."),
    "date_from_datetime_inexact": ("Chỉ nhập ngày, không nhập giờ.", "Give a date without a time."),
    "date_type": ("Ngày không hợp lệ; dùng dạng YYYY-MM-DD.", "Not a valid date; use YYYY-MM-DD."),
    "int_parsing": ("Phải là số nguyên.", "Must be a whole number."),
    "int_type": ("Phải là số nguyên.", "Must be a whole number."),
    "int_from_float": ("Phải là số nguyên.", "Must be a whole number."),
    "greater_than": ("Phải lớn hơn {gt}.", "Must be greater than {gt}."),
    "greater_than_equal": ("Phải từ {ge} trở lên.", "Must be at least {ge}."),
    "less_than_equal": ("Phải không quá {le}.", "Must be at most {le}."),
    "literal_error": ("Giá trị phải là một trong: {expected_vi}.", "Must be one of: {expected}."),
    "bool_parsing": ("Phải là đúng/sai (true/false).", "Must be true or false."),
    "bool_type": ("Phải là đúng/sai (true/false).", "Must be true or false."),
    "model_type": ("Phải là một nhóm trường (đối tượng).", "Must be an object of fields."),
    "model_attributes_type": ("Phải là một nhóm trường (đối tượng).", "Must be an object of fields."),
    "dict_type": ("Phải là một nhóm trường (đối tượng).", "Must be an object of fields."),
    "union_tag_invalid": (
        "Giá trị '{tag}' không hợp lệ; phải là một trong: {expected_tags}.",
        "'{tag}' is not valid; use one of: {expected_tags}.",
    ),
    "union_tag_not_found": ("Thiếu trường '{discriminator}'.", "The field '{discriminator}' is missing."),
}
