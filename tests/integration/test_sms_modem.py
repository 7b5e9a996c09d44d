"""The real GsmModem against the modem simulator on a pty."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from smspdudecoder.easy import read_outgoing_sms

from drivers.sms.at import AtError
from drivers.sms.modem import CmsError, GsmModem, ModemNotReady, ModemSilent
from simulators.modem import ModemSimulator

CN_200 = ("东校区1号楼3层305室电气火灾监控探测器报警，"
          "剩余电流超过阈值，请值班电工立即到场处置。" * 5)[:200]


async def test_init_and_health_report_sim_network_and_signal() -> None:
    async with ModemSimulator(rssi=18) as path, GsmModem(path, command_wait_s=1) as m:
        h = await m.init()
        assert h.ok and h.sim == "READY" and h.registered
        assert h.signal_dbm == -113 + 36


async def test_pin_is_entered_when_the_sim_asks_for_it() -> None:
    async with ModemSimulator(pin="1234") as path:
        async with GsmModem(path, pin="1234", command_wait_s=1) as m:
            assert (await m.init()).ok
    async with ModemSimulator(pin="1234") as path, GsmModem(path, command_wait_s=1) as m:
        with pytest.raises(ModemNotReady, match=r"notify\.modem\.pin"):
            await m.init()


async def test_200_chinese_characters_arrive_as_linked_parts(tmp_path: Path) -> None:
    log = tmp_path / "sms.jsonl"
    sim = ModemSimulator(log_path=log)
    async with sim as path, GsmModem(path, command_wait_s=1) as m:
        await m.init()
        refs = await m.send_text("+8613800000001", CN_200)
    assert len(refs) == 3
    [msg] = sim.messages()
    assert msg.text == CN_200 and msg.parts == 3 and msg.number == "+8613800000001"
    assert "".join(read_outgoing_sms(p)["content"] for p in msg.pdus) == CN_200
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert [r["concat"]["seq"] for r in lines] == [1, 2, 3]
    assert all(r["accepted"] and r["number"] == "+8613800000001" for r in lines)
    sim.write_jsonl(tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_text(encoding="utf-8") == log.read_text("utf-8")


async def test_simulator_rejects_a_pdu_with_the_wrong_length() -> None:
    sim = ModemSimulator()
    async with sim as path, GsmModem(path, command_wait_s=1) as m:
        await m.init()
        with pytest.raises(AtError, match="304"):
            await m.channel.command_with_prompt(
                "AT+CMGS=99", "0001000B916407281553F800000AE8329BFD4697D9EC37", 2, 2)
    assert sim.received[-1].accepted is False
    assert "does not match" in (sim.received[-1].error or "")


async def test_reply_is_announced_read_and_deleted() -> None:
    sim = ModemSimulator()
    async with sim as path, GsmModem(path, command_wait_s=1) as m:
        await m.init()
        sim.deliver("+8613900000002", "确认 4821")
        index = await asyncio.wait_for(m.wait_new_message(), 2)
        sms = await m.read_message(index)
        assert sms is not None and sms.sender == "+8613900000002" and sms.text == "确认 4821"
        await m.delete(index)
        assert sim.storage == {}
        sim.deliver("13900000003", "1 1111")
        sim.deliver("13900000004", "1 2222")
        msgs = await m.read_incoming()
        assert sorted(x.text for x in msgs) == ["1 1111", "1 2222"]
        assert sim.storage == {}


@pytest.mark.parametrize(("code", "retryable", "words"), [
    (331, True, "no network service"),
    (330, False, "notify.modem.smsc"),
    (50, False, "credit"),
    (500, True, "unknown"),
])
async def test_cms_errors_map_to_clear_retry_decisions(code: int, retryable: bool,
                                                       words: str) -> None:
    sim = ModemSimulator()
    async with sim as path, GsmModem(path, command_wait_s=1) as m:
        await m.init()
        sim.inject_cms_error(code)
        with pytest.raises(CmsError) as info:
            await m.send_text("+8613800000001", "测试")
        assert info.value.code == code and info.value.retryable is retryable
        assert words in str(info.value)
        await m.send_text("+8613800000001", "测试")  # the next one goes through
    assert len(sim.messages()) == 1


async def test_no_network_shows_in_health_and_refuses_sends() -> None:
    sim = ModemSimulator()
    async with sim as path, GsmModem(path, command_wait_s=1) as m:
        await m.init()
        sim.set_network(False)
        h = await m.health()
        assert not h.ok and "not registered" in (h.error or "")
        with pytest.raises(CmsError) as info:
            await m.send_text("+8613800000001", "测试")
        assert info.value.code == 331 and info.value.retryable


async def test_silent_modem_times_out_and_recovers_after_reset() -> None:
    sim = ModemSimulator()
    async with sim as path, GsmModem(path, command_wait_s=0.3) as m:
        await m.init()
        sim.set_silent(True)
        h = await m.health()
        assert not h.ok and "did not answer" in (h.error or "")
        with pytest.raises(ModemSilent, match="did not answer"):
            await m.send_text("+8613800000001", "测试")
        sim.set_silent(False)
        assert (await m.reset()).ok
        await m.send_text("+8613800000001", "恢复")
        assert m.resets == 1
    assert [x.text for x in sim.messages()] == ["恢复"]
