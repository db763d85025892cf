"""The JSON API: cases, their records, history, proof and clocks; work items; the personal-data log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from services import access, auth, cases, deadlines, extensions, outbox, queries, work, work_queries
from services.api import schemas
from services.api.deps import Account, Me, Rt, Token, remote_address
from services.users import Actor
from workflows.errors import DomainError, Forbidden, NotFound, problem
from workflows.records import RECORD_TYPES

REFUSALS: dict[int | str, dict[str, Any]] = {code: {"model": schemas.ProblemsOut} for code in (401, 403, 404, 409, 422, 429)}
api = APIRouter(prefix="/api", responses=REFUSALS)

CaseId = Annotated[int, Path(ge=1, le=2**62, description="The case number.")]
ItemId = Annotated[int, Path(ge=1, le=2**62, description="The work item number.")]
Limit = Annotated[int, Query(ge=1, le=200)]


@api.post("/auth/token", response_model=schemas.TokenOut, tags=["auth"])
def issue_token(rt: Rt, request: Request, body: schemas.LoginIn) -> schemas.TokenOut:
    """Log in with a user name and password; returns a bearer token for API clients (30 days)."""
    login = auth.login(rt, body.username, body.password, remote_address(request), kind="api")
    return schemas.TokenOut(access_token=login.token, expires_at=login.expires_at)


@api.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def revoke_token(rt: Rt, me: Account, token: Token) -> Response:
    """Revoke the token (or session) this request came with: its bearer token, else its session cookie."""
    auth.logout(rt, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api.get("/me", response_model=schemas.MeOut, tags=["auth"])
def who_am_i(rt: Rt, me: Account) -> schemas.MeOut:
    """Return the logged-in user, how many notifications they have not read, and whether they must choose a password."""
    unread = outbox.unread_count(rt, me.user_id) if me.user_id is not None else 0
    return schemas.MeOut(username=me.username, role=me.role, department=me.department, unit_id=me.unit_id, unread_notifications=unread,
                         password_change_required=me.password_change_required)  # fmt: skip


@api.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def change_own_password(rt: Rt, me: Account, token: Token, request: Request, body: schemas.PasswordChangeIn) -> Response:
    """Choose your own password (needed first when an admin set it); your other sessions and tokens end, this one stays."""
    auth.change_password(rt, me, token, body.current_password, body.new_password, remote_address(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- cases ------------------------------------------------------------------------------------------------------------


@api.get("/cases", response_model=schemas.CasePage, tags=["cases"])
def list_cases(
    rt: Rt,
    me: Me,
    state: Annotated[str | None, Query(max_length=30)] = None,
    village: Annotated[str | None, Query(max_length=40, description="Village code.")] = None,
    source: Annotated[str | None, Query(max_length=30)] = None,
    q: Annotated[str | None, Query(max_length=120, description="A 12-digit personal ID, or part of a name (accents optional).")] = None,
    after: Annotated[int, Query(ge=0, le=2**62, description="The last id of the previous page.")] = 0,
    limit: Limit = 50,
) -> schemas.CasePage:
    """List the cases in your communes, in id order, a page at a time."""
    rows = queries.list_cases(rt, actor=me, state=state, village=village, source=source, text_query=q, limit=limit, after_id=after)
    return schemas.CasePage(items=[schemas.CaseRow(**row) for row in rows], next_after=rows[-1]["id"] if len(rows) == limit else None)


@api.post("/cases", response_model=schemas.CaseRefOut, status_code=status.HTTP_201_CREATED, tags=["cases"])
def register_case(rt: Rt, me: Me, record: dict[str, Any]) -> schemas.CaseRefOut:
    """Register a worker from a registration record (social policy)."""
    return _ref(cases.register(rt, me, record))


@api.get("/cases/{case_id}", response_model=schemas.CaseOut, tags=["cases"])
def get_case(rt: Rt, me: Me, case_id: CaseId) -> dict[str, Any]:
    """Return a case: state, person, records (masked where you have no need), and what each next step needs."""
    return queries.case_detail(rt, case_id, me)


@api.post("/cases/{case_id}/transitions/{trigger}", response_model=schemas.CaseRefOut, tags=["cases"])
def fire_transition(
    rt: Rt, me: Me, case_id: CaseId, trigger: Annotated[str, Path(max_length=40)], body: schemas.FireIn
) -> schemas.CaseRefOut:
    """Move a case along a step, with the step's record; a stale version is refused with 409."""
    return _ref(cases.fire(rt, me, case_id, trigger, body.record, expected_version=body.version, reason=body.reason))


@api.put("/cases/{case_id}/records/{kind}", response_model=schemas.CaseRefOut, tags=["cases"])
def put_record(rt: Rt, me: Me, case_id: CaseId, kind: Annotated[str, Path(max_length=30)], body: schemas.RecordIn) -> schemas.CaseRefOut:
    """Add the next step's record ahead of the step, or correct one on file (with a reason)."""
    if kind not in RECORD_TYPES:
        raise NotFound([problem("record.unknown_kind", f"Không có loại hồ sơ '{kind}'.", f"No record kind '{kind}'.", "kind")])
    return _ref(cases.put_record(rt, me, case_id, kind, body.record, expected_version=body.version, reason=body.reason))


@api.post("/cases/{case_id}/withdraw", response_model=schemas.CaseRefOut, tags=["cases"])
def withdraw_case(rt: Rt, me: Me, case_id: CaseId, body: schemas.ReasonIn) -> schemas.CaseRefOut:
    """Withdraw a case before departure, at the worker's wish."""
    return _ref(cases.withdraw(rt, me, case_id, body.reason, expected_version=body.version))


@api.post("/cases/{case_id}/reopen", response_model=schemas.CaseRefOut, tags=["cases"])
def reopen_case(rt: Rt, me: Me, case_id: CaseId, body: schemas.ReasonIn) -> schemas.CaseRefOut:
    """Start a new application on an ended case (social policy or a supervisor)."""
    return _ref(cases.reopen(rt, me, case_id, body.reason, expected_version=body.version))


@api.get("/cases/{case_id}/history", response_model=list[schemas.EventOut], tags=["audit"])
def case_history(rt: Rt, me: Me, case_id: CaseId) -> list[dict[str, Any]]:
    """Return every event of a case in order: who, when, which step, which record (masked where you have no need)."""
    return queries.case_history(rt, case_id, me)


@api.get("/cases/{case_id}/verify", response_model=schemas.VerifyOut, tags=["audit"])
def verify_case(rt: Rt, me: Me, case_id: CaseId) -> dict[str, Any]:
    """Prove a case's history: hash chain, anchors, current records and identity (supervisors, auditors)."""
    return queries.verify_case(rt, case_id, me)


@api.get("/cases/{case_id}/deadlines", response_model=list[schemas.DeadlineOut], tags=["cases"])
def case_deadlines(rt: Rt, me: Me, case_id: CaseId) -> list[dict[str, Any]]:
    """Return a case's legal clocks with their due times and reminder rungs."""
    queries.case_scope(rt, case_id, me)
    return deadlines.case_deadlines(rt, case_id)


def _ref(ref: cases.CaseRef) -> schemas.CaseRefOut:
    return schemas.CaseRefOut(id=ref.id, version=ref.version, state=ref.state)


# --- work items -------------------------------------------------------------------------------------------------------


@api.get("/inbox/{department}", response_model=list[schemas.WorkItemOut], tags=["work"])
def inbox(rt: Rt, token: Token, department: Annotated[str, Path(max_length=40)], mine: bool = False, limit: Limit = 50) -> Response:
    """List a department's open work items in your communes: overdue first, then priority groups, then due time."""
    now = rt.clock.now()
    with rt.unit_of_work(writes=False) as conn:  # the token check and the read on one connection, in one worker thread
        me = auth.actor_for_token(conn, token, now)
        _check_inbox(me, department)
        rows = work_queries.read_inbox(conn, me, department=department, communes=me.communes, now=now, mine_only=mine, limit=limit)
    return Response(schemas.dump_json(rows), media_type="application/json")  # the rows are WorkItemOut's already


def _check_inbox(me: Actor, department: str) -> None:
    access.require_role(me, access.CASE_WRITERS, "xem hộp việc", "read inboxes")
    if me.role == "officer" and me.department != department:
        raise Forbidden(
            [problem("inbox.other_department", f"Bạn chỉ xem được hộp việc của bộ phận {me.department}.",
                     f"You may only read the {me.department} inbox.", "department")]
        )  # fmt: skip


@api.get("/work/counts", response_model=dict[str, schemas.CountsOut], tags=["work"])
def work_counts(rt: Rt, me: Me) -> dict[str, dict[str, int]]:
    """Count open, claimed and overdue items per department in your communes."""
    access.require_role(me, ("supervisor", "auditor", "officer"), "xem số việc", "read work counts")
    return work_queries.counts(rt, rt.clock.now(), me.communes)


@api.post("/work/{item_id}/claim", response_model=schemas.ItemRefOut, tags=["work"])
def claim(rt: Rt, me: Me, item_id: ItemId) -> work.ItemRef:
    """Take an open item of your department; of two claims one wins."""
    return work.claim(rt, me, item_id)


@api.post("/work/{item_id}/release", response_model=schemas.ItemRefOut, tags=["work"])
def release(rt: Rt, me: Me, item_id: ItemId) -> work.ItemRef:
    """Put a claimed item back (its holder or a supervisor)."""
    return work.release(rt, me, item_id)


@api.post("/work/{item_id}/complete", response_model=schemas.ItemRefOut, tags=["work"])
def complete(rt: Rt, me: Me, item_id: ItemId) -> work.ItemRef:
    """Finish a task you hold; the clock that opened it stops."""
    return work.complete(rt, me, item_id)


@api.post("/work/{item_id}/reassign", response_model=schemas.ItemRefOut, tags=["work"])
def reassign(rt: Rt, me: Me, item_id: ItemId, body: schemas.ReassignIn) -> work.ItemRef:
    """Give an item to another officer of its department (supervisors; the reason goes into the case's history)."""
    return work.reassign(rt, me, item_id, body.to, body.reason)


@api.post("/work/reassign", response_model=list[schemas.ReassignOutcome], tags=["work"])
def reassign_many(rt: Rt, me: Me, body: schemas.BulkReassignIn) -> list[dict[str, Any]]:
    """Give several items to one officer with one reason, each in its own transaction; say per item what happened."""
    access.require_role(me, ("supervisor",), "chuyển giao việc", "reassign work")
    outcomes: list[dict[str, Any]] = []
    for item_id in body.items:
        try:
            done = work.reassign(rt, me, item_id, body.to, body.reason)
        except DomainError as error:
            outcomes.append(
                {"item_id": item_id, "http_status": error.http_status, "item": None, "problems": [p.as_dict() for p in error.problems]}
            )
        else:
            outcomes.append({"item_id": item_id, "http_status": 200, "item": done, "problems": []})
    return outcomes


# --- audit ------------------------------------------------------------------------------------------------------------


@api.get("/audit/personal-data-reads", response_model=list[schemas.ReadOut], tags=["audit"])
def personal_data_reads(
    rt: Rt,
    me: Me,
    case_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    """Who read which case's personal data, when, and what they saw in clear (auditors, supervisors)."""
    return queries.personal_data_reads(rt, me, case_id=case_id, after_id=after, limit=limit)


# --- deadline extensions ------------------------------------------------------------------------------------------------


@api.post("/cases/{case_id}/deadlines/{deadline_id}/extend", response_model=schemas.ExtendedOut, tags=["cases"])
def extend_deadline(
    rt: Rt, me: Me, case_id: CaseId, deadline_id: Annotated[int, Path(ge=1, le=2**62)], body: schemas.ExtendIn
) -> dict[str, Any]:
    """Move an open clock's due day later with a reason (supervisors); its pending rungs move with it; a stale version is 409."""
    done = extensions.extend(
        rt, me, case_id, deadline_id, expected_version=body.version, reason=body.reason, due_on=body.due_on, days=body.days
    )
    [deadline] = [d for d in deadlines.case_deadlines(rt, case_id) if d["id"] == deadline_id]
    return {"id": done.case_id, "version": done.version, "state": done.state, "deadline": deadline}
