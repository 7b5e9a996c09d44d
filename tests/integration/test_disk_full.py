"""A full disk under the data directory: polling and the rules go on, the error says what and
where, and the gateway recovers once there is room again."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway_kit import config, running
from tests.support.polling_kit import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB filesystem (tmpfs), so 'disk full' is the kernel's, not a mock's."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


async def test_full_disk_keeps_polling_and_says_why(small_disk: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    mnt = small_disk
    devices = [{"id": f"room-{i}", "profile": "ddsu666", "unit": i, "floor": 1,
                "room": str(100 + i), "ratings": {"power_limit_w": 1200}}
               for i in range(1, 9)]
    # the outbox's own budget keeps it well inside the disk once there is room again
    cfg = config(mnt / "data", devices, period_s=0.2, store_budget_mb=0.3)
    caplog.set_level(logging.ERROR)
    async with running(cfg) as rig:
        await wait_for(lambda: all(h.online for h in rig.gw.health.values()))
        filler = mnt / "filler"
        # take what room is left; unbuffered, so closing has nothing left over to fail on
        with filler.open("wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        await wait_for(lambda: "full" in caplog.text, timeout=20)
        polled = rig.gw.polls
        await asyncio.sleep(2.0)
        assert rig.gw.polls > polled + 20, "polling stopped when the disk filled"
        assert all(h.online for h in rig.gw.health.values())
        # a fire of an appliance still reaches the rules while the disk is full
        rig.sim.device("room-1").set({"load": "kettle"})
        await asyncio.sleep(1.0)
        filler.unlink()  # room again: the stores take writes again
        # recorded and published once the disk has room, in the order the rules decided
        await wait_for(lambda: bool(rig.raised("overload", "room-1")), timeout=20)
        await wait_for(lambda: not rig.gw._unrecorded and not rig.gw._outbox_failing)
    assert str(mnt / "data") in caplog.text or "outbox" in caplog.text
