"""Referrals of youths who finished military or police service: made by police or military, converted or declined by social policy."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import aliased

from services import access, cases, places
from services.models import AdminUnit, Referral, User
from services.runtime import Runtime
from services.users import Actor
from workflows.errors import Conflict, Forbidden, NotFound, RecordInvalid, problem, required_reason
from workflows.records import validate_model, vi_date
from workflows.referrals import SERVICE_FACT, STATUSES, ReferralForm, registration_from

# Who reads referrals: the referring departments (their own department's), social policy, supervisors, auditors.
READING_DEPARTMENTS = ("social_policy", *SERVICE_FACT)


def refer(rt: Runtime, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Refer a youth who finished their service to social policy (police or military officers, or a supervisor naming one)."""
    department = _referring_department(actor, data.get("department"))
    form: ReferralForm = _validate({key: value for key, value in data.items() if key != "department"}, rt)
    now = rt.clock.now()
    with rt.unit_of_work() as conn:
        place, problems = places.in_scope(conn, actor).find(form.commune, form.village, commune_field="commune", village_field="village")
        if place is None:  # a commune outside the scope is refused as registering there would be (403); a typo is a 422
            outside = any(p.code == "unit.commune" for p in problems) and _is_a_commune(conn, form.commune)
            raise (Forbidden if outside else RecordInvalid)(problems)
        values = {
            "commune_id": place.commune_id, "village_id": place.village_id, "department": department, "referred_by": actor.user_id,
            "full_name": form.full_name, "date_of_birth": form.date_of_birth, "phone": form.phone, "service_ended_on": form.service_ended_on,
            "note": form.note, "status": "open", "created_at": now,
        }  # fmt: skip
        referral_id = int(conn.execute(insert(Referral).returning(Referral.id), values).scalar_one())
        return _one(conn, referral_id)


def list_referrals(rt: Runtime, actor: Actor, *, status: str | None = None, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """List the referrals a user may see in their communes (a police or military officer: their department's), newest last."""
    _require_reader(actor)
    if status is not None and status not in STATUSES:
        vi, en = f"Trạng thái phải là một trong: {', '.join(STATUSES)}.", f"The status must be one of: {', '.join(STATUSES)}."
        raise RecordInvalid([problem("referral.status", vi, en, "status")])
    query = _SELECT.where(Referral.id > after_id).order_by(Referral.id).limit(limit)
    if actor.communes is not None:
        query = query.where(Referral.commune_id.in_(sorted(actor.communes)))
    if actor.role == "officer" and actor.department in SERVICE_FACT:
        query = query.where(Referral.department == actor.department)
    if status is not None:
        query = query.where(Referral.status == status)
    with rt.unit_of_work(writes=False) as conn:
        return [_shown(row) for row in conn.execute(query)]


def get_referral(rt: Runtime, actor: Actor, referral_id: int) -> dict[str, Any]:
    """Return one referral the user may see (outside what they may see it does not exist)."""
    _require_reader(actor)
    with rt.unit_of_work(writes=False) as conn:
        return _visible(conn, actor, referral_id)


def convert(rt: Runtime, actor: Actor, referral_id: int, given: dict[str, Any]) -> tuple[dict[str, Any], cases.CaseRef]:
    """Register the referred youth (source: referral) and close the referral with its case, in one transaction.

    `given` is what social policy recorded on meeting the youth: personal ID, sex, consent, other priority facts, and
    any correction of the referral's name, birth date, phone or village.
    """
    with rt.unit_of_work(writes=False) as conn:
        shown = _open_for_social_policy(conn, actor, referral_id, "chuyển thành hồ sơ", "convert")
    start = {"full_name": shown["full_name"], "date_of_birth": shown["date_of_birth"], "phone": shown["phone"],
             "commune_code": shown["commune_code"], "village_code": shown["village_code"]}  # fmt: skip
    record = registration_from(start, shown["department"], given)

    def close_with(conn: Connection, case_id: int) -> None:
        _close(conn, rt, actor, referral_id, {"status": "converted", "case_id": case_id})

    ref = cases.register(rt, actor, record, link=close_with)
    return get_referral(rt, actor, referral_id), ref


def decline(rt: Runtime, actor: Actor, referral_id: int, reason: str) -> dict[str, Any]:
    """Decline a referral with the reason (social policy), e.g. the youth does not want to work abroad."""
    why = required_reason(reason, "Từ chối phải ghi lý do (tối đa 2000 ký tự).", "A decline needs a reason (at most 2000 characters).")
    if len(why) > 2000:
        vi, en = "Lý do dài quá 2000 ký tự.", "The reason is longer than 2000 characters."
        raise RecordInvalid([problem("reason.too_long", vi, en, "reason")])
    with rt.unit_of_work() as conn:
        _open_for_social_policy(conn, actor, referral_id, "từ chối", "decline")
        _close(conn, rt, actor, referral_id, {"status": "declined", "decline_reason": why})
        return _one(conn, referral_id)


def _is_a_commune(conn: Connection, code: str | None) -> bool:
    return code is not None and conn.scalar(select(AdminUnit.id).where(AdminUnit.code == code, AdminUnit.kind == "commune")) is not None


def _referring_department(actor: Actor, named: Any) -> str:
    if actor.role == "officer" and actor.department in SERVICE_FACT:
        if named not in (None, actor.department):
            vi, en = f"Bạn giới thiệu thay mặt bộ phận {actor.department}.", f"You refer on behalf of {actor.department}."
            raise RecordInvalid([problem("referral.department", vi, en, "department")])
        return actor.department
    if actor.role == "supervisor":
        if not isinstance(named, str) or named not in SERVICE_FACT:
            vi, en = (
                "Lãnh đạo giới thiệu phải ghi bộ phận: police hoặc military.",
                "A supervisor's referral names its department: police or military.",
            )
            raise RecordInvalid([problem("referral.department", vi, en, "department")])
        return str(named)
    raise Forbidden(
        [problem("referral.not_referrer", f"Chỉ công an và quân sự xã mới giới thiệu được; {actor.username} ({actor.department or actor.role}) không được.",
                 f"Only police and military refer; {actor.username} ({actor.department or actor.role}) may not.", "actor")]
    )  # fmt: skip


def _validate(data: dict[str, Any], rt: Runtime) -> ReferralForm:
    form: ReferralForm = validate_model(ReferralForm, data, rt.today(), rt.policy)
    return form


def _require_reader(actor: Actor) -> None:
    access.require_role(actor, ("officer", "supervisor", "auditor", "system"), "xem giới thiệu", "read referrals")
    if actor.role == "officer" and actor.department not in READING_DEPARTMENTS:
        vi, en = f"Bộ phận {actor.department} không xem được giới thiệu.", f"Department {actor.department} may not read referrals."
        raise Forbidden([problem("referral.not_reader", vi, en, "actor")])


def _visible(conn: Connection, actor: Actor, referral_id: int) -> dict[str, Any]:
    row = conn.execute(_SELECT.where(Referral.id == referral_id)).first()
    mine = row is not None and actor.covers(row.commune_id)
    if row is None or not mine or (actor.role == "officer" and actor.department in SERVICE_FACT and row.department != actor.department):
        raise NotFound([problem("referral.unknown", f"Không có giới thiệu số {referral_id}.", f"No referral {referral_id}.", "id")])
    return _shown(row)


def may_convert(actor: Actor) -> bool:
    """Tell whether this user converts or declines referrals (social policy, supervisors)."""
    return actor.role in ("supervisor", "system") or actor.department == "social_policy"


def may_refer(actor: Actor) -> bool:
    """Tell whether this user refers youths (police and military officers, or a supervisor naming one of them)."""
    return actor.role == "supervisor" or (actor.role == "officer" and actor.department in SERVICE_FACT)


def _open_for_social_policy(conn: Connection, actor: Actor, referral_id: int, verb_vi: str, verb_en: str) -> dict[str, Any]:
    """Return an open referral that this user may convert or decline, or refuse (404 outside the scope, 403, 409)."""
    _require_reader(actor)
    shown = _visible(conn, actor, referral_id)
    if not may_convert(actor):
        vi, en = f"Chỉ bộ phận chính sách xã hội mới được {verb_vi} giới thiệu.", f"Only social policy may {verb_en} a referral."
        raise Forbidden([problem("referral.social_policy_only", vi, en, "actor")])
    if shown["status"] != "open":
        raise Conflict([_closed(shown)])
    return shown


def _close(conn: Connection, rt: Runtime, actor: Actor, referral_id: int, values: dict[str, Any]) -> None:
    """Close an open referral; of two officers closing it at once, the second is told it changed."""
    closing = update(Referral).where(Referral.id == referral_id, Referral.status == "open")
    if conn.execute(closing.values(closed_at=rt.clock.now(), closed_by=actor.user_id, **values)).rowcount != 1:
        vi, en = (
            f"Giới thiệu số {referral_id} vừa được người khác xử lý; tải lại.",
            f"Referral {referral_id} was just handled by someone else; reload.",
        )
        raise Conflict([problem("referral.changed", vi, en, "id")])


def _closed(shown: dict[str, Any]) -> Any:
    when: date = shown["closed_at"].date()
    if shown["status"] == "converted":
        vi = f"Giới thiệu số {shown['id']} đã thành hồ sơ số {shown['case_id']} ngày {vi_date(when)}."
        en = f"Referral {shown['id']} became case {shown['case_id']} on {when.isoformat()}."
    else:
        vi = f"Giới thiệu số {shown['id']} đã bị từ chối ngày {vi_date(when)}: {shown['decline_reason']}"
        en = f"Referral {shown['id']} was declined on {when.isoformat()}: {shown['decline_reason']}"
    return problem("referral.closed", vi, en, "id")


def _one(conn: Connection, referral_id: int) -> dict[str, Any]:
    return _shown(conn.execute(_SELECT.where(Referral.id == referral_id)).one())


_COMMUNE, _VILLAGE, _REFERRER, _CLOSER = aliased(AdminUnit), aliased(AdminUnit), aliased(User), aliased(User)
_SELECT = (
    select(
        *Referral.__table__.c, _COMMUNE.code.label("commune_code"), _COMMUNE.name.label("commune"), _VILLAGE.code.label("village_code"),
        _VILLAGE.name.label("village"), _REFERRER.username.label("referred_by_name"), _CLOSER.username.label("closed_by_name"),
    )
    .join(_COMMUNE, _COMMUNE.id == Referral.commune_id)
    .join(_VILLAGE, _VILLAGE.id == Referral.village_id)
    .join(_REFERRER, _REFERRER.id == Referral.referred_by)
    .outerjoin(_CLOSER, _CLOSER.id == Referral.closed_by)
)  # fmt: skip


def _shown(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "status": row.status, "department": row.department, "commune_id": row.commune_id, "commune_code": row.commune_code,
        "commune": row.commune, "village_code": row.village_code, "village": row.village, "full_name": row.full_name,
        "date_of_birth": row.date_of_birth.isoformat(), "phone": row.phone, "service_ended_on": row.service_ended_on.isoformat(),
        "note": row.note, "referred_by": row.referred_by_name, "created_at": row.created_at, "closed_at": row.closed_at,
        "closed_by": row.closed_by_name, "case_id": row.case_id, "decline_reason": row.decline_reason,
    }  # fmt: skip
