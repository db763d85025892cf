"""Logins: passwords (argon2), session and API tokens (only their hash is stored), and the rate limit on attempts."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from services.models import AuthToken, LoginAttempt, User, UtcDateTime
from services.runtime import Runtime
from services.users import USER_COLUMNS, Actor, actor_of, actor_query, load_actor
from workflows.errors import Conflict, DomainError, Problem, RecordInvalid, problem

SESSION_HOURS = 12
API_TOKEN_DAYS = 30
# Failed attempts within the window that lock a user name, or an address (an office shares one), until the window passes.
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 10

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Return the hash checked against when the user name is unknown, so a wrong name costs the time of a wrong password.

    Made on the first failed login rather than at import: a hash takes ~0.15 s, which every command and worker
    process would pay at start.
    """
    return _hasher.hash("not a password of anyone")


class LoginFailed(DomainError):
    """The user name or password is wrong, or the user is inactive."""

    http_status = 401


class TooManyAttempts(DomainError):
    """Too many failed logins for this user name or address; try again later."""

    http_status = 429


class PasswordChangeRequired(DomainError):
    """The user still has the password an admin chose."""

    http_status = 403


class NotAuthenticated(DomainError):
    """No valid session or token came with the request."""

    http_status = 401


@dataclass(frozen=True)
class Login:
    """A token just issued: give it to the client once; only its hash stays in the database."""

    token: str
    expires_at: datetime
    actor: Actor


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(rt: Runtime, username: str, password: str, remote: str, *, kind: str = "session") -> Login:
    """Check a password and issue a session (pages) or API token; every attempt counts towards the rate limit."""
    attempt, _ = _check_password(rt, username, password, remote)
    now = rt.clock.now()
    with rt.unit_of_work() as conn:
        conn.execute(update(LoginAttempt).where(LoginAttempt.id == attempt).values(succeeded=True))
        return _issue(conn, username, kind, now)


def change_password(rt: Runtime, actor: Actor, token: str, current: str, new: str, remote: str) -> None:
    """Set one's own password, after the current one (counted as a login attempt); one's other sessions and tokens end."""
    problems = password_problems(new, actor.username, "new_password")
    if new == current:
        problems.append(problem("password.unchanged", "Mật khẩu mới phải khác mật khẩu hiện tại.", "The new password must differ from the current one.", "new_password"))  # fmt: skip
    if problems:
        raise RecordInvalid(problems)
    try:
        attempt, checked = _check_password(rt, actor.username, current, remote)
    except LoginFailed:
        raise RecordInvalid([problem("password.current", "Mật khẩu hiện tại không đúng.", "The current password is wrong.", "current_password")]) from None  # fmt: skip
    now = rt.clock.now()
    with rt.unit_of_work() as conn:
        actor_for_token(conn, token, now, allow_admin_password=True)  # still logged in (an admin may have ended it meanwhile)
        conn.execute(update(LoginAttempt).where(LoginAttempt.id == attempt).values(succeeded=True))
        mine = (User.id == actor.user_id, User.password_hash == checked)  # not a password an admin set meanwhile
        if conn.execute(update(User).where(*mine).values(password_hash=hash_password(new), password_change_required=False)).rowcount != 1:
            vi, en = "Mật khẩu vừa được quản trị viên đặt lại; hãy đăng nhập lại.", "An admin has just reset the password; log in again."
            raise Conflict([problem("password.reset_meanwhile", vi, en, "current_password")])
        others = (AuthToken.user_id == actor.user_id, AuthToken.revoked_at.is_(None), AuthToken.token_hash != _token_hash(token))
        conn.execute(update(AuthToken).where(*others).values(revoked_at=now))


def password_problems(password: str, username: str, field: str = "password") -> list[Problem]:
    """Return why a password may not be used (too short, too long, or the user name itself)."""
    if len(password) < MIN_PASSWORD or len(password) > 200:
        vi, en = f"Mật khẩu phải có từ {MIN_PASSWORD} đến 200 ký tự.", f"A password has {MIN_PASSWORD} to 200 characters."
        return [problem("user.password", vi, en, field)]
    if password.strip().lower() == username.lower():
        return [problem("user.password", "Mật khẩu không được trùng tên đăng nhập.", "The password may not be the user name.", field)]
    return []


def _check_password(rt: Runtime, username: str, password: str, remote: str) -> tuple[int, str]:
    """Check a user's password; return the attempt (a failure until the caller marks it a success) and the hash checked.

    The attempt is counted and recorded first, in a short transaction holding the user name's and the address's
    locks, so parallel guesses cannot all pass the count; the password is checked after it commits (argon2 is slow:
    no lock is held meanwhile).
    """
    now = rt.clock.now()
    with rt.unit_of_work() as conn:
        _lock_attempts(conn, username, remote)
        recent = select(func.count()).select_from(LoginAttempt).where(~LoginAttempt.succeeded, LoginAttempt.at > now - WINDOW)
        by_user = conn.scalar(recent.where(LoginAttempt.username == username[:80])) or 0
        by_address = conn.scalar(recent.where(LoginAttempt.remote == remote[:64])) or 0
        if by_user >= MAX_FAILURES_PER_USER or by_address >= MAX_FAILURES_PER_ADDRESS:
            raise _too_many()
        values = {"username": username[:80], "remote": remote[:64], "at": now, "succeeded": False}
        attempt: int = conn.execute(insert(LoginAttempt).returning(LoginAttempt.id), values).scalar_one()
        row = conn.execute(select(User.password_hash).where(User.username == username, User.active)).first()
    if not _verify(row.password_hash if row is not None else None, password):
        raise LoginFailed([problem("login.failed", "Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password.", "password")])
    assert row is not None  # _verify says no without a hash
    return attempt, row.password_hash


def _lock_attempts(conn: Connection, username: str, remote: str) -> None:
    """Serialise the logins of one user name and of one address (PostgreSQL; SQLite's write lock already does)."""
    if conn.dialect.name == "postgresql":
        for key in sorted({f"login:user:{username[:80]}", f"login:address:{remote[:64]}"}):  # one order: no deadlock
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def _too_many() -> TooManyAttempts:
    minutes = int(WINDOW.total_seconds() // 60)
    return TooManyAttempts(
        [
            problem(
                "login.too_many",
                f"Đăng nhập sai quá nhiều lần; hãy thử lại sau {minutes} phút.",
                f"Too many failed logins; try again in {minutes} minutes.",
                "password",
            )
        ]
    )


def _issue(conn: Connection, username: str, kind: str, now: datetime) -> Login:
    actor = load_actor(conn, username)
    token = secrets.token_urlsafe(32)
    expires = now + (timedelta(hours=SESSION_HOURS) if kind == "session" else timedelta(days=API_TOKEN_DAYS))
    values = {"token_hash": _token_hash(token), "user_id": actor.user_id, "kind": kind, "created_at": now, "expires_at": expires}
    conn.execute(insert(AuthToken), values)
    return Login(token, expires, actor)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# The token's user, if the token is live, with their communes: one statement per request.
_TOKEN_ACTOR = actor_query(
    f"""SELECT {USER_COLUMNS} FROM auth_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL AND t.expires_at > :now AND u.active"""
).bindparams(bindparam("now", type_=UtcDateTime))


def authenticate(rt: Runtime, token: str, *, allow_admin_password: bool = False) -> Actor:
    """Return the user a live token belongs to, or raise NotAuthenticated (PasswordChangeRequired: see actor_for_token)."""
    with rt.unit_of_work(writes=False) as conn:
        return actor_for_token(conn, token, rt.clock.now(), allow_admin_password=allow_admin_password)


def actor_for_token(conn: Connection, token: str, now: datetime, *, allow_admin_password: bool = False) -> Actor:
    """Return the user a live token belongs to, reading on a transaction the caller holds, or raise NotAuthenticated.

    A user who still has the password an admin chose is refused with PasswordChangeRequired, unless the caller is one
    of their account's own routes (`allow_admin_password`): who they are, the change of the password, logging out.
    """
    actor = actor_of(conn.execute(_TOKEN_ACTOR, {"token_hash": _token_hash(token), "now": now}).all())
    if actor is not None and actor.password_change_required and not allow_admin_password:
        vi = (
            "Mật khẩu này do quản trị viên đặt: hãy đổi sang mật khẩu của riêng bạn trước (trang Đổi mật khẩu, hoặc POST /api/me/password)."
        )
        en = "An admin chose this password: choose your own first (the Change password page, or POST /api/me/password)."
        raise PasswordChangeRequired([problem("auth.password_change_required", vi, en, "password")])
    if actor is not None:
        return actor
    raise NotAuthenticated(
        [
            problem(
                "auth.required",
                "Hãy đăng nhập (phiên đã hết hạn hoặc không hợp lệ).",
                "Please log in (the session expired or is invalid).",
                None,
            )
        ]
    )


def logout(rt: Runtime, token: str) -> None:
    """Revoke a token."""
    with rt.unit_of_work() as conn:
        conn.execute(update(AuthToken).where(AuthToken.token_hash == _token_hash(token)).values(revoked_at=rt.clock.now()))
