"""docs/extending.md, recipe 1b, followed literally: its profile file, its kinds-table entry and
its configuration lines are read from the page and applied; ``firegate check`` accepts the new
kind, and a real gateway polling a simulator of the device raises a rule the entry lists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli.main import main
from rules import kinds
from tests.support.gateway_kit import config, running
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "extending.md"
VALID = (ROOT / "tests" / "data" / "config" / "valid.yaml").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w+) file=(\S+)\n(.*?)^```", re.M | re.S)


def recipe_blocks(title: str) -> dict[str, str]:
    """The code blocks of the recipe whose heading starts with ``title``: file → text."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return {path: body for _, path, body in BLOCK.findall(text[start:end if end > 0 else None])}


def follow_recipe_1b(tmp_path: Path) -> tuple[kinds.Kind, dict[str, Any]]:
    """Do what recipe 1b says: write the profile; return the kind's entry (to add to KINDS)
    and the configuration lines as data."""
    blocks = recipe_blocks("1b.")
    assert set(blocks) == {"profiles/cable_monitor.yaml", "rules/kinds.py", "gateway.yaml"}
    profile = tmp_path / "profiles" / "cable_monitor.yaml"
    profile.parent.mkdir()
    profile.write_text(blocks["profiles/cable_monitor.yaml"], encoding="utf-8")
    entry = eval(blocks["rules/kinds.py"], vars(kinds))  # an entry of the KINDS table
    assert isinstance(entry, kinds.Kind)
    return entry, dict(yaml.safe_load(blocks["gateway.yaml"]))


async def test_a_profile_of_a_new_kind_as_docs_extending_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    entry, added = follow_recipe_1b(tmp_path)
    building = yaml.safe_load(VALID)
    building["profile_dirs"] = added["profile_dirs"]
    building["devices"] += added["devices"]
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(building, allow_unicode=True), encoding="utf-8")
    # Without the kinds-table entry the files are refused, naming the profile file ...
    assert main(["check", "-c", str(path)]) == 2
    assert "profiles/cable_monitor.yaml:5: kind: kind 'cable_monitor' is not a device kind" \
        in capsys.readouterr().err
    # ... with it they pass.
    monkeypatch.setitem(kinds.KINDS, entry.name, entry)
    assert main(["check", "-c", str(path)]) == 0, capsys.readouterr().err

    # The new device polled from a simulator: a hot cable raises over_temperature.
    [device] = added["devices"]
    cfg = config(tmp_path / "data", [{k: v for k, v in device.items() if k != "bus"}],
                 profile_dirs=[str(tmp_path / "profiles")],
                 rules={"defaults": {"over_temperature": {"on_delay_s": 0}}})
    async with running(cfg) as rig:
        await until(lambda: rig.gw.health[device["id"]].online, what="the monitor polled")
        rig.sim.device(device["id"]).set({"temperature_c@2": 95.0})
        await until(lambda: bool(rig.raised("over_temperature", device["id"])),
                    what="over_temperature on the new kind")
    [tr] = rig.raised("over_temperature", device["id"])
    assert tr["channel"] == "2" and tr["room"] == "配电间"
