"""Domain errors and the bilingual problem messages they carry."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a command, in Vietnamese and English, tied to a field when it can be."""

    code: str
    vi: str
    en: str
    field: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """Return the problem as plain data for an API answer or a CLI line."""
        return {"code": self.code, "field": self.field, "vi": self.vi, "en": self.en}

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.en} / {self.vi}"


@dataclass
class DomainError(Exception):
    """A command refused for a reason the user can act on; nothing was written."""

    problems: list[Problem] = field(default_factory=list)
    http_status = 422

    def __post_init__(self) -> None:
        super().__init__("; ".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.problems)


class RecordInvalid(DomainError):
    """A record's fields are missing or malformed."""


class GuardFailed(DomainError):
    """The case does not meet what the transition requires."""


class TransitionNotAllowed(DomainError):
    """The trigger cannot fire from the case's current state."""

    http_status = 409


class NotFound(DomainError):
    """The case, record or reference named does not exist."""

    http_status = 404


class Conflict(DomainError):
    """The command was based on an old version of the case, or collides with existing data."""

    http_status = 409


class Forbidden(DomainError):
    """The actor may not do this."""

    http_status = 403


def problem(code: str, vi: str, en: str, field: str | None = None) -> Problem:
    """Build a problem; a short alias keeps guard code readable."""
    return Problem(code=code, vi=vi, en=en, field=field)


def required_reason(reason: str | None, needed_vi: str, needed_en: str) -> str:
    """Return a reason stripped, or refuse a missing one (with the message given) or one with a NUL character."""
    why = (reason or "").strip()
    if not why:
        raise RecordInvalid([problem("reason.required", needed_vi, needed_en, "reason")])
    if "\x00" in why:
        raise RecordInvalid(
            [problem("field.nul", "Lý do có ký tự NUL (\\0) không hợp lệ.", "The reason contains a NUL character (\\0).", "reason")]
        )
    return why
