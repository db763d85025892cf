"""The records each step of a case requires, validated with bilingual messages per field."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from workflows.errors import Problem, RecordInvalid, problem
from workflows.identity import age_on, personal_id_problems
from workflows.policy import Policy, add_months


def vi_date(day: date) -> str:
    """Format a date the Vietnamese way (dd/mm/yyyy)."""
    return day.strftime("%d/%m/%Y")


def vi_money(amount: int) -> str:
    """Format an amount of đồng the Vietnamese way (5.000.000)."""
    return f"{amount:,}".replace(",", ".")


def _not_future(value: date, info: ValidationInfo) -> date:
    today = (info.context or {}).get("today")
    if today is not None and value > today:
        raise PydanticCustomError(
            "date_in_future",
            "{en}",
            {
                "vi": f"Ngày {vi_date(value)} chưa tới (hôm nay là {vi_date(today)}).",
                "en": f"{value.isoformat()} is in the future (today is {today.isoformat()}).",
            },
        )
    return value


def _consent_given(value: bool) -> bool:
    if not value:
        raise PydanticCustomError(
            "consent_required",
            "{en}",
            {
                "vi": "Người lao động phải đồng ý cho xử lý dữ liệu cá nhân trước khi đăng ký (Luật 91/2025).",
                "en": "The worker must consent to the processing of personal data before registering (Law 91/2025).",
            },
        )
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
PastDate = Annotated[date, AfterValidator(_not_future)]


class Record(BaseModel):
    """Base of every record: unknown fields are refused, text is trimmed, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PriorityGroups(Record):
    """The facts that put a worker in a priority group for support and loans."""

    poor_household: bool = False
    near_poor_household: bool = False
    ethnic_minority: bool = False
    land_revoked: bool = False
    military_service_done: bool = False
    police_service_done: bool = False
    family_of_merit: bool = False
    youth_volunteer: bool = False

    def any(self) -> bool:
        """Tell whether the worker belongs to at least one priority group."""
        return any(self.model_dump().values())


class Consent(Record):
    """The worker's recorded consent to process personal data (Law 91/2025)."""

    given: Annotated[bool, AfterValidator(_consent_given)]
    given_on: PastDate
    method: Literal["signed_form", "electronic"] = "signed_form"


class Registration(Record):
    """Identity, residence, priority facts, consent and source of a newly registered worker."""

    full_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120)]
    date_of_birth: PastDate
    sex: Literal["male", "female"]
    personal_id: Annotated[str, StringConstraints(strip_whitespace=True)]
    ethnicity: Text = "Kinh"
    commune_code: Code
    village_code: Code
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(0|\+84)\d{9}$")]
    priority: PriorityGroups = PriorityGroups()
    consent: Consent
    source: Literal["walk_in", "village_outreach", "referral", "enterprise"]

    @model_validator(mode="after")
    def _identity_agrees(self, info: ValidationInfo) -> Registration:
        found = personal_id_problems(self.personal_id, self.date_of_birth, self.sex)
        context = info.context or {}
        today, policy = context.get("today"), context.get("policy")
        if today is not None and policy is not None:
            age = age_on(self.date_of_birth, today)
            if age < policy.min_age_years:
                found.append(
                    problem(
                        "age.minimum",
                        f"Người lao động mới {age} tuổi; phải đủ {policy.min_age_years} tuổi.",
                        f"The worker is {age}; the minimum age is {policy.min_age_years}.",
                        "date_of_birth",
                    )
                )
        if found:
            raise RecordInvalid(found)
        return self


class Counselling(Record):
    """Counselling by a licensed enterprise on a market and a job; selection is free (law)."""

    counselled_on: PastDate
    enterprise_licence: Code
    market_code: Code
    job: Text
    selection_fee_vnd: int = Field(default=0, ge=0)


class LanguageCertificate(Record):
    number: Code
    school_code: Code
    language: Text
    level: Text
    issued_on: PastDate


class OrientationCertificate(Record):
    """The mandatory orientation-education certificate (74 periods, valid 24 months)."""

    number: Code
    issued_on: PastDate
    periods: int = Field(ge=1, le=1000)
    issued_by_licence: Code


class VocationalCertificate(Record):
    number: Code
    school_code: Code
    trade: Text
    issued_on: PastDate
    in_depth: bool = False


class Training(Record):
    """Language and orientation certificates, and the vocational one when there is one."""

    language: LanguageCertificate
    orientation: OrientationCertificate
    vocational: VocationalCertificate | None = None


class Health(Record):
    """A health certificate from an approved facility."""

    facility_code: Code
    examined_on: PastDate
    certificate_number: Code
    result: Literal["fit", "unfit"]


class BankLoan(Record):
    """The policy bank's loan decision."""

    financing: Literal["bank_loan"]
    decision_number: Code
    branch: Text
    decided_on: PastDate
    amount_vnd: int = Field(gt=0)
    pre_departure_costs_vnd: int = Field(gt=0)
    collateral: Text | None = None


class SelfFinancing(Record):
    """A recorded declaration that the worker pays the costs without a loan."""

    financing: Literal["self_financed"]
    declared_on: PastDate
    note: Text


Loan = Annotated[BankLoan | SelfFinancing, Field(discriminator="financing")]


class Contract(Record):
    number: Code
    employer: Text
    country: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")]
    starts_on: date
    duration_months: int = Field(ge=1, le=120)


class Visa(Record):
    number: Code
    issued_on: PastDate
    valid_until: date | None = None


class Deposit(Record):
    """A deposit the enterprise took from the worker (capped per market by law)."""

    amount_vnd: int = Field(ge=0)
    paid_on: PastDate


class Departure(Record):
    """The contract, the visa, the deposit if one was taken, and the day the worker left."""

    contract: Contract
    visa: Visa
    departed_on: PastDate
    deposit: Deposit | None = None

    @property
    def expected_return_on(self) -> date:
        """Return the day the contract ends."""
        return add_months(self.contract.starts_on, self.contract.duration_months)


class Return(Record):
    """The worker's return: when and why."""

    returned_on: PastDate
    reason: Literal["completed", "early", "deported"]
    cause: Text | None = None

    @model_validator(mode="after")
    def _cause_when_not_completed(self) -> Return:
        if self.reason != "completed" and not self.cause:
            raise RecordInvalid(
                [
                    problem(
                        "field.required",
                        "Về nước trước hạn hoặc bị trục xuất: cần ghi rõ nguyên nhân.",
                        "An early return or a deportation needs its cause.",
                        "cause",
                    )
                ]
            )
        return self


class Withdrawal(Record):
    withdrawn_on: PastDate
    reason: Text


class Ineligibility(Record):
    decided_on: PastDate
    reason: Literal["health_unfit", "banned_from_leaving", "under_age", "other"]
    details: Text | None = None


class VisaRefusal(Record):
    refused_on: PastDate
    country: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")]
    reason: Text


class Overstay(Record):
    reported_on: PastDate
    kind: Literal["absconded", "overstayed"]
    details: Text


class Death(Record):
    reported_on: PastDate
    kind: Literal["deceased", "missing"]
    occurred_on: PastDate | None = None
    place: Text | None = None


class Reintegration(Record):
    referred_on: PastDate
    referral_to: Text
    job: Text


class Closure(Record):
    closed_on: PastDate
    reason: Text


class Reopening(Record):
    reopened_on: PastDate
    reason: Text


RECORD_TYPES: dict[str, Any] = {
    "registration": Registration,
    "counselling": Counselling,
    "training": Training,
    "health": Health,
    "loan": Loan,
    "departure": Departure,
    "return": Return,
    "withdrawal": Withdrawal,
    "ineligibility": Ineligibility,
    "visa_refusal": VisaRefusal,
    "overstay": Overstay,
    "death": Death,
    "reintegration": Reintegration,
    "closure": Closure,
    "reopening": Reopening,
}
_ADAPTERS = {kind: TypeAdapter(kind_type) for kind, kind_type in RECORD_TYPES.items()}

RECORD_LABELS: dict[str, tuple[str, str]] = {
    "registration": ("Phiếu đăng ký", "Registration"),
    "counselling": ("Biên bản tư vấn", "Counselling record"),
    "training": ("Chứng chỉ đào tạo", "Training certificates"),
    "health": ("Giấy chứng nhận sức khỏe", "Health certificate"),
    "loan": ("Quyết định cho vay / cam kết tự túc", "Loan decision or self-financing declaration"),
    "departure": ("Hợp đồng, thị thực, ngày xuất cảnh", "Contract, visa and departure"),
    "return": ("Thông tin về nước", "Return"),
    "withdrawal": ("Đơn rút hồ sơ", "Withdrawal"),
    "ineligibility": ("Kết luận không đủ điều kiện", "Ineligibility decision"),
    "visa_refusal": ("Thông báo từ chối thị thực", "Visa refusal"),
    "overstay": ("Báo cáo bỏ trốn / cư trú bất hợp pháp", "Absconding or overstay report"),
    "death": ("Báo tử / mất tích", "Death or disappearance report"),
    "reintegration": ("Giới thiệu việc làm sau về nước", "Reintegration referral"),
    "closure": ("Kết thúc hồ sơ", "Case closure"),
    "reopening": ("Mở lại hồ sơ", "Reopening"),
}


def validate_record(kind: str, data: Any, today: date, policy: Policy) -> Any:
    """Parse a record of a kind from plain data, or raise RecordInvalid naming each bad field."""
    adapter = _ADAPTERS.get(kind)
    _refuse_nul(data)
    if adapter is None:
        known = ", ".join(sorted(RECORD_TYPES))
        raise RecordInvalid(
            [problem("record.kind", f"Không có loại hồ sơ '{kind}' (có: {known}).", f"No record kind '{kind}' (known: {known}).", "kind")]
        )
    try:
        return adapter.validate_python(data, context={"today": today, "policy": policy})
    except ValidationError as error:
        raise RecordInvalid(_translate(error, kind)) from None


def validate_model(model: type[BaseModel], data: Any, today: date, policy: Policy) -> Any:
    """Parse plain data into a model built on these record types, or raise RecordInvalid naming each bad field."""
    _refuse_nul(data)
    try:
        return model.model_validate(data, context={"today": today, "policy": policy})
    except ValidationError as error:
        raise RecordInvalid(_translate(error, model.__name__)) from None


def _refuse_nul(data: Any) -> None:
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


def record_data(record: Any) -> dict[str, Any]:
    """Return a validated record as JSON-ready data."""
    data: dict[str, Any] = record.model_dump(mode="json", exclude_none=True)
    return data


def _translate(error: ValidationError, kind: str) -> list[Problem]:
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


def load_record(kind: str, data: Any) -> Any:
    """Rebuild a record that was validated when it was written (no checks against today)."""
    return _ADAPTERS[kind].validate_python(data)


def references_of(*records: Any) -> dict[str, set[str]]:
    """Return the reference codes some records name, by table: enterprises, facilities, schools."""
    named: dict[str, set[str]] = {"enterprises": set(), "facilities": set(), "schools": set()}
    for record in records:
        if isinstance(record, Counselling):
            named["enterprises"].add(record.enterprise_licence)
        elif isinstance(record, Training):
            named["enterprises"].add(record.orientation.issued_by_licence)
            named["schools"].add(record.language.school_code)
            if record.vocational is not None:
                named["schools"].add(record.vocational.school_code)
        elif isinstance(record, Health):
            named["facilities"].add(record.facility_code)
    return named


def record_fields(kind: str) -> list[tuple[str, bool]]:
    """Return a record kind's top-level fields and whether each is required."""
    kind_type = RECORD_TYPES[kind]
    models: list[type[Record]] = [BankLoan, SelfFinancing] if kind == "loan" else [kind_type]
    fields: dict[str, bool] = {}
    for model in models:
        for name, info in model.model_fields.items():
            fields[name] = fields.get(name, True) and info.is_required()
    return list(fields.items())


@dataclass(frozen=True)
class FormField:
    """One input of a record's form: its dotted path, input type, whether required, and the choices of a list."""

    path: str
    kind: str  # text, date, number, checkbox, select
    required: bool
    choices: tuple[str, ...] = ()


def form_fields(kind: str) -> list[FormField]:
    """Return a record kind's fields flattened to dotted paths (nested groups included), for a web form."""
    models: list[type[BaseModel]] = [BankLoan, SelfFinancing] if kind == "loan" else [RECORD_TYPES[kind]]
    per_model = [{item.path: item for item in _flatten(model, "", True)} for model in models]
    found: dict[str, FormField] = {}
    for fields in per_model:
        for path, item in fields.items():
            required = all(path in other and other[path].required for other in per_model)  # a union's field: needed by each side
            choices = tuple(dict.fromkeys((*found[path].choices, *item.choices))) if path in found else item.choices
            found[path] = FormField(path, item.kind, required, choices)
    return list(found.values())


def _flatten(model: type[BaseModel], prefix: str, required: bool) -> list[FormField]:
    fields: list[FormField] = []
    for name, info in model.model_fields.items():
        annotation, needed = info.annotation, required and info.is_required()
        arguments = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(arguments) == 1:
            annotation = arguments[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields += _flatten(annotation, f"{prefix}{name}.", needed)
        elif typing.get_origin(annotation) is Literal:
            fields.append(FormField(prefix + name, "select", needed, tuple(str(a) for a in typing.get_args(annotation))))
        else:
            kind = {date: "date", int: "number", bool: "checkbox"}.get(annotation, "text")  # type: ignore[arg-type]
            fields.append(FormField(prefix + name, kind, needed and kind != "checkbox"))
    return fields
