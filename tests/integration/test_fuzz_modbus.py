"""Garbage on a real line: the simulators' garbage modes (bad CRC, truncated and noisy replies)
against the gateway's own reader over Modbus TCP and RTU over TCP. Every poll ends as a result
(points decoded or reported failed, with the reason), and the device reads right once healed."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.device import DeviceReader
from drivers.profiles import load_profiles
from drivers.transport import Link, LinkSpec
from simulators import Simulation
from simulators.faults import GARBAGE_MODES
from simulators.spec import SimBus, SimDevice, SimSpec

PROFILES = load_profiles()


@pytest.mark.parametrize("kind", ["tcp", "rtu_over_tcp", "rtu"])
async def test_garbage_replies_never_escape_the_reader(kind: str, tmp_path: Path) -> None:
    devices = [("room-1", "dorm_controller", 1), ("meter-1", "ddsu666", 2),
               ("brk-1", "lx47le", 3)]
    where: int | str = str(tmp_path / "line") if kind == "rtu" else 0
    spec = SimSpec(buses=[SimBus(id="bus", kind=kind, port=where)],  # type: ignore[arg-type]
                   devices=[SimDevice(id=i, profile=PROFILES[p], bus="bus", unit=u)
                            for i, p, u in devices])
    async with Simulation(spec) as sim:
        port = sim.ports()["bus"]
        link = Link(LinkSpec(kind="rtu", port=str(port), timeout_s=0.15) if kind == "rtu" else
                    LinkSpec(kind=kind, host="127.0.0.1", port=int(port),  # type: ignore[arg-type]
                             timeout_s=0.15))
        readers = {i: DeviceReader(i, PROFILES[p], u) for i, p, u in devices}
        try:
            polls = 0
            for mode in GARBAGE_MODES:
                for dev_id, reader in readers.items():
                    sim.device(dev_id).fault("garbage", mode=mode)
                    for cls in reader.profile.poll_classes:
                        r = await reader.poll(link, cls)
                        polls += 1
                        keys = {p.key for p in reader.profile.points_for(cls)}
                        assert set(r.values) | set(r.failed) == keys, (mode, dev_id, cls)
                        assert r.failed and r.error, (mode, dev_id, cls, r.values)
                    sim.device(dev_id).heal()
                # Healed: every point reads again, as the device holds it.
                for dev_id, reader in readers.items():
                    for cls in reader.profile.poll_classes:
                        r = await reader.poll(link, cls)
                        assert not r.failed, (mode, dev_id, cls, r.error)
                        assert set(r.values) == {p.key for p in
                                                 reader.profile.points_for(cls)}
            assert polls >= 20
            healed = await readers["room-1"].poll(link, "fast")
            assert healed.values["socket_on"] is True
            assert healed.values["socket_cut_reason"] == "none"
        finally:
            link.close()
