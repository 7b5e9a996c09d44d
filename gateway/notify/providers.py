"""SMS HTTP providers: Aliyun SendSms and Tencent Cloud SendSms, each with its own signing.

HTTP is done by :class:`gateway.outputs.httppost.HttpPoster` (h11 over asyncio streams, imported
only with an HTTP provider): it is cancellable (a page stuck on a dead link ends with the
notifier), needs no thread, and costs ~0.25 MB where aiohttp cost 7.3–9.9 MB (issue 17). Both
providers send a pre-approved template with parameters, not free text.

Aliyun's SendSms is not idempotent: asking twice sends twice. The notifier gives every page a
key (used as ``OutId``) and records it before and after the request (see ``SentKeys`` in
``store.py``); a page whose outcome is unknown is not sent through Aliyun again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from gateway.notify.config import (
    PROVIDER_TYPES,
    AliyunProvider,
    ProviderConfig,
    TencentProvider,
)

# Provider error codes where trying again later can help; others go to the next channel now.
ALIYUN_RETRYABLE = {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY",
                    "Throttling.User", "ServiceUnavailable", "InternalError"}
TENCENT_RETRYABLE = {"LimitExceeded", "InternalError", "RequestLimitExceeded",
                     "InternalError.Timeout", "InternalError.RequestTimeException"}


class ProviderError(Exception):
    """A provider refused or could not be reached. ``uncertain`` means the request may have been
    accepted (a timeout after sending): it must not be repeated through the same provider."""

    def __init__(self, provider: str, message: str, *, retryable: bool,
                 uncertain: bool = False, code: str = "") -> None:
        super().__init__(f"SMS provider {provider}: {message}")
        self.provider = provider
        self.retryable = retryable
        self.uncertain = uncertain
        self.code = code


@dataclass(frozen=True)
class ProviderResult:
    provider: str
    message_id: str


def percent_encode(s: str) -> str:
    """RFC 3986 as Aliyun wants it: space is %20, ``~`` stays, ``*`` is %2A."""
    return quote(s, safe="-_.~")


def aliyun_signature(params: dict[str, str], secret: str, method: str = "GET") -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                         for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def tc3_authorization(*, secret_id: str, secret_key: str, host: str, payload: str,
                      timestamp: int, service: str = "sms",
                      content_type: str = "application/json; charset=utf-8") -> str:
    """Tencent Cloud API 3.0 ``Authorization`` header (TC3-HMAC-SHA256)."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join([
        "POST", "/", "", f"content-type:{content_type}\nhost:{host}\n", "content-type;host",
        hashlib.sha256(payload.encode()).hexdigest()])
    scope = f"{day}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])

    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    k = h(h(h(("TC3" + secret_key).encode(), day), service), "tc3_request")
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
            f"SignedHeaders=content-type;host, Signature={sig}")


def _e164(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    if phone.startswith("+"):
        return "+" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    return "+" + digits


def _national(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


class AliyunChannel:
    def __init__(self, cfg: AliyunProvider) -> None:
        self.cfg = cfg
        self.name = cfg.name or "aliyun"
        self.dedupe = True

    def request_params(self, phone: str, params: dict[str, str], out_id: str, *,
                       now: float | None = None, nonce: str | None = None) -> dict[str, str]:
        template = {var: params.get(field, "")[:35] for var, field in self.cfg.params.items()}
        ts = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
        q = {
            "AccessKeyId": self.cfg.access_key_id, "Action": "SendSms", "Format": "JSON",
            "OutId": out_id, "PhoneNumbers": _national(phone), "RegionId": self.cfg.region,
            "SignName": self.cfg.sign_name, "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce or uuid.uuid4().hex, "SignatureVersion": "1.0",
            "TemplateCode": self.cfg.template_code,
            "TemplateParam": json.dumps(template, ensure_ascii=False, separators=(",", ":")),
            "Timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25",
        }
        q["Signature"] = aliyun_signature(q, self.cfg.access_key_secret.get_secret_value())
        return q

    async def send(self, phone: str, text: str, params: dict[str, str],
                   key: str) -> ProviderResult:
        q = self.request_params(phone, params, key)
        url = self.cfg.endpoint
        body = await _request(self.name, "GET", url, self.cfg.timeout_s, params=q)
        code = str(body.get("Code", ""))
        if code != "OK":
            raise ProviderError(self.name, f"{code}: {body.get('Message', '')}",
                                retryable=code in ALIYUN_RETRYABLE, code=code)
        return ProviderResult(self.name, str(body.get("BizId", "")))


class TencentChannel:
    def __init__(self, cfg: TencentProvider) -> None:
        self.cfg = cfg
        self.name = cfg.name or "tencent"
        self.dedupe = False  # SessionContext carries our key for the record

    def request(self, phone: str, params: dict[str, str], key: str, *,
                now: int | None = None) -> tuple[dict[str, str], str]:
        payload = json.dumps({
            "PhoneNumberSet": [_e164(phone)], "SmsSdkAppId": self.cfg.sdk_app_id,
            "SignName": self.cfg.sign_name, "TemplateId": self.cfg.template_id,
            "TemplateParamSet": [params.get(f, "")[:20] for f in self.cfg.params],
            "SessionContext": key,
        }, ensure_ascii=False, separators=(",", ":"))
        ts = now if now is not None else int(time.time())
        host = urlsplit(self.cfg.endpoint).netloc
        headers = {
            "Authorization": tc3_authorization(
                secret_id=self.cfg.secret_id, secret_key=self.cfg.secret_key.get_secret_value(),
                host=host, payload=payload, timestamp=ts),
            "Content-Type": "application/json; charset=utf-8", "Host": host,
            "X-TC-Action": "SendSms", "X-TC-Timestamp": str(ts), "X-TC-Version": "2021-01-11",
            "X-TC-Region": self.cfg.region,
        }
        return headers, payload

    async def send(self, phone: str, text: str, params: dict[str, str],
                   key: str) -> ProviderResult:
        headers, payload = self.request(phone, params, key)
        body = await _request(self.name, "POST", self.cfg.endpoint, self.cfg.timeout_s,
                              headers=headers, data=payload.encode())
        resp = _obj(body.get("Response"))
        if "Error" in resp:
            error = _obj(resp["Error"])
            code = str(error.get("Code", ""))
            raise ProviderError(self.name, f"{code}: {error.get('Message', '')}",
                                retryable=code.split(".")[0] in TENCENT_RETRYABLE or
                                code in TENCENT_RETRYABLE, code=code)
        statuses = resp.get("SendStatusSet")
        status = _obj(statuses[0] if isinstance(statuses, list) and statuses else None)
        code = str(status.get("Code", ""))
        if code.lower() != "ok":
            raise ProviderError(self.name, f"{code}: {status.get('Message', '')}",
                                retryable=code.split(".")[0] in TENCENT_RETRYABLE, code=code)
        return ProviderResult(self.name, str(status.get("SerialNo", "")))


async def _request(name: str, method: str, url: str, timeout_s: float, *,
                   params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                   data: bytes = b"") -> dict[str, Any]:
    # The poster (h11, imported at the first page through a provider, not with the notifier)
    # on a fresh connection per page: pages are rare, and a connection never reused is never
    # silently re-sent on (Aliyun's SendSms is not idempotent).
    from gateway.outputs.httppost import HttpError, HttpPoster

    parts = urlsplit(url)
    target = parts.path or "/"
    query = "&".join(q for q in (parts.query, urlencode(params or {}, quote_via=quote)) if q)
    if query:
        target += "?" + query
    try:
        poster = HttpPoster(f"{parts.scheme}://{parts.netloc}")
    except ValueError as exc:  # refused at load (notify/config.py); kept for settings built in code
        raise ProviderError(name, f"endpoint {url!r}: {exc}", retryable=False) from exc
    try:
        r = await poster.request(method, target, data, headers or {}, timeout_s)
    except HttpError as exc:
        if not exc.sent:
            raise ProviderError(name, f"cannot reach {url}: {exc}", retryable=True) from exc
        raise ProviderError(name, f"no answer from {url} ({exc}); the message may have been "
                            f"sent", retryable=True, uncertain=True) from exc
    except TimeoutError as exc:
        raise ProviderError(name, f"no answer from {url} in {timeout_s:g} s; the message may "
                            f"have been sent", retryable=True, uncertain=True) from exc
    finally:
        await poster.close()
    text = r.body.decode("utf-8", "replace")
    if r.status >= 500:
        raise ProviderError(name, f"HTTP {r.status} from {url}", retryable=True)
    try:
        body = json.loads(text)
    except ValueError:
        raise ProviderError(name, f"HTTP {r.status} from {url}: not JSON "
                            f"({text[:80]!r})", retryable=False) from None
    if not isinstance(body, dict):
        raise ProviderError(name, f"HTTP {r.status} from {url}: not a JSON object "
                            f"({text[:80]!r})", retryable=False)
    return body


def _obj(value: object) -> dict[str, Any]:
    """A part of an answer that the API says is an object; anything else reads as empty (and
    so as a refusal without a code), never as an error that escapes the notifier."""
    return value if isinstance(value, dict) else {}


class Channel(Protocol):
    """An SMS HTTP provider as the notifier uses it."""

    name: str
    dedupe: bool

    async def send(self, phone: str, text: str, params: dict[str, str], key: str) -> Any: ...


def make_channel(cfg: ProviderConfig) -> Channel:
    """The channel ``cfg.type`` names in ``PROVIDER_TYPES``; an unknown type is refused (the
    configuration already refuses it; this guards a model built in code)."""
    entry = PROVIDER_TYPES.get(cfg.type)
    if entry is None:
        raise ValueError(f"unknown SMS provider {cfg.type!r}; use one of: "
                         f"{', '.join(sorted(PROVIDER_TYPES))}")
    module, _, cls = entry.channel.partition(":")
    channel: Channel = getattr(importlib.import_module(module), cls)(cfg)
    return channel
