"""The records each step of a case requires, validated with bilingual messages per field."""

from __future__ import annotations

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

from workflows.errors import RecordInvalid, problem
from workflows.field_errors import refuse_nul, translate_errors
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
    refuse_nul(data)
    if adapter is None:
        known = ", ".join(sorted(RECORD_TYPES))
        raise RecordInvalid(
            [problem("record.kind", f"Không có loại hồ sơ '{kind}' (có: {known}).", f"No record kind '{kind}' (known: {known}).", "kind")]
        )
    try:
        return adapter.validate_python(data, context={"today": today, "policy": policy})
    except ValidationError as error:
        raise RecordInvalid(translate_errors(error, kind)) from None


def validate_model(model: type[BaseModel], data: Any, today: date, policy: Policy) -> Any:
    """Parse plain data into a model built on these record types, or raise RecordInvalid naming each bad field."""
    refuse_nul(data)
    try:
        return model.model_validate(data, context={"today": today, "policy": policy})
    except ValidationError as error:
        raise RecordInvalid(translate_errors(error, model.__name__)) from None


def record_data(record: Any) -> dict[str, Any]:
    """Return a validated record as JSON-ready data."""
    data: dict[str, Any] = record.model_dump(mode="json", exclude_none=True)
    return data


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
