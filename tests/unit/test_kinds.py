"""Device kinds in one table (rules/kinds.py), checked when profiles load: ``firegate check``
refuses a profile of an unknown kind, or one lacking a point its kind's rules need, and names
the profile file."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.profiles import BUILTIN_DIR, load_profiles
from gateway.cli.main import main
from rules.kinds import KINDS, check_profile
from simulators.device import MODELS

VALID = (Path(__file__).parents[1] / "data" / "config" / "valid.yaml").read_text()
METER = (BUILTIN_DIR / "ddsu666.yaml").read_text()


def building_with(tmp_path: Path, profile_text: str) -> Path:
    """valid.yaml with its room meter served by ``profile_text`` as a local profile."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "my_meter.yaml").write_text(
        profile_text.replace("profile: ddsu666", "profile: my_meter"), encoding="utf-8")
    cfg = VALID.replace("profile: ddsu666", "profile: my_meter")
    cfg = "profile_dirs: [profiles]\n" + cfg
    path = tmp_path / "gw.yaml"
    path.write_text(cfg, encoding="utf-8")
    return path


def test_unknown_kind_exits_2_naming_the_profile_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = building_with(tmp_path, METER.replace("kind: room_meter", "kind: room_meterr"))
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    profile = tmp_path / "profiles" / "my_meter.yaml"
    line = next(n for n, ln in enumerate(METER.splitlines(), 1) if ln.startswith("kind:"))
    assert f"{profile}:{line}: kind: kind 'room_meterr' is not a device kind" in err, err
    assert "did you mean 'room_meter'?" in err, err


def test_room_meter_without_power_exits_2_naming_the_profile_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [ln for ln in METER.splitlines() if "name: power_w" not in ln]
    path = building_with(tmp_path, "\n".join(lines) + "\n")
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "profiles" / "my_meter.yaml") in err, err
    assert "a room_meter needs point 'power_w' for rule overload" in err, err


def test_a_misspelt_point_is_caught_like_a_missing_one() -> None:
    assert check_profile("room_meter", ["voltage_v", "power_watts"])
    assert check_profile("door_monitor", ["door_opened@1"])
    assert not check_profile("door_monitor", ["door_open@1", "door_open@2"])


def test_every_built_in_profile_is_of_a_known_kind_with_what_its_rules_need() -> None:
    for prof in load_profiles().values():
        assert check_profile(prof.kind, prof.by_key) == [], prof.profile


def test_every_kind_names_a_simulator_model_that_exists() -> None:
    for kind in KINDS.values():
        assert kind.simulator in MODELS, kind.name
        assert set(kind.headline) <= set(kind.keys), kind.name
