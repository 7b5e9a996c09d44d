"""Line timing at 9600 baud: a pty or a TCP socket moves bytes at memory speed, so the simulator
holds them back to what RS-485 allows (the model in ``simulators/pty.py``). Lower bounds only:
a busy machine may be slower, never faster than the wire."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from drivers.profiles import load_profiles
from simulators import SimBus, SimDevice, SimSpec, Simulation
from simulators.pty import char_s, cycle_s, gap_s, transaction_s
from tests.support.sim_kit import client_for

PROFILES = load_profiles()
READS = 5


def test_the_timing_model_matches_the_figures_of_domain_md() -> None:
    assert char_s(9600) == pytest.approx(1.146e-3, rel=1e-3)
    assert gap_s(9600) == pytest.approx(4.01e-3, rel=1e-2)
    # a 10-register read: 8-byte request, 25-byte reply, about 38 ms on the wire
    assert transaction_s(8, 25, 9600) - gap_s(9600) == pytest.approx(0.0378, rel=1e-2)
    assert cycle_s(8, 25, 9600, 0.02) == pytest.approx(0.0378 + 2 * 0.00401 + 0.02, rel=1e-2)


@pytest.mark.parametrize("kind", ["rtu", "rtu_over_tcp"])
@pytest.mark.parametrize("turnaround_s", [0.0, 0.02])
async def test_a_9600_baud_transaction_takes_at_least_the_wire_time(
    kind: str, turnaround_s: float, tmp_path: Path
) -> None:
    port: int | str = str(tmp_path / "ttyRS485") if kind == "rtu" else 0
    spec = SimSpec(
        buses=[SimBus("bus", kind, port=port, baudrate=9600, emulate_timing=True,  # type: ignore[arg-type]
                      turnaround_s=turnaround_s)],
        devices=[SimDevice("rcm", PROFILES["aim_r100"], "bus", 1)],
    )
    async with Simulation(spec) as sim:
        client = client_for(kind, sim.ports()["bus"], timeout=2.0)
        assert await client.connect()
        try:
            await client.read_holding_registers(0x004A, count=10, device_id=1)  # warm up
            start = time.perf_counter()
            for _ in range(READS):
                rr = await client.read_holding_registers(0x004A, count=10, device_id=1)
                assert not rr.isError()
            elapsed = time.perf_counter() - start
        finally:
            client.close()
    # back to back, each read waits for the line: n transactions and the n - 1 gaps between
    wire = READS * transaction_s(8, 25, 9600, turnaround_s) + (READS - 1) * gap_s(9600)
    assert elapsed >= wire * 0.98
