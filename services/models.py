"""The database tables, as typed SQLAlchemy 2 models; commands write them with Core statements."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Id = BigInteger().with_variant(Integer, "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A moment stored in UTC and always read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC moment")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class AdminUnit(Base):
    """A province, commune (ward, special zone), historical district or village, as data."""

    __tablename__ = "admin_units"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # province, commune, district, village
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)


class Department(Base):
    """A department and its queue (the code)."""

    __tablename__ = "departments"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class User(Base):
    """A person who uses the system: an officer of a department, a supervisor, an auditor, an admin."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # officer, supervisor, auditor, admin
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Set when an admin chose the password (a new user, a reset): the user must choose their own before they work.
    password_change_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Person(Base):
    """The worker's identity, the current projection of the registration record."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # The personal ID sealed (the very token of the registration record, so verify compares them without the
    # key) and its keyed hash, which finds a person by ID and keeps one person per ID (services/crypto.py).
    personal_id_sealed: Mapped[str] = mapped_column(Text)
    personal_id_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    search_name: Mapped[str] = mapped_column(String(120), index=True, server_default="")  # the name folded: no accents, lower case
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10))
    ethnicity: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str] = mapped_column(String(20))


# The state columns that record when the current application last reached each state (reports read them).
STATE_TIME_COLUMNS = (
    "registered",
    "counselled",
    "trained",
    "health_checked",
    "loan_approved",
    "departed",
    "returned",
    "reintegrated",
    "closed",
    "withdrawn",
    "ineligible",
    "visa_refused",
    "overstayed",
    "deceased",
)


class Case(Base):
    """A worker's case: its state in the workflow, version, owner, and chain head."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), unique=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"), index=True)
    workflow_version: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(30), index=True)
    version: Mapped[int] = mapped_column(Integer)
    owner_department: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    application_no: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(30))
    market_code: Mapped[str | None] = mapped_column(String(40))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state_entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    anchored_seq: Mapped[int] = mapped_column(Integer, default=0)
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    counselled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    trained_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    health_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    loan_approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    departed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reintegrated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ineligible_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    visa_refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    overstayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deceased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CaseRecord(Base):
    """The current value of a record of a case's application (the history keeps every value)."""

    __tablename__ = "case_records"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    application_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    # The record's canonical JSON text, byte for byte the record_json of its event, so verify can
    # prove the current records against the history (reports read it with data::jsonb).
    data: Mapped[str] = mapped_column(Text)
    event_seq: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Not mapped: report_day, report_code, report_flags, report_amount, which the database derives from `data` for
    # the reports (migration 0015, per dialect; services/indicator_queries.py reads them).


class Event(Base):
    """One entry of a case's history; append-only, chained to its predecessor by hash."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    department: Mapped[str | None] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    application_no: Mapped[int] = mapped_column(Integer)
    record_kind: Mapped[str | None] = mapped_column(String(30))
    record_json: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Anchor(Base):
    """A periodic seal over the chain heads that moved since the previous anchor, itself chained."""

    __tablename__ = "anchors"
    __table_args__ = (Index("uq_anchors_prev_hash", "prev_hash", unique=True),)  # one successor per anchor
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    heads_count: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AnchorHead(Base):
    """A chain head an anchor sealed: the case's last event number and hash at that moment."""

    __tablename__ = "anchor_heads"
    anchor_id: Mapped[int] = mapped_column(ForeignKey("anchors.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AnchorReportHead(Base):
    """A report's chain head an anchor sealed: the report's last event number and hash at that moment."""

    __tablename__ = "anchor_report_heads"
    anchor_id: Mapped[int] = mapped_column(ForeignKey("anchors.id"), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class OutboxMessage(Base):
    """A message to a department queue, written with the command and sent after commit."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_id", "status", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    topic: Mapped[str] = mapped_column(String(60))
    queue: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(12))  # pending, published, done
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Enterprise(Base):
    """A licensed service enterprise (reference data)."""

    __tablename__ = "enterprises"
    licence_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    licensed_from: Mapped[date] = mapped_column(Date)
    licensed_until: Mapped[date | None] = mapped_column(Date)


class HealthFacility(Base):
    """A health-check facility approved for workers going abroad (reference data)."""

    __tablename__ = "health_facilities"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    approved_from: Mapped[date] = mapped_column(Date)
    approved_until: Mapped[date | None] = mapped_column(Date)


class TrainingSchool(Base):
    """A vocational or language school (reference data)."""

    __tablename__ = "training_schools"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class MarketRow(Base):
    """A destination market, kept in step with config/policy.toml for reports and lookups."""

    __tablename__ = "markets"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    programme: Mapped[str] = mapped_column(String(200))
    deposit_cap_vnd: Mapped[int | None] = mapped_column(BigInteger)


def _where(condition: str) -> dict[str, Any]:
    """Return the options of a partial index, the same on PostgreSQL and SQLite."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


OPEN_WORK = "status IN ('open', 'claimed')"
# A work item or a clock is about a case or about a report, never both, never neither.
ONE_SUBJECT = "(case_id IS NULL) <> (report_id IS NULL)"


class WorkItem(Base):
    """Work in a department's inbox: a case waiting in a state for that department, or a task a clock opened."""

    __tablename__ = "work_items"
    __table_args__ = (
        # In the inbox's order within each of its ranges (overdue, due later, undated): see services.work_queries.inbox.
        Index("ix_work_items_inbox", "department", "priority", "due_at", "id", **_where(OPEN_WORK)),
        # An officer's own claimed items, in the inbox's order within each range (the "mine" view).
        Index("ix_work_items_mine", "assignee_id", "department", "priority", "due_at", "id", **_where("status = 'claimed'")),
        Index("ix_work_items_open_case", "case_id", **_where(OPEN_WORK)),
        # The inbox reads one range per priority (services.followups.PRIORITIES): any other value would never be shown.
        CheckConstraint("priority IN (1, 2)", name="ck_work_items_priority"),
        CheckConstraint(ONE_SUBJECT, name="ck_work_items_one_subject"),
        Index("ix_work_items_open_report", "report_id", **_where(f"{OPEN_WORK} AND report_id IS NOT NULL")),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))  # a report's item (then application_no is 0)
    application_no: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))  # "state", or the clock that opened it
    state: Mapped[str | None] = mapped_column(String(30))
    department: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    priority: Mapped[int] = mapped_column(Integer)  # 1 = priority group, 2 = others
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(12))  # open, claimed, done, closed
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Deadline(Base):
    """A legal clock running for a case's application: when it falls due, and whether it is still open."""

    __tablename__ = "deadlines"
    __table_args__ = (
        # One open clock of a kind per application; a corrected date closes it and opens a new one.
        Index("uq_deadlines_open_clock", "case_id", "application_no", "clock", unique=True, **_where("status = 'open'")),
        Index("ix_deadlines_case_id", "case_id"),  # a case's clocks, closed ones too (the case page)
        CheckConstraint(ONE_SUBJECT, name="ck_deadlines_one_subject"),
        # One open clock per report; its closed ones stay (a returned report opens a new one).
        Index("uq_deadlines_open_report", "report_id", unique=True, **_where("status = 'open' AND report_id IS NOT NULL")),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))  # a report's clock (then application_no is 0)
    application_no: Mapped[int] = mapped_column(Integer)
    clock: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    counted_from: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(10))  # open, closed
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The due time a supervisor extended it to (services/extensions.py): a recount may move it later, never earlier.
    extended_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DeadlineRung(Base):
    """One rung of a deadline's reminder ladder; the key (deadline, rung) makes it fire once."""

    __tablename__ = "deadline_rungs"
    __table_args__ = (Index("ix_deadline_rungs_due", "fires_at", **_where("status = 'pending'")),)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id"), primary_key=True)
    rung: Mapped[int] = mapped_column(Integer, primary_key=True)
    fires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(12))  # remind, alert, escalate
    recipient: Mapped[str] = mapped_column(String(60))  # owner, commune_supervisor, province_supervisor, department:<code>
    status: Mapped[str] = mapped_column(String(10))  # pending, fired, skipped, cancelled
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Notification(Base):
    """An in-app notification (the inbox badge): one per message and user."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("message_id", "user_id", name="uq_notifications_message_user"),
        Index("ix_notifications_unread", "user_id", **_where("read_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    topic: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Delivery(Base):
    """A message sent outside the application (an e-mail, a webhook call): one per message, channel and recipient."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("message_id", "channel", "recipient", name="uq_deliveries_message_channel_recipient"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(10))  # email, webhook
    recipient: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10))  # pending, sending (held by one attempt until lease_until), sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class AuthToken(Base):
    """A login: a session cookie for the pages or a bearer token for an API client; only its hash is kept."""

    __tablename__ = "auth_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # session, api
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginAttempt(Base):
    """One login attempt, kept to rate-limit guessing per user name and per address."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"), Index("ix_login_attempts_remote_at", "remote", "at"))
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    remote: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class PersonalDataRead(Base):
    """One read of a case's personal data: who, when, which case, what was shown unmasked."""

    __tablename__ = "personal_data_reads"
    __table_args__ = (Index("ix_personal_data_reads_case", "case_id", "at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    view: Mapped[str] = mapped_column(String(20))  # case, history, export
    unmasked: Mapped[str] = mapped_column(String(200))  # the sensitive categories shown in clear, comma-separated


class Referral(Base):
    """A youth who finished military or police service, referred to social policy (a priority group)."""

    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_open", "commune_id", **_where("status = 'open'")),
        Index("ix_referrals_commune_id", "commune_id", "id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    village_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    department: Mapped[str] = mapped_column(ForeignKey("departments.code"))  # police or military
    referred_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    full_name: Mapped[str] = mapped_column(String(120))
    date_of_birth: Mapped[date] = mapped_column(Date)
    phone: Mapped[str] = mapped_column(String(20))
    service_ended_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # open, converted, declined
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who converted or declined it
    decline_reason: Mapped[str | None] = mapped_column(Text)


class AdminAction(Base):
    """One thing an admin did to a user or a unit: who, when, what, on which row; append-only (never a password)."""

    __tablename__ = "admin_actions"
    __table_args__ = (Index("ix_admin_actions_at", "at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(80))
    # user.create, user.deactivate, user.reactivate, user.password, unit.add_village, unit.rename, plan.set
    action: Mapped[str] = mapped_column(String(40))
    target_kind: Mapped[str] = mapped_column(String(10))  # user, unit, plan
    target_id: Mapped[int] = mapped_column(Id)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))  # the unit the target belongs to (bounds who reads the log)
    details: Mapped[dict[str, Any]] = mapped_column(Json)


class SealingKeys(Base):
    """Which keys sealed this database (one row, written by the first process that runs with keys): see services/key_check.py."""

    __tablename__ = "sealing_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lookup_check: Mapped[str] = mapped_column(String(64))  # an HMAC of a fixed text under the lookup key: reveals nothing of it
    data_key_id: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Plan(Base):
    """A unit's targets for a year (an admin set them; a unit without a row follows config/plans.toml)."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("unit_id", "year", name="uq_plans_unit_year"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    year: Mapped[int] = mapped_column(Integer)
    departures_more_than: Mapped[int] = mapped_column(Integer)
    language_orientation_percent: Mapped[int] = mapped_column(Integer)
    vocational_percent: Mapped[int] = mapped_column(Integer)
    in_depth_percent: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class SupportPayment(Base):
    """Non-refundable support paid to a worker of a priority group for one item (once per person); its event is in the history."""

    __tablename__ = "support_payments"
    __table_args__ = (
        UniqueConstraint("person_id", "item", name="uq_support_payments_person_item"),
        Index("ix_support_payments_commune_paid_on", "commune_id", "paid_on"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    commune_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    item: Mapped[str] = mapped_column(
        String(30)
    )  # orientation, language, vocational, health_check, passport, visa, criminal_record, travel
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    invoice_number: Mapped[str] = mapped_column(String(60))
    food_days: Mapped[int] = mapped_column(Integer, server_default="0")  # orientation only
    lodging_months: Mapped[int] = mapped_column(Integer, server_default="0")  # orientation only
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


# The indexes the indicators read on case_records (migration 0015: ix_case_records_report_day and _report_figures)
# cover the columns the database derives from the record text, written per dialect in the migration.


class Report(Base):
    """A commune's periodic report to the province (workflows/reports.py): one per commune, kind and year; its history is chained."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("unit_id", "kind", "year", name="uq_reports_unit_kind_year"),)  # beat drafts it once
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))  # the commune
    kind: Mapped[str] = mapped_column(String(20))  # half_year, yearly
    year: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(12))  # drafted, submitted
    version: Mapped[int] = mapped_column(Integer)
    drafted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The indicators frozen at submission: canonical JSON, byte for byte the record_json of the submit event, and its sha256.
    figures: Mapped[str | None] = mapped_column(Text)
    figures_hash: Mapped[str | None] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))


class ReportEvent(Base):
    """One entry of a report's history; append-only, chained by the same hash as a case's events (workflows.history)."""

    __tablename__ = "report_events"
    __table_args__ = (UniqueConstraint("report_id", "seq", name="uq_report_events_report_seq"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: beat drafted it
    department: Mapped[str | None] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    record_kind: Mapped[str | None] = mapped_column(String(30))
    record_json: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
