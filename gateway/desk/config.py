"""``desk.yaml``: where the desk listens, where it keeps its database, and its broker login.

The ``mqtt`` section takes the same keys as the gateway's MQTT output (``url``, ``username``,
``password``, ``ca_file``, ``insecure``), so one person writes both the same way. Secrets are
``${ENV_VAR}`` (a systemd ``EnvironmentFile=``), never written in the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from gateway.config.models import ConfigError, Problem
from gateway.config.netaddr import is_loopback

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeskMqtt(_Strict):
    url: str = Field(description="mqtt://host:1883 or mqtts://host:8883")
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    insecure: bool = Field(default=False,
                           description="allow a password in clear text to a non-loopback host")
    client_id: str = "firegate-desk"
    keepalive: int = Field(default=30, ge=5, le=3600)
    topic_prefix: str = "firegate"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"{v!r} is not an MQTT address; write mqtt://HOST:1883 or "
                             "mqtts://HOST:8883")
        return v

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts" or self.ca_file is not None

    @property
    def login(self) -> str:
        """The login the gateways bind the desk's commands to (``cmd/{login}/…``)."""
        return self.username or "desk"


class DeskSection(_Strict):
    listen: str = Field(default="127.0.0.1:8480", description="HOST:PORT of the web page")
    data_dir: Path = Field(description="the desk's SQLite database and session key live here")
    session_max_age_s: int = Field(default=8 * 3600, ge=60,
                                   description="a login lasts one control-room shift")
    secure_cookies: bool = Field(default=True, description="cookies only over HTTPS; false only "
                                 "behind a loopback-only listener for tests")
    tls_cert: Path | None = Field(default=None, description="serve HTTPS with this certificate "
                                  "(PEM); or put the desk behind a TLS reverse proxy")
    tls_key: Path | None = None
    grafana_url: str | None = Field(default=None, description="base URL of Grafana, for the "
                                    "building dashboard links")
    retry_s: float = Field(default=5.0, gt=0, description="resend an unconfirmed command after")
    give_up_s: float = Field(default=120.0, gt=0, description="a command the online gateway "
                             "has not confirmed by then is shown as not confirmed")
    silent_after_s: float = Field(default=150.0, gt=0, description="a gateway whose health "
                                  "does not state its keepalive is shown silent (失联) when "
                                  "not heard from for this long, even without its last will")
    utc_offset_h: float = Field(default=8.0, ge=-14, le=14,
                                description="times on the page are local (China: +8)")
    login_attempts: int = Field(default=5, ge=1, description="failed logins per name and "
                                "address in login_window_s before further tries are refused")
    login_window_s: float = Field(default=300.0, gt=0)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{v!r} is not HOST:PORT (e.g. 0.0.0.0:8480)")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class DeskConfig(_Strict):
    desk: DeskSection
    mqtt: DeskMqtt


def _subst(text: str, fname: str) -> str:
    missing: list[str] = []

    def one(m: re.Match[str]) -> str:
        val = os.environ.get(m.group(1))
        if val is None:
            missing.append(m.group(1))
            return ""
        return val

    out = _ENV.sub(one, text)
    if missing:
        raise ConfigError([Problem(fname, None, "", f"environment variable {name} is not set")
                           for name in missing])
    return out


def load_desk_config(path: str | Path) -> DeskConfig:
    """Read and validate ``desk.yaml``; every problem names the file and the field."""
    fname = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(fname, None, "", f"cannot read the file: {exc.strerror}")]) \
            from exc
    try:
        data: Any = yaml.safe_load(_subst(text, fname))
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(fname, 1, "", f"not a usable YAML file: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError([Problem(fname, 1, "", "expected a mapping with desk: and mqtt:")])
    try:
        cfg = DeskConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([Problem(fname, None, ".".join(str(p) for p in e["loc"]), e["msg"])
                           for e in exc.errors()]) from exc
    m = cfg.mqtt
    if not m.insecure and not is_loopback(m.host) and (not m.tls or m.password is None):
        raise ConfigError([Problem(fname, None, "mqtt.url", "a broker beyond this machine needs "
                                   "mqtts:// and a password (or write insecure: true)")])
    return cfg
