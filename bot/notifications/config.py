"""Settings of the `notifications` section: transports, departments and routes.

Read by bot/settings/ (load_settings). Passwords never come from the settings file: each
transport names the environment variable that holds its password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SMTP_SECURITY = ("none", "starttls", "tls")


class NotificationSettingsError(ValueError):
    """The notifications section is invalid (English, for operators)."""


@dataclass(frozen=True)
class Department:
    """A service of the town hall: who handles a request, and how to reach it."""

    key: str
    name: str
    email: str = ""
    phone: str = ""
    address: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"  # none | starttls | tls (implicit TLS, port 465)
    username: str = ""
    password: str = ""  # from the environment variable named by password_env
    sender: str = ""  # From: "Mairie de X <ne-pas-repondre@x.fr>"
    timeout_s: float = 20.0


@dataclass(frozen=True)
class SmsSettings:
    enabled: bool = False
    # Kannel smsbox's sendsms interface, or an operator's gateway that speaks it.
    sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    username: str = ""
    password: str = ""  # from the environment variable named by password_env
    sender: str = ""  # the "from" shown on the phone (operator-dependent)
    smsc: str = ""  # Kannel smsc-id to route through, empty: Kannel decides
    timeout_s: float = 20.0


@dataclass(frozen=True)
class SenderPolicy:
    poll_s: float = 2.0
    retry_base_s: float = 5.0
    retry_max_s: float = 1800.0
    max_attempts: int = 40
    # A message claimed longer ago than this by a process that died is sent again.
    # Must stay above the transports' timeouts, or a slow send could be doubled.
    claim_timeout_s: float = 120.0
    # Links asked for during a call go out when the call ends, at the latest after this.
    call_link_hold_s: float = 900.0


@dataclass(frozen=True)
class CallbackRoute:
    department: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class NotificationSettings:
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    sender: SenderPolicy = field(default_factory=SenderPolicy)
    # e.g. https://www.villebrune.example/suivi?ref={reference}; empty: no link.
    follow_up_url: str = ""
    departments: Mapping[str, Department] = field(default_factory=dict)
    default_department: str = ""
    report_routes: Mapping[str, str] = field(default_factory=dict)  # category -> department
    callback_routes: tuple[CallbackRoute, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.smtp.enabled or self.sms.enabled

    def department(self, key: str | None) -> Department | None:
        return self.departments.get(key or "") or self.departments.get(self.default_department)


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise NotificationSettingsError(f"settings: '{where}' must be true or false, got {value!r}")


def _str(section: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = section.get(key, default)
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise NotificationSettingsError(f"settings: '{where}.{key}' must be a string")
    return value.strip()


def _number(section: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise NotificationSettingsError(
            f"settings: '{where}.{key}' must be a positive number, got {value!r}"
        )
    return float(value)


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise NotificationSettingsError(f"settings: '{where}' must be a mapping")
    return raw


def _password(
    section: Mapping[str, Any], where: str, default_env: str, env: Mapping[str, str]
) -> str:
    if "password" in section:
        raise NotificationSettingsError(
            f"settings: '{where}.password' is not read from files: put the password in the "
            f"environment variable named by '{where}.password_env' (default {default_env})"
        )
    name = _str(section, "password_env", where, default_env)
    return env.get(name, "") if name else ""


def _smtp(raw: Mapping[str, Any], env: Mapping[str, str]) -> SmtpSettings:
    where = "notifications.smtp"
    security = _str(raw, "security", where, "none").lower()
    if security not in SMTP_SECURITY:
        raise NotificationSettingsError(
            f"settings: '{where}.security' must be one of {SMTP_SECURITY}, not {security!r}"
        )
    port = raw.get("port", 465 if security == "tls" else 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise NotificationSettingsError(f"settings: '{where}.port' must be a port, got {port!r}")
    enabled = _bool(raw.get("enabled", False), f"{where}.enabled")
    sender = _str(raw, "sender", where)
    if enabled and "@" not in sender:
        raise NotificationSettingsError(
            f"settings: '{where}.sender' must be an address (\"Mairie <no-reply@town.fr>\")"
        )
    return SmtpSettings(
        enabled=enabled,
        host=_str(raw, "host", where, "127.0.0.1"),
        port=port,
        security=security,
        username=_str(raw, "username", where),
        password=_password(raw, where, "GUICHET_SMTP_PASSWORD", env),
        sender=sender,
        timeout_s=_number(raw, "timeout_s", where, 20.0),
    )


def _sms(raw: Mapping[str, Any], env: Mapping[str, str]) -> SmsSettings:
    where = "notifications.sms"
    url = _str(raw, "sendsms_url", where, SmsSettings.sendsms_url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise NotificationSettingsError(f"settings: '{where}.sendsms_url' must be an http(s) URL")
    return SmsSettings(
        enabled=_bool(raw.get("enabled", False), f"{where}.enabled"),
        sendsms_url=url,
        username=_str(raw, "username", where),
        password=_password(raw, where, "GUICHET_SMS_PASSWORD", env),
        sender=_str(raw, "sender", where),
        smsc=_str(raw, "smsc", where),
        timeout_s=_number(raw, "timeout_s", where, 20.0),
    )


def _policy(raw: Mapping[str, Any]) -> SenderPolicy:
    where = "notifications.sender"
    defaults = SenderPolicy()
    attempts = raw.get("max_attempts", defaults.max_attempts)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise NotificationSettingsError(f"settings: '{where}.max_attempts' must be >= 1")
    policy = SenderPolicy(
        poll_s=_number(raw, "poll_s", where, defaults.poll_s),
        retry_base_s=_number(raw, "retry_base_s", where, defaults.retry_base_s),
        retry_max_s=_number(raw, "retry_max_s", where, defaults.retry_max_s),
        max_attempts=attempts,
        claim_timeout_s=_number(raw, "claim_timeout_s", where, defaults.claim_timeout_s),
        call_link_hold_s=_number(raw, "call_link_hold_s", where, defaults.call_link_hold_s),
    )
    return policy


def _departments(raw: Any) -> dict[str, Department]:
    out: dict[str, Department] = {}
    for key, value in _mapping(raw, "notifications.departments").items():
        where = f"notifications.departments.{key}"
        section = _mapping(value, where)
        name = _str(section, "name", where)
        if not name:
            raise NotificationSettingsError(f"settings: '{where}.name' is missing")
        out[str(key)] = Department(
            key=str(key),
            name=name,
            email=_str(section, "email", where),
            phone=_str(section, "phone", where),
            address=_str(section, "address", where),
        )
    return out


def _callback_routes(raw: Any, departments: Mapping[str, Department]) -> tuple[CallbackRoute, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise NotificationSettingsError(
            "settings: 'notifications.callback_routes' must be a list of {department, keywords}"
        )
    routes = []
    for i, item in enumerate(raw):
        where = f"notifications.callback_routes[{i}]"
        section = _mapping(item, where)
        department = _str(section, "department", where)
        keywords = section.get("keywords") or []
        if department not in departments:
            raise NotificationSettingsError(
                f"settings: '{where}.department' unknown: {department!r}"
            )
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise NotificationSettingsError(f"settings: '{where}.keywords' must be a list of words")
        routes.append(CallbackRoute(department, tuple(k.strip() for k in keywords if k.strip())))
    return tuple(routes)


def parse_notifications(raw: Any, env: Mapping[str, str] | None = None) -> NotificationSettings:
    """The `notifications` section; missing means everything off."""
    env = os.environ if env is None else env
    section = _mapping(raw, "notifications")
    departments = _departments(section.get("departments"))
    default = _str(section, "default_department", "notifications")
    if departments and default not in departments:
        raise NotificationSettingsError(
            f"settings: 'notifications.default_department' must name a department, got {default!r}"
        )
    routes = {
        str(k): str(v)
        for k, v in _mapping(section.get("report_routes"), "notifications.report_routes").items()
    }
    unknown = sorted(v for v in routes.values() if v not in departments)
    if unknown:
        raise NotificationSettingsError(
            f"settings: 'notifications.report_routes' names unknown departments: {unknown}"
        )
    follow_up = _str(section, "follow_up_url", "notifications")
    if follow_up and urlsplit(follow_up).scheme not in ("http", "https"):
        raise NotificationSettingsError(
            "settings: 'notifications.follow_up_url' must be an http(s) URL"
        )
    return NotificationSettings(
        smtp=_smtp(_mapping(section.get("smtp"), "notifications.smtp"), env),
        sms=_sms(_mapping(section.get("sms"), "notifications.sms"), env),
        sender=_policy(_mapping(section.get("sender"), "notifications.sender")),
        follow_up_url=follow_up,
        departments=departments,
        default_department=default,
        report_routes=routes,
        callback_routes=_callback_routes(section.get("callback_routes"), departments),
    )
