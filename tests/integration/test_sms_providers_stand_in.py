"""Provider channels against a local stand-in HTTP server (``stand_in`` in each name)."""

from __future__ import annotations

import pytest

from gateway.notify.config import AliyunProvider, TencentProvider
from gateway.notify.providers import AliyunChannel, ProviderError, TencentChannel, aliyun_signature
from tests.support.sms_stand_in import StandIn

PARAMS = {"what": "火警:烟感报警", "where": "东校区 1号楼 3层 305室", "value": "",
          "time": "11-29 20:03", "code": "4821"}


def aliyun(base: str, secret: str = "aliyun-secret") -> AliyunChannel:
    return AliyunChannel(AliyunProvider(type="aliyun", endpoint=f"{base}/aliyun/",
                                        access_key_id="id1", access_key_secret=secret,
                                        sign_name="某学院", template_code="SMS_1", timeout_s=1))


def tencent(base: str, secret: str = "tencent-secret") -> TencentChannel:
    return TencentChannel(TencentProvider(type="tencent", endpoint=f"{base}/tencent/",
                                          secret_id="AKID1", secret_key=secret,
                                          sdk_app_id="1400000000", sign_name="某学院",
                                          template_id="123", timeout_s=1))


def test_aliyun_signature_matches_the_documented_example() -> None:
    # Aliyun's SMS signing example (testId / testSecret)
    params = {"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
              "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou",
              "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
              "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007",
              "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
              "Version": "2017-05-25"}
    assert aliyun_signature(params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


async def test_aliyun_stand_in_accepts_a_signed_template_page() -> None:
    async with StandIn() as srv:
        r = await aliyun(srv.base_url).send("+8613800000001", "text", PARAMS, "gw1-7")
    assert r.message_id == "biz1"
    [got] = srv.accepted
    assert got["phone"] == "13800000001" and got["out_id"] == "gw1-7"
    assert got["params"]["where"] == "东校区 1号楼 3层 305室" and got["params"]["code"] == "4821"


async def test_aliyun_stand_in_wrong_secret_is_a_clear_non_retryable_error() -> None:
    async with StandIn() as srv:
        with pytest.raises(ProviderError, match="SignatureDoesNotMatch") as info:
            await aliyun(srv.base_url, "wrong").send("+8613800000001", "t", PARAMS, "k")
    assert not info.value.retryable and srv.accepted == []


async def test_aliyun_stand_in_rate_limit_is_retryable() -> None:
    async with StandIn(fail_with="isv.BUSINESS_LIMIT_CONTROL") as srv:
        with pytest.raises(ProviderError) as info:
            await aliyun(srv.base_url).send("+8613800000001", "t", PARAMS, "k")
    assert info.value.retryable and info.value.code == "isv.BUSINESS_LIMIT_CONTROL"


async def test_aliyun_stand_in_lost_answer_is_marked_uncertain() -> None:
    async with StandIn(hang_s=3) as srv:
        with pytest.raises(ProviderError, match="may have been sent") as info:
            await aliyun(srv.base_url).send("+8613800000001", "t", PARAMS, "k")
    assert info.value.uncertain
    assert len(srv.accepted) == 1  # it did go out: sending again would page twice


async def test_tencent_stand_in_accepts_a_tc3_signed_page() -> None:
    async with StandIn() as srv:
        r = await tencent(srv.base_url).send("13800000001", "t", PARAMS, "gw1-8")
    assert r.message_id == "s1"
    [got] = srv.accepted
    assert got["phone"] == "+8613800000001"
    # the template's variables in the configured order: where first, then what (issue 14)
    assert got["params"][:2] == ["东校区 1号楼 3层 305室", "火警:烟感报警"]
    assert got["params"][4] == "4821"


async def test_tencent_stand_in_wrong_key_is_refused() -> None:
    async with StandIn() as srv:
        with pytest.raises(ProviderError, match="AuthFailure"):
            await tencent(srv.base_url, "wrong").send("13800000001", "t", PARAMS, "k")
    assert srv.refused == ["tencent: bad signature"]


async def test_unreachable_provider_says_where() -> None:
    ch = aliyun("http://127.0.0.1:9")
    with pytest.raises(ProviderError, match=r"cannot reach http://127\.0\.0\.1:9") as info:
        await ch.send("13800000001", "t", PARAMS, "k")
    assert info.value.retryable and not info.value.uncertain

