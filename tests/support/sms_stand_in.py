"""A local stand-in for the Aliyun and Tencent SMS APIs (nothing real can run here).

It checks each request's signature with the shared secret the way the real service does, records
what it accepted, and can answer with an error code or not answer at all.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.notify.providers import aliyun_signature, tc3_authorization


@dataclass
class StandIn:
    aliyun_secret: str = "aliyun-secret"
    tencent_secret: str = "tencent-secret"
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    fail_with: str | None = None  # provider error code for the next requests
    hang_s: float = 0.0  # accept, then answer only after this long (a lost answer)
    answer_with: Any = None  # a JSON answer of the wrong shape for the next requests
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> StandIn:
        app = web.Application()
        app.router.add_get("/aliyun/", self._aliyun)
        app.router.add_post("/tencent/", self._tencent)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _aliyun(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        sig = q.pop("Signature", "")
        if sig != aliyun_signature(q, self.aliyun_secret):
            self.refused.append("aliyun: bad signature")
            return web.json_response({"Code": "SignatureDoesNotMatch",
                                      "Message": "Specified signature is not matched"})
        if self.answer_with is not None:
            return web.json_response(self.answer_with)
        if self.fail_with:
            return web.json_response({"Code": self.fail_with, "Message": "stand-in refusal"})
        self.accepted.append({"provider": "aliyun", "phone": q["PhoneNumbers"],
                              "out_id": q["OutId"], "sign": q["SignName"],
                              "template": q["TemplateCode"],
                              "params": json.loads(q["TemplateParam"])})
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        return web.json_response({"Code": "OK", "Message": "OK",
                                  "BizId": f"biz{len(self.accepted)}"})

    async def _tencent(self, request: web.Request) -> web.Response:
        body = await request.text()
        ts = int(request.headers["X-TC-Timestamp"])
        secret_id = request.headers["Authorization"].split("Credential=")[1].split("/")[0]
        want = tc3_authorization(secret_id=secret_id, secret_key=self.tencent_secret,
                                 host=request.headers["Host"], payload=body, timestamp=ts)
        if request.headers["Authorization"] != want or \
                request.headers.get("X-TC-Action") != "SendSms":
            self.refused.append("tencent: bad signature")
            return web.json_response({"Response": {"Error": {
                "Code": "AuthFailure.SignatureFailure", "Message": "signature"},
                "RequestId": "r"}})
        if self.answer_with is not None:
            return web.json_response(self.answer_with)
        if self.fail_with:
            return web.json_response({"Response": {"Error": {
                "Code": self.fail_with, "Message": "stand-in refusal"}, "RequestId": "r"}})
        data = json.loads(body)
        self.accepted.append({"provider": "tencent", "phone": data["PhoneNumberSet"][0],
                              "params": data["TemplateParamSet"],
                              "template": data["TemplateId"]})
        return web.json_response({"Response": {"SendStatusSet": [{
            "SerialNo": f"s{len(self.accepted)}", "PhoneNumber": data["PhoneNumberSet"][0],
            "Code": "Ok", "Message": "send success"}], "RequestId": "r"}})
