"""Users of the web admin: roles, Argon2 passwords, sign-in with a rate limit, API tokens, audit.

* Roles, lowest first: ``viewer`` (reads), ``operator`` (also imports, undoes
  and adjusts points), ``admin`` (also users, tiers and settings).
  ``role_allows(role, needed)`` is the one comparison every check uses.
* Passwords are hashed with Argon2id (argon2-cffi); only the hash is stored.
* ``authenticate`` refuses with the same ``LoginRefusedError`` message for an
  unknown email, a wrong password and a disabled account, and with
  ``LoginRateLimitedError`` once an account or an address has had
  ``max_failures`` failed attempts within the window (each failure is a
  ``login_attempts`` row, so the limit holds across restarts and processes).
* Personal API tokens are 32 random bytes shown once; the database keeps their
  SHA-256 only (a token is as strong as a random key, so a slow hash adds nothing).
* Every change here writes an ``audit_log`` row naming its actor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from memberkit.clock import utcnow
from memberkit.errors import InvalidValueError, MemberkitError, NotFoundError
from memberkit.store.database import Database
from memberkit.store.models import ApiToken, AuditEntry, LoginAttempt, User

ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "mk_"  # noqa: S105 - a prefix, not a secret
LOGIN_REFUSED_MESSAGE = "wrong email or password"

_hasher = PasswordHasher()
# Verifying against this keeps an unknown email as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("memberkit-no-such-user")


class LoginRefusedError(MemberkitError):
    """Sign-in refused: the same words whether the email or the password was wrong."""

    code = "login_refused"


class LoginRateLimitedError(MemberkitError):
    """Too many failed sign-ins for this account or from this address."""

    code = "login_rate_limited"


@dataclass(frozen=True)
class UserView:
    """A user as the admin and the CLI show one (never the password hash)."""

    id: int
    email: str
    role: str
    disabled: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None

    @property
    def actor(self) -> str:
        """How ledger entries, imports and the audit log name this user's web changes."""
        return f"web:{self.email}"

    def can(self, needed: str) -> bool:
        """Whether this user's role includes ``needed``."""
        return role_allows(self.role, needed)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


@dataclass(frozen=True)
class TokenView:
    """An API token's record (the token itself is shown once, at creation)."""

    id: int
    user_email: str
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


@dataclass(frozen=True)
class AuditView:
    """One line of the audit log."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]


def role_allows(role: str, needed: str) -> bool:
    """True when ``role`` is ``needed`` or above it (viewer < operator < admin)."""
    return ROLES.index(role) >= ROLES.index(needed)


def check_role(role: str) -> str:
    """``role`` if it is one of ``ROLES``; ``InvalidValueError`` naming them otherwise."""
    clean = role.strip().lower()
    if clean not in ROLES:
        raise InvalidValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return clean


def _email_key(email: str) -> str:
    clean = email.strip()
    if not clean or "@" not in clean or any(c.isspace() for c in clean) or len(clean) > 320:
        raise InvalidValueError(f"not an email address: {email!r}")
    return clean.lower()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def _view(user: User) -> UserView:
    return UserView(
        user.id, user.email, user.role, user.disabled, user.created_at, user.last_login_at
    )


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Add one audit-log row to the caller's transaction."""
    session.add(
        AuditEntry(
            at=now or utcnow(),
            actor=actor,
            action=action,
            target=target,
            details=json.dumps(details or {}, sort_keys=True, default=str),
        )
    )


def _find(session: Session, email: str) -> User:
    user = session.scalars(select(User).where(User.email_key == email.strip().lower())).first()
    if user is None:
        raise NotFoundError(f"no user {email.strip()!r}", hint="list the users to see who exists")
    return user


def create_user(db: Database, *, email: str, role: str, password: str, actor: str) -> UserView:
    """Add a user with a role and a password (hashed with Argon2)."""
    key = _email_key(email)
    role = check_role(role)
    _check_password(password)
    now = utcnow()
    with db.write() as session:
        if session.scalar(select(User.id).where(User.email_key == key)) is not None:
            raise InvalidValueError(f"a user {email.strip()!r} already exists")
        user = User(
            email=email.strip(),
            email_key=key,
            role=role,
            password_hash=_hasher.hash(password),
            disabled=False,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        record_audit(session, actor=actor, action="user.add", target=key, details={"role": role})
        session.flush()
        return _view(user)


def list_users(db: Database) -> list[UserView]:
    """Every user, by email."""
    with db.read() as session:
        return [_view(u) for u in session.scalars(select(User).order_by(User.email_key))]


def get_user(db: Database, user_id: int) -> UserView | None:
    """The user with this id, or None."""
    with db.read() as session:
        user = session.get(User, user_id)
        return _view(user) if user is not None else None


def set_role(db: Database, *, email: str, role: str, actor: str) -> UserView:
    """Change a user's role (takes effect on their next request)."""
    role = check_role(role)
    with db.write() as session:
        user = _find(session, email)
        before = user.role
        user.role = role
        user.updated_at = utcnow()
        record_audit(
            session,
            actor=actor,
            action="user.set_role",
            target=user.email_key,
            details={"from": before, "to": role},
        )
        return _view(user)


def set_disabled(db: Database, *, email: str, disabled: bool, actor: str) -> UserView:
    """Disable (or enable again) a user: a disabled user's sessions and tokens stop working."""
    with db.write() as session:
        user = _find(session, email)
        user.disabled = disabled
        user.updated_at = utcnow()
        record_audit(
            session,
            actor=actor,
            action="user.disable" if disabled else "user.enable",
            target=user.email_key,
        )
        return _view(user)


def set_password(db: Database, *, email: str, password: str, actor: str) -> UserView:
    """Give a user a new password."""
    _check_password(password)
    with db.write() as session:
        user = _find(session, email)
        user.password_hash = _hasher.hash(password)
        user.updated_at = utcnow()
        record_audit(session, actor=actor, action="user.set_password", target=user.email_key)
        return _view(user)


def authenticate(
    db: Database,
    *,
    email: str,
    password: str,
    address: str,
    max_failures: int = 5,
    window: dt.timedelta = dt.timedelta(minutes=15),
    now: dt.datetime | None = None,
) -> UserView:
    """The user these credentials sign in; see the module docstring for refusals."""
    moment = now or utcnow()
    key = email.strip().lower()[:320]
    address = address[:100]
    since = moment - window
    with db.write() as session:
        by_account = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.email_key == key, LoginAttempt.at > since)
        )
        by_address = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.address == address, LoginAttempt.at > since)
        )
        if (by_account or 0) >= max_failures or (by_address or 0) >= max_failures:
            raise LoginRateLimitedError(
                "too many failed sign-ins; wait a few minutes and try again"
            )
        user = session.scalars(select(User).where(User.email_key == key)).first()
        ok = _verify(user.password_hash if user is not None else _DUMMY_HASH, password)
        if user is None or not ok or user.disabled:
            session.add(LoginAttempt(at=moment, email_key=key, address=address))
            # Old attempts are no longer counted: keep the table small.
            session.execute(delete(LoginAttempt).where(LoginAttempt.at < moment - window * 4))
            failure = LoginRefusedError(LOGIN_REFUSED_MESSAGE)
        else:
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            user.last_login_at = moment
            session.execute(delete(LoginAttempt).where(LoginAttempt.email_key == key))
            return _view(user)
    raise failure


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(db: Database, *, email: str, name: str, actor: str) -> tuple[str, TokenView]:
    """A new personal API token for a user: the token text (shown once) and its record."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    clean_name = name.strip() or "token"
    with db.write() as session:
        user = _find(session, email)
        if user.disabled:
            raise InvalidValueError(f"user {user.email!r} is disabled")
        row = ApiToken(
            user_id=user.id, name=clean_name[:200], token_hash=_token_hash(token), created_at=now
        )
        session.add(row)
        session.flush()
        record_audit(
            session,
            actor=actor,
            action="token.issue",
            target=user.email_key,
            details={"token_id": row.id, "name": row.name},
        )
        return token, TokenView(row.id, user.email, row.name, row.created_at, None)


def user_for_token(db: Database, token: str) -> tuple[UserView, str] | None:
    """The enabled user a bearer token belongs to and the token's name; None when unknown."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = _token_hash(token)
    with db.read() as session:
        found = session.execute(
            select(User, ApiToken)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        ).first()
        if found is None:
            return None
        user, row = found
        if user.disabled or not secrets.compare_digest(row.token_hash, digest):
            return None
        return _view(user), row.name


def list_audit(db: Database, *, limit: int = 100) -> list[AuditView]:
    """The latest audit-log rows, newest first."""
    with db.read() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return [
            AuditView(r.id, r.at, r.actor, r.action, r.target, json.loads(r.details or "{}"))
            for r in rows
        ]
