"""An RS-485 adapter that hears its own requests (local echo), on a real pty line.

Cheap USB-RS-485 dongles without echo suppression hand every request back to the master ahead
of the device's reply. An echo is never data: unhandled, a request comes back as a frame that
fails its CRC or its byte count (a timeout or a bad reply, counted); with the line's
``local_echo`` set, every point reads as on a clean line.
"""

from __future__ import annotations

import math

import pytest

from drivers.device import DeviceReader
from drivers.model import Value
from drivers.transport import Line, LinkSpec
from tests.support.polling_kit import PROFILES, polled_bus

DEVICES = [("meter", "ddsu666", 1), ("breaker", "lx47le", 2), ("rcm", "aim_r100", 3),
           ("panel", "fire_panel", 5), ("doors", "fire_door", 6)]


def _same(read: Value, held: Value | None) -> bool:
    """The value read is the one the device holds, to the register's resolution (the model
    holds unrounded engineering values)."""
    if isinstance(read, int | float) and not isinstance(read, bool) and \
            isinstance(held, int | float) and not isinstance(held, bool):
        return math.isclose(read, held, rel_tol=1e-2, abs_tol=1.0)
    return read == held


@pytest.mark.parametrize("handled", [False, True])
async def test_a_local_echo_is_never_taken_for_data(handled: bool) -> None:
    async with polled_bus("rtu", DEVICES, start=False) as run:
        relay = run.sim.servers["bus"].relay
        assert relay is not None
        relay.local_echo = True
        line = Line(LinkSpec(kind="rtu", port=str(run.sim.ports()["bus"]), timeout_s=0.3,
                             local_echo=handled))
        read = failed = 0
        try:
            async with line.link() as link:
                for dev, prof, unit in DEVICES:
                    reader = DeviceReader(dev, PROFILES[prof], unit)
                    for cls in PROFILES[prof].poll_classes:
                        r = await reader.poll(link, cls)
                        held = run.sim.device(dev).values()
                        wrong = {k: (v, held.get(k)) for k, v in r.values.items()
                                 if not _same(v, held.get(k))}
                        assert not wrong, (dev, cls, wrong)
                        read += len(r.values)
                        failed += len(r.failed)
                        if r.failed:
                            assert r.error_kind in ("timeout", "bad_reply"), r.error
        finally:
            line.close()
        if handled:
            assert failed == 0 and read == sum(len(PROFILES[p].by_key) for _, p, _ in DEVICES)
        else:
            assert failed > 0  # the echo costs reads, and says so: it is not silent data


async def test_a_write_is_confirmed_through_an_echoing_adapter() -> None:
    """A write's reply repeats its request (function 06): with the echo dropped, the device's
    own confirmation is what confirms it."""
    async with polled_bus("rtu", [("breaker", "lx47le", 2)], start=False) as run:
        relay = run.sim.servers["bus"].relay
        assert relay is not None
        relay.local_echo = True
        line = Line(LinkSpec(kind="rtu", port=str(run.sim.ports()["bus"]), timeout_s=0.3,
                             local_echo=True))
        try:
            async with line.link() as link:
                await link.write_register(5, 100, 2)  # residual setting, mA
                reader = DeviceReader("breaker", PROFILES["lx47le"], 2)
                r = await reader.poll(link, "slow")
            assert r.values["residual_setting_ma"] == 100, r.error
        finally:
            line.close()


def test_the_installer_turns_it_on_in_the_bus_config() -> None:
    """``local_echo: true`` on an RTU bus reaches the line (and is refused on a TCP bus, where no
    adapter echoes)."""
    from gateway.config.models import RtuBus, TcpBus
    from gateway.runtime.gateway import link_spec

    bus = RtuBus.model_validate({"id": "l1", "type": "rtu", "port": "/dev/ttyUSB0",
                                 "local_echo": True})
    assert link_spec(bus).local_echo is True
    assert link_spec(bus.model_copy(update={"local_echo": False})).local_echo is False
    with pytest.raises(ValueError, match="local_echo"):
        TcpBus.model_validate({"id": "t", "type": "tcp", "host": "10.0.0.2",
                               "local_echo": True})
