"""``notify:`` in the configuration: the modem, the SMS providers, the on-call rota, escalation
and storm control.

Example (see ``gateway/notify/README.md`` for the whole story)::

    notify:
      enabled: true
      modem: {port: /dev/ttyUSB2, pin: "${SIM_PIN}"}
      providers:
        - {type: aliyun, access_key_id: "${ALIYUN_KEY_ID}", access_key_secret: "${ALIYUN_SECRET}",
           sign_name: 某某学院, template_code: SMS_123456789}
      rota:
        people:
          wang: {phone: "+8613800000001"}
          li:   {phone: "+8613800000002"}
          zhao: {phone: "+8613800000003"}
        levels: [[wang], [li], [zhao]]     # electrician, security duty officer, head
        waits_s: [0, 300, 600]
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.config.base import Strict, validate_typed
from gateway.config.netaddr import is_loopback
from rules.settings import DEFAULT_UTC_OFFSET_H, LIFE_SAFETY_RULES, minutes_of_day

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]
_PHONE = re.compile(r"^\+?\d{5,20}$")
_CN_MOBILE = re.compile(r"^(?:\+86|0086|86)?1[3-9]\d{9}$")
"""A mainland China mobile number (MIIT numbering plan: 11 digits, 13x-19x), with or without the
country code. An SMS can reach nothing else: a landline or a short number takes the page and
nobody ever reads it."""


class ModemConfig(Strict):
    """A 4G/GSM module on a serial or USB port (``/dev/ttyUSB2`` is the AT port of most)."""

    name: str = "modem"
    port: str
    baudrate: int = Field(default=115200, ge=1200, le=921600)
    pin: SecretStr | None = None
    smsc: str | None = Field(default=None, description="SMS centre; empty uses the SIM's own")
    command_wait_s: float = Field(default=5.0, gt=0, le=120)
    send_wait_s: float = Field(default=60.0, gt=0, le=300)
    health_every_s: float = Field(default=60.0, gt=0, le=3600)
    reopen_after_s: float = Field(default=5.0, gt=0, le=600,
                                  description="wait before reopening a modem that went silent")


class ProviderConfig(Strict):
    """What every SMS HTTP provider's settings have; ``type`` is a key of
    :data:`PROVIDER_TYPES`."""

    type: str
    name: str = ""
    sign_name: str = Field(min_length=1, description="the approved SMS signature")
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("endpoint", check_fields=False)
    @classmethod
    def _endpoint(cls, v: str) -> str:
        """Checked here, at ``firegate check``, not found out when the first page fails.
        https unless the endpoint is on this machine: a page carries phone numbers and the
        text of an alarm (a stand-in or a local relay on loopback may be plain http)."""
        parts = urlsplit(v)
        try:
            parts.port  # noqa: B018 -- urlsplit only checks the port when asked
        except ValueError:
            raise ValueError(f"{v!r} has a bad port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not a provider address; write https://HOST/")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(f"{v!r} would send phone numbers in clear text; use https://")
        return v


class AliyunProvider(ProviderConfig):
    """Aliyun SendSms (RPC API, HMAC-SHA1 signature). Not idempotent: firegate deduplicates."""

    type: Literal["aliyun"]
    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    access_key_id: str = Field(min_length=1)
    access_key_secret: SecretStr
    region: str = "cn-hangzhou"
    template_code: str = Field(min_length=1)
    params: dict[str, str] = Field(
        default_factory=lambda: {k: k for k in ("where", "what", "value", "time", "code")},
        description="template variable -> one of what, where, value, time, code")


class TencentProvider(ProviderConfig):
    """Tencent Cloud SendSms (API 3.0, TC3-HMAC-SHA256 signature)."""

    type: Literal["tencent"]
    endpoint: str = "https://sms.tencentcloudapi.com/"
    secret_id: str = Field(min_length=1)
    secret_key: SecretStr
    region: str = "ap-guangzhou"
    sdk_app_id: str = Field(min_length=1)
    template_id: str = Field(min_length=1)
    params: list[str] = Field(default_factory=lambda: ["where", "what", "value", "time", "code"],
                              description="the template's {1}, {2}, ... in order")


@dataclass(frozen=True, slots=True)
class ProviderType:
    """One SMS HTTP provider: its settings model and its channel class as ``"module:Class"``
    (built with the settings; see gateway/notify/providers.py for the two there are)."""

    config: type[ProviderConfig]
    channel: str


PROVIDER_TYPES: dict[str, ProviderType] = {
    "aliyun": ProviderType(AliyunProvider, "gateway.notify.providers:AliyunChannel"),
    "tencent": ProviderType(TencentProvider, "gateway.notify.providers:TencentChannel"),
}
"""The SMS provider registry: a new provider is one module (settings and a channel with
``name``, ``dedupe`` and ``send``) and one entry here; an unknown ``type:`` is a config error."""


class Person(Strict):
    phone: str
    name_zh: str = ""

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        v = v.replace(" ", "").replace("-", "")
        if not _PHONE.match(v):
            raise ValueError(f"phone {v!r} must be digits, e.g. +8613800000001 or 13800000001")
        foreign = v.startswith("+") and not v.startswith("+86")
        if not foreign and not _CN_MOBILE.match(v):
            raise ValueError(f"phone {v!r} is not a mobile number: a page is an SMS, and in "
                             "China a mobile number has 11 digits starting with 13-19 "
                             "(13800000001, or +8613800000001); a landline or a short number "
                             "would take the page and nobody would read it")
        return v


class Shift(Strict):
    """Who holds escalation level ``level`` (1 = first) on ``days`` from ``start`` to ``end``.

    A shift whose end is not after its start runs past midnight into the next day. On a date in
    ``holidays`` only shifts listing ``holiday`` apply.
    """

    days: list[Day] = Field(min_length=1)
    start: str = "00:00"
    end: str = "24:00"
    level: int = Field(ge=1, le=9)
    people: list[str] = Field(min_length=1)

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str) -> str:
        minutes_of_day(v, end_of_day=True)
        return v

    def minutes(self) -> tuple[int, int]:
        return (minutes_of_day(self.start, end_of_day=True),
                minutes_of_day(self.end, end_of_day=True))


class RotaConfig(Strict):
    utc_offset_h: float | None = Field(
        default=None, ge=-12, le=14, description="leave out: the rota keeps the building's "
        "local time (rules.utc_offset_h); if written it must be the same")
    people: dict[str, Person] = Field(min_length=1)
    levels: list[list[str]] = Field(
        min_length=1, description="default people of each escalation level, first level first")
    waits_s: list[float] = Field(default_factory=list,
                                 description="wait before paging each level (first usually 0)")
    shifts: list[Shift] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    admin_levels: list[list[str]] = Field(default_factory=list, description=(
        "the administrative chain told of repeats of alarms outside the life-safety list "
        "(e.g. [[dorm_supervisor], [student_affairs]]): the n-th repeat reaches its n-th level "
        "and every level before it; never the fire path"))

    @property
    def offset_h(self) -> float:
        """The rota's local time: the building's (``Config`` fills it in from ``rules``)."""
        return DEFAULT_UTC_OFFSET_H if self.utc_offset_h is None else self.utc_offset_h

    @model_validator(mode="after")
    def _names(self) -> RotaConfig:
        known = set(self.people)

        def check(names: list[str], where: str) -> None:
            for n in names:
                if n not in known:
                    raise ValueError(f"{where}: {n!r} is not in rota.people (known: "
                                     f"{', '.join(sorted(known))})")

        for i, lv in enumerate(self.levels):
            check(lv, f"levels[{i + 1}]")
        # A level's default people stand whenever no shift covers it, so one level with
        # default people means someone is paged at every hour; shifts alone can leave an hour
        # (a holiday, a gap between shifts) where a fire would page nobody.
        if not any(self.levels):
            raise ValueError("rota.levels are all empty: at an hour no shift covers, an alarm "
                             "(a fire) would page nobody; give at least one level default "
                             "people (e.g. the security duty office)")
        for i, lv in enumerate(self.admin_levels):
            check(lv, f"admin_levels[{i + 1}]")
        for i, sh in enumerate(self.shifts):
            check(sh.people, f"shifts[{i + 1}]")
            if sh.level > len(self.levels):
                raise ValueError(f"shifts[{i + 1}]: level {sh.level} but only "
                                 f"{len(self.levels)} levels are defined")
        if not self.waits_s:
            self.waits_s = [0.0] + [300.0] * (len(self.levels) - 1)
        if len(self.waits_s) != len(self.levels):
            raise ValueError(f"waits_s has {len(self.waits_s)} entries but there are "
                             f"{len(self.levels)} levels: give one wait per level")
        if any(w < 0 for w in self.waits_s):
            raise ValueError("waits_s must not be negative")
        return self


class StormConfig(Strict):
    """Related alarms within ``group_window_s`` go out as one message; at most
    ``max_per_window`` messages per number per ``rate_window_s``, then one summary. Critical
    pages are never held back."""

    group_window_s: float = Field(default=20.0, ge=0, le=600)
    rate_window_s: float = Field(default=600.0, gt=0, le=86400)
    max_per_window: int = Field(default=5, ge=2, le=100)


class NotifyConfig(Strict):
    """Paging. Disabled unless ``enabled`` and a channel (modem or provider) and a rota exist."""

    enabled: bool = False
    modem: ModemConfig | None = None
    providers: list[ProviderConfig] = Field(default_factory=list)
    fallback: list[str] = Field(
        default_factory=list,
        description="channel names in the order tried; default: the modem, then providers")
    rota: RotaConfig | None = None
    storm: StormConfig = StormConfig()
    ack_code_length: int = Field(default=4, ge=3, le=8)
    critical_severities: list[str] = Field(default_factory=lambda: ["critical"])
    critical_rules: list[str] = Field(
        default_factory=lambda: ["fire_alarm"],
        description="rule name patterns paged as critical whatever their severity (a lost "
                    "fire panel is comm_loss with severity critical, so it is covered)")
    skip_severities: list[str] = Field(default_factory=lambda: ["info"])
    life_safety_rules: list[str] = Field(
        default_factory=lambda: list(LIFE_SAFETY_RULES),
        description="rules whose every new occurrence (a re-raise of an open alarm, "
                    "acknowledged or not) starts a new paging round")
    fire_zone_window_s: float = Field(
        default=60.0, ge=0, le=600, description="further zones of a panel within this of its "
        "first fire page go out as one follow-up listing them (0: every zone pages)")
    modem_attempts: int = Field(default=2, ge=1, le=10,
                                description="tries on the modem before the fallback channel")
    retry_s: float = Field(default=30.0, gt=0, le=3600,
                           description="wait before trying again when every channel failed")
    stop_on_clear: bool = True
    confirm_replies: bool = True
    overdue_every_h: float = Field(
        default=24.0, gt=0, le=24 * 30,
        description="an open alarm past its deadline (整改期限) goes one level up the "
                    "administrative chain (rota.admin_levels, else the rota's last level) "
                    "at the deadline and again every this many hours")

    @field_validator("providers", mode="before")
    @classmethod
    def _typed(cls, items: Any) -> Any:
        """Each entry validated by the model its ``type`` names in :data:`PROVIDER_TYPES`."""
        return validate_typed(items, PROVIDER_TYPES, ProviderConfig, ("notify", "providers"),
                              "SMS provider")

    @field_validator("skip_severities")
    @classmethod
    def _never_skip_critical(cls, v: list[str]) -> list[str]:
        if "critical" in v:
            raise ValueError("critical cannot be skipped: a fire would page nobody; "
                             "skip info (and warning) at most")
        return v

    @field_validator("critical_severities")
    @classmethod
    def _critical_is_critical(cls, v: list[str]) -> list[str]:
        if "critical" not in v:
            raise ValueError(f"{v} must list critical: a critical alarm (a fire, a lost fire "
                             "panel) would be paged like any other, level 1 alone and level 2 "
                             "only after its wait; write [critical]")
        return v

    @field_validator("critical_rules")
    @classmethod
    def _fire_is_critical(cls, v: list[str]) -> list[str]:
        if not any(fnmatch.fnmatchcase("fire_alarm", pat) for pat in v):
            raise ValueError(f"{v} must match fire_alarm: a fire must page levels 1 and 2 at "
                             "once whatever severity its rule gives it; add fire_alarm")
        return v

    @model_validator(mode="after")
    def _channels(self) -> NotifyConfig:
        names = self.channel_names()
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique, got {names}: give providers a "
                             f"name")
        for n in self.fallback:
            if n not in names:
                raise ValueError(f"fallback names {n!r}, which is not a channel (channels: "
                                 f"{', '.join(names) or 'none'})")
        if self.enabled and not names:
            raise ValueError("paging is enabled but neither a modem nor a provider is set")
        if self.enabled and self.rota is None:
            raise ValueError("paging is enabled but there is no rota: who should be paged?")
        return self

    def channel_names(self) -> list[str]:
        names = [self.modem.name] if self.modem else []
        for p in self.providers:
            if not p.name:
                p.name = p.type
            names.append(p.name)
        return names

    def channel_order(self) -> list[str]:
        return self.fallback or self.channel_names()
