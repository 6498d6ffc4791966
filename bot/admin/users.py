"""Staff accounts and their sessions, shared by every staff area (/admin, later /agent).

Passwords are stored as argon2id hashes (argon2-cffi's defaults). A session is
a random 256-bit token kept by the browser; the database only holds its
SHA-256, so a copy of the database does not let anyone sign in. A session ends
after SESSION_IDLE without a request, when the user signs out, or when the
account's password, role or status changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.db import metadata

MIN_PASSWORD_CHARS = 12
# argon2 hashes any length; the bound only stops absurd inputs.
MAX_PASSWORD_CHARS = 1024
MAX_EMAIL_CHARS = 254
SESSION_IDLE = timedelta(hours=8)
# last_seen_at is written at most this often per session.
SESSION_TOUCH_EVERY = timedelta(minutes=1)
TOKEN_BYTES = 32  # 256 bits

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Role(StrEnum):
    EDITOR = "editor"  # writes and publishes articles
    AGENT = "agent"  # reads articles, tests questions; future live-chat console
    ADMIN = "admin"  # everything an editor does (and user management, from the CLI)


ALL_ROLES: frozenset[Role] = frozenset(Role)


staff_users = sa.Table(
    "staff_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(MAX_EMAIL_CHARS), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
)

staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    # SHA-256 of the cookie's token, hex.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("staff_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


class UserError(ValueError):
    """An account operation was refused; the message is English, for the CLI and logs."""


@dataclass(frozen=True)
class StaffUser:
    id: int
    email: str
    role: Role
    active: bool

    def has_role(self, roles: frozenset[Role]) -> bool:
        return self.active and self.role in roles


@dataclass(frozen=True)
class StaffSession:
    user: StaffUser
    token_hash: str
    csrf_token: str
    last_seen_at: datetime


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite gives naive datetimes back; everything is stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def normalise_email(email: str) -> str:
    cleaned = email.strip().lower()
    if len(cleaned) > MAX_EMAIL_CHARS or not _EMAIL.match(cleaned):
        raise UserError(f"{email!r} is not a valid e-mail address")
    return cleaned


# Passwords of 12 characters or more that appear first in leaked-password lists,
# and French variants. A short list on purpose: the length rule does most of the
# work; this stops the guesses an attacker tries first.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789abc",
        "azertyuiop12",
        "azertyuiop123",
        "azertyuiopqsdf",
        "qwertyuiop12",
        "qwertyuiop123",
        "qwertyuiopasdf",
        "motdepasse12",
        "motdepasse123",
        "motdepasse1234",
        "motdepassemairie",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "iloveyou1234",
        "administrateur",
        "administrator",
        "admin1234567",
        "adminadmin123",
        "bonjour123456",
        "soleil123456",
        "mairie123456",
        "mairiemairie",
        "changeme1234",
        "welcome12345",
        "000000000000",
        "111111111111",
        "aaaaaaaaaaaa",
        "abcdefghijkl",
        "abcdefghijklmnop",
        "abcd1234abcd",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "qazwsxedcrfv",
    }
)


def _folded(text: str) -> str:
    """Lower case, letters and digits only: "Mot-de-passe 123!" -> "motdepasse123"."""
    return "".join(c for c in text.casefold() if c.isalnum())


def check_password_policy(password: str, email: str = "") -> None:
    """At least 12 characters, not a common password, not the e-mail (or its name part)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(
            f"the password must be at least {MIN_PASSWORD_CHARS} characters long "
            f"(got {len(password)})"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise UserError(f"the password must be at most {MAX_PASSWORD_CHARS} characters long")
    folded = _folded(password)
    if folded in COMMON_PASSWORDS or len(set(folded)) <= 2:
        raise UserError("the password is too common or too repetitive; choose another one")
    local = _folded(email.split("@", 1)[0]) if email else ""
    if email and (folded == _folded(email) or (len(local) >= 4 and local in folded)):
        raise UserError("the password must not contain the account's e-mail address")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(row: Any) -> StaffUser:
    return StaffUser(row.id, row.email, Role(row.role), bool(row.active))


class UserStore:
    def __init__(self, engine: AsyncEngine, hasher: PasswordHasher | None = None) -> None:
        self._engine = engine
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    # --- accounts ---
    async def create(self, email: str, password: str, role: Role) -> StaffUser:
        email = normalise_email(email)
        check_password_policy(password, email)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        stamp = now()
        async with self._engine.begin() as conn:
            exists = (
                await conn.execute(sa.select(staff_users.c.id).where(staff_users.c.email == email))
            ).first()
            if exists:
                raise UserError(f"a user with the e-mail {email} already exists")
            result = await conn.execute(
                sa.insert(staff_users).values(
                    email=email,
                    password_hash=password_hash,
                    role=role.value,
                    active=True,
                    created_at=stamp,
                    password_changed_at=stamp,
                )
            )
        return StaffUser(int(result.inserted_primary_key[0]), email, role, True)  # type: ignore[index]

    async def get(self, email: str) -> StaffUser | None:
        try:
            email = normalise_email(email)
        except UserError:
            return None
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(staff_users).where(staff_users.c.email == email))
            ).first()
        return _user(row) if row else None

    async def all(self) -> list[StaffUser]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(staff_users).order_by(staff_users.c.email))).all()
        return [_user(r) for r in rows]

    async def set_password(self, email: str, password: str) -> None:
        check_password_policy(password, email)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        await self._update(email, password_hash=password_hash, password_changed_at=now())

    async def set_role(self, email: str, role: Role) -> None:
        await self._update(email, role=role.value)

    async def set_active(self, email: str, active: bool) -> None:
        await self._update(email, active=active)

    async def _update(self, email: str, **values: Any) -> None:
        """Change an account and end its sessions: the change applies at once."""
        user = await self.get(email)
        if user is None:
            raise UserError(f"no user with the e-mail {email.strip().lower()}")
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(staff_users).where(staff_users.c.id == user.id).values(**values)
            )
            await conn.execute(sa.delete(staff_sessions).where(staff_sessions.c.user_id == user.id))

    async def authenticate(self, email: str, password: str) -> StaffUser | None:
        """The active user with these credentials, or None (whatever was wrong)."""
        try:
            email = normalise_email(email)
        except UserError:
            email = ""
        row = None
        if email and len(password) <= MAX_PASSWORD_CHARS:
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(sa.select(staff_users).where(staff_users.c.email == email))
                ).first()
        # Unknown e-mails cost one hash verification too, so timing does not
        # tell which e-mails have an account.
        stored = row.password_hash if row is not None else await self._dummy()
        if not await asyncio.to_thread(self._verify, stored, password[:MAX_PASSWORD_CHARS]):
            return None
        if row is None or not row.active:
            return None
        values: dict[str, Any] = {"last_login_at": now()}
        if self._hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = await asyncio.to_thread(self._hasher.hash, password)
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(staff_users).where(staff_users.c.id == row.id).values(**values)
            )
        return _user(row)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(16))
        return self._dummy_hash

    # --- sessions ---
    async def open_session(self, user: StaffUser) -> tuple[str, StaffSession]:
        """A new session; returns the token for the cookie (never stored) and the session."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = StaffSession(user, hash_token(token), secrets.token_urlsafe(TOKEN_BYTES), now())
        async with self._engine.begin() as conn:
            # Sign-in is a good moment to forget everyone's expired sessions.
            await conn.execute(
                sa.delete(staff_sessions).where(
                    staff_sessions.c.last_seen_at < now() - SESSION_IDLE
                )
            )
            await conn.execute(
                sa.insert(staff_sessions).values(
                    token_hash=session.token_hash,
                    user_id=user.id,
                    csrf_token=session.csrf_token,
                    created_at=session.last_seen_at,
                    last_seen_at=session.last_seen_at,
                )
            )
        return token, session

    async def session(self, token: str) -> StaffSession | None:
        """The live session of this token, or None; keeps it alive."""
        if not token or len(token) > 128:
            return None
        token_hash = hash_token(token)
        query = (
            sa.select(
                staff_sessions.c.csrf_token,
                staff_sessions.c.last_seen_at,
                staff_users.c.id,
                staff_users.c.email,
                staff_users.c.role,
                staff_users.c.active,
            )
            .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
            .where(staff_sessions.c.token_hash == token_hash)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        current = now()
        last_seen = _aware(row.last_seen_at)
        if not row.active or current - last_seen > SESSION_IDLE:
            await self.close_session(token)
            return None
        if current - last_seen > SESSION_TOUCH_EVERY:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.update(staff_sessions)
                    .where(staff_sessions.c.token_hash == token_hash)
                    .values(last_seen_at=current)
                )
            last_seen = current
        user = _user(row)
        return StaffSession(user, token_hash, row.csrf_token, last_seen)

    async def close_session(self, token: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.delete(staff_sessions).where(staff_sessions.c.token_hash == hash_token(token))
            )
