"""Fire panels over GB/T 26875.3: the gateway as the monitoring centre, the transmission device
simulator dialing it over real TCP (and, for relay mode, a real listening centre behind it)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from pathlib import Path

import pytest
import yaml

from drivers.gbt26875 import frame as fr
from drivers.gbt26875 import units as u
from simulators.gbt26875 import MonitoringCentre, TransmissionDevice
from tests.support.gbt_kit import ADDRESS, gbt_config, gbt_config_data, running_gbt
from tests.support.waiting import until

DEVICE = fr.address_bytes(ADDRESS)
CENTRE = bytes(6)


async def test_a_fire_at_a_component_raises_an_alarm_naming_it_and_is_confirmed(
        tmp_path: Path) -> None:
    async with running_gbt(gbt_config(tmp_path)) as rig:
        dev = rig.device()
        async with dev.dialing("127.0.0.1", rig.port):
            assert await dev.fire(2, 17), "the fire frame was never confirmed"
            sent = fr.decode(dev.sent[-1])
            confirm = dev.received[-1]
            assert confirm.command == fr.Command.CONFIRM and confirm.serial == sent.serial
            assert confirm.source == CENTRE and confirm.destination == DEVICE
            await until(lambda: bool(rig.raised("fire_alarm")))
        fire = rig.raised("fire_alarm")[0]
        assert fire["channel"] == "2-17" and fire["severity"] == "critical"
        assert fire["location"] == "三层东侧走廊感烟"
        assert "三层东侧走廊感烟" in fire["message_zh"]
        assert rig.gw.ledger.get(fire["id"]).location == "三层东侧走廊感烟"
        state = rig.gw.outbox.alarm_state(fire["id"])
        assert state is not None and state.location == "三层东侧走廊感烟"


@pytest.mark.parametrize("kind", ["bad_checksum", "truncated", "wrong_length", "flood"])
async def test_a_damaged_frame_raises_nothing_and_the_link_stays_up(tmp_path: Path,
                                                                    kind: str) -> None:
    async with running_gbt(gbt_config(tmp_path)) as rig:
        dev = rig.device()
        async with dev.dialing("127.0.0.1", rig.port):
            dev.misbehave(kind)
            await dev.fire(2, 17)  # damaged on the wire: not waited for
            await asyncio.sleep(0.3)
            assert not rig.raised("fire_alarm")
            if kind == "bad_checksum":  # the header was readable: that serial is denied
                bad = dev.sent[-1]
                denies = [f for f in dev.received if f.command == fr.Command.DENY]
                assert [d.serial for d in denies] == [bad[2] | bad[3] << 8]
            # the same connection takes the next frame
            assert await dev.fire(2, 18), "the frame after the damaged one was not confirmed"
            await until(lambda: bool(rig.raised("fire_alarm")))
            assert rig.listener.connections == 1 and dev.connects == 1
            # a truncated frame shows only when the next bytes come
            assert rig.listener.counters["malformed"] >= 1
        assert [t["channel"] for t in rig.raised("fire_alarm")] == ["2-18"]


async def test_a_silent_device_raises_comm_loss_and_clears_when_it_sends_again(
        tmp_path: Path) -> None:
    async with running_gbt(gbt_config(tmp_path, silent_s=0.6)) as rig:
        dev = rig.device()
        async with dev.dialing("127.0.0.1", rig.port):
            assert await dev.run_state()
            await until(lambda: bool(rig.raised("comm_loss")), timeout=10)
            assert not rig.gw.health["fas-1"].online
            assert await dev.run_state()  # a heartbeat
            await until(lambda: bool(rig.events("clear", "comm_loss")), timeout=5)


async def test_relay_mode_forwards_every_frame_byte_for_byte(tmp_path: Path) -> None:
    async with MonitoringCentre() as centre:
        cfg = gbt_config(tmp_path, relay_to=f"127.0.0.1:{centre.port}")
        async with running_gbt(cfg) as rig:
            dev = rig.device()
            async with dev.dialing("127.0.0.1", rig.port):
                assert await dev.fire(2, 17), "the centre's confirm did not come back"
                dev.misbehave("bad_checksum")
                await dev.fault(3, 5)
                assert await dev.fault(3, 5)
                assert await dev.analog(3, 5, 3, 48.5)
                assert await dev.reset()
                everything = b"".join(dev.sent)
                await until(lambda: len(centre.received) >= len(everything))
                await until(lambda: bool(rig.events("clear", "fire_alarm")))
        assert bytes(centre.received) == everything
        # the gateway read along but left confirming to the real centre
        assert rig.listener.counters["confirmed"] == 0
        confirms = [f for f in dev.received if f.command == fr.Command.CONFIRM]
        assert len(confirms) == centre.confirmed == 5
        assert rig.raised("fire_alarm")[0]["location"] == "三层东侧走廊感烟"
        # the component's fault, and the panel's own fault bit in the status after the reset
        assert {t["channel"] for t in rig.raised("panel_fault")} == {"fault@3-5", "fault"}


async def test_frames_from_an_unlisted_source_are_logged_and_ignored(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="firegate.gbt26875")
    async with running_gbt(gbt_config(tmp_path)) as rig:
        dev = rig.device(retries=0, confirm_s=0.3)
        async with dev.dialing("127.0.0.1", rig.port):
            dev.misbehave("unlisted")
            assert not await dev.fire(2, 17), "a frame from an unlisted source was confirmed"
        assert rig.listener.counters["unlisted"] == 1 and not rig.results
        assert "0000DEADBEEF" in caplog.text and "no device lists" in caplog.text


async def test_reset_fault_analog_and_operations_map_onto_points_ledger_and_telemetry(
        tmp_path: Path) -> None:
    async with running_gbt(gbt_config(tmp_path)) as rig:
        dev = rig.device()
        async with dev.dialing("127.0.0.1", rig.port):
            assert await dev.fire(2, 17)
            assert await dev.operation("silence", operator=4)
            assert await dev.reset(operator=4)
            await until(lambda: bool(rig.events("clear", "fire_alarm")))
            assert await dev.fault(3, 5)
            assert await dev.analog(3, 5, 3, 48.5)
            assert await dev.system_status("main_power_fault")
            await until(lambda: len(rig.raised("panel_fault")) == 2)
        faults = {t["channel"]: t for t in rig.raised("panel_fault")}
        assert faults["fault@3-5"]["location"] == "配电间感温"
        assert "main_power_fault" in faults
        temps = [r.values["temperature_c@3-5"] for r in rig.results
                 if "temperature_c@3-5" in r.values]
        assert temps == [48.5]
        ops = [(a["action"], a["who"], a["via"]) for a in rig.gw.ledger.actions("fas-1")]
        assert ops == [("silence", "operator 4", "panel"), ("reset", "operator 4", "panel")]


async def test_a_retransmitted_frame_is_confirmed_again_but_taken_once(tmp_path: Path) -> None:
    async with running_gbt(gbt_config(tmp_path)) as rig:
        dev = rig.device()
        op = u.DataUnit(u.OPERATION_RECORD, (u.OperationRecord(1, 1, 0b10000, 2),))
        raw = fr.Frame(77, fr.Command.SEND_DATA, DEVICE, CENTRE, u.encode(op)).encode()
        async with dev.dialing("127.0.0.1", rig.port):
            await dev.send_raw(raw)
            await dev.send_raw(raw)
            await until(lambda: len(dev.received) == 2)
        assert [(f.command, f.serial) for f in dev.received] == [(3, 77), (3, 77)]
        assert [a["action"] for a in rig.gw.ledger.actions("fas-1")] == ["self_test"]
        assert rig.listener.counters["repeats"] == 1


async def test_a_fault_clears_after_its_off_delay_without_another_frame(tmp_path: Path) -> None:
    rules = {"defaults": {"panel_fault": {"off_delay_s": 1.0}}}
    async with running_gbt(gbt_config(tmp_path, rules=rules)) as rig:
        dev = rig.device()
        async with dev.dialing("127.0.0.1", rig.port):
            assert await dev.fault(3, 5)
            await until(lambda: bool(rig.raised("panel_fault")))
            assert await dev.clear(3, 5)  # the panel says so once, and then nothing more
            sent = len(dev.sent)
            await until(lambda: bool(rig.events("clear", "panel_fault")), timeout=5)
            assert len(dev.sent) == sent


async def test_a_component_alarm_open_before_a_restart_clears_after_it(tmp_path: Path) -> None:
    cfg = gbt_config(tmp_path, rules={"defaults": {"panel_fault": {"off_delay_s": 0.5}}})
    async with running_gbt(cfg) as rig:
        dev = rig.device()
        async with dev.dialing("127.0.0.1", rig.port):
            assert await dev.fault(3, 5)
            await until(lambda: bool(rig.raised("panel_fault")))
    cfg2 = gbt_config(tmp_path, rules={"defaults": {"panel_fault": {"off_delay_s": 0.5}}})
    async with running_gbt(cfg2) as rig2:
        dev = rig2.device()
        async with dev.dialing("127.0.0.1", rig2.port):
            assert await dev.clear(3, 5)
            await until(lambda: bool(rig2.events("clear", "panel_fault")))
        assert not rig2.raised("panel_fault")
        assert rig2.events("clear", "panel_fault")[0]["location"] == "配电间感温"


async def test_the_simulators_scripted_scenario_plays_through_the_gateway(tmp_path: Path) -> None:
    rules = {"defaults": {"panel_fault": {"off_delay_s": 0.2}}}
    async with running_gbt(gbt_config(tmp_path, rules=rules)) as rig:
        dev = rig.device(hello_on_connect=True)
        task = asyncio.create_task(dev.run("127.0.0.1", rig.port, time_scale=0.02))
        try:
            await until(lambda: bool(rig.events("clear", "panel_fault")), timeout=15)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert [(t["event"], t["channel"], t["location"]) for t in rig.transitions
                if t["rule"] == "fire_alarm"] == [("raise", "2-17", "三层东侧走廊感烟"),
                                                  ("clear", "2-17", "三层东侧走廊感烟")]
        assert [t["location"] for t in rig.raised("panel_fault")] == ["配电间感温"]
        assert [a["action"] for a in rig.gw.ledger.actions("fas-1")] == ["silence", "reset"]
        assert [r.values["temperature_c@3-5"] for r in rig.results
                if "temperature_c@3-5" in r.values and r.poll_class == "frame"] == [31.5, 33.0]
        assert not any(f.command == fr.Command.DENY for f in dev.received)


async def test_relay_with_the_centre_down_alarms_here_and_delivers_there_once_it_is_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.runtime import gbtlisten
    from tests.support.servers import free_port

    monkeypatch.setattr(gbtlisten.Relay, "RETRY_S", 0.3)
    port = free_port()  # nothing listens there yet: the 119 centre's link is down
    async with running_gbt(gbt_config(tmp_path, relay_to=f"127.0.0.1:{port}")) as rig:
        dev = rig.device(confirm_s=0.25, retries=40)
        async with dev.dialing("127.0.0.1", rig.port):
            fire = asyncio.create_task(dev.fire(2, 17))
            await until(lambda: bool(rig.raised("fire_alarm")))  # read along: alarmed here
            await asyncio.sleep(0.5)
            assert not fire.done(), "confirmed although no monitoring centre took the frame"
            async with MonitoringCentre(port=port) as centre:
                assert await asyncio.wait_for(fire, 10), "the centre never confirmed"
                first = fr.decode(dev.sent[0])
                assert any(f.serial == first.serial for f in centre.frames)
        assert len(rig.raised("fire_alarm")) == 1  # the retransmissions were not new fires


async def test_a_connection_from_outside_allow_from_is_refused(tmp_path: Path) -> None:
    cfg = gbt_config(tmp_path)
    cfg.buses[0].allow_from = ["10.20.3.7"]  # type: ignore[union-attr]
    async with running_gbt(cfg) as rig:
        reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
        op = u.DataUnit(u.OPERATION_RECORD, (u.OperationRecord(1, 1, 1, 2),))
        writer.write(fr.Frame(5, fr.Command.SEND_DATA, DEVICE, CENTRE, u.encode(op)).encode())
        try:
            answer = await asyncio.wait_for(reader.read(100), 5)
        except ConnectionResetError:  # closed with our frame unread
            answer = b""
        assert answer == b""  # closed, nothing confirmed
        writer.close()
        assert not rig.results and rig.gw.ledger.actions("fas-1") == []


async def test_a_stop_with_a_device_still_connected_leaves_no_traceback(tmp_path: Path) -> None:
    """``firegate run`` stopped by systemd while the panel's transmission device is dialled in:
    the journal of a normal stop must not hold a traceback an admin would chase."""
    data = gbt_config_data(tmp_path / "data")
    port = data["buses"][0]["port"]
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli.main", "run", "-c", str(cfg), "--no-view",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        dev = TransmissionDevice(ADDRESS)
        await until(lambda: _listening(port), timeout=30, what="the GB/T listener")
        async with dev.dialing("127.0.0.1", port):
            assert await dev.fire(2, 17), "the fire frame was never confirmed"
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    text = err.decode()
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "Exception in callback" not in text, text


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True
