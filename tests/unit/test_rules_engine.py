"""The engine's wiring: kinds and point keys agree with the profiles, operator controls."""

from __future__ import annotations

import pytest

from drivers.profiles import load_profiles
from rules.engine import KIND_KEYS, Engine
from rules.model import Snapshot
from rules.settings import RulesSettings
from tests.support.rules_kit import DAY, DEVICES, Rig, device


def test_every_built_in_profile_offers_the_keys_its_kind_is_watched_for() -> None:
    kinds_seen = set()
    for prof in load_profiles().values():
        keys = set(prof.by_key)
        # a profile with open channels lists its fixed points; channels come as reported
        wanted = {k for k in KIND_KEYS[prof.kind] if not (prof.open_channels and "@" in k)}
        assert wanted <= keys, prof.profile
        kinds_seen.add(prof.kind)
    assert kinds_seen == set(KIND_KEYS)


def test_points_from_the_profile_limit_what_is_watched() -> None:
    info = device("rcm-2", "residual_monitor", points=("residual_current_ma@1",
                                                       "residual_current_ma@2"))
    eng = Engine(RulesSettings.model_validate(
        {"defaults": {"residual_current": {"on_delay_s": 0}}}), {"rcm-2": info})
    out = eng.feed(Snapshot("rcm-2", DAY, True, {"residual_current_ma@1": 500,
                                                 "residual_current_ma@9": 500}))
    assert [e.channel for e in out] == ["1"]


def test_unknown_devices_are_ignored_and_operator_calls_say_which() -> None:
    rig = Rig()
    assert rig.engine.feed(Snapshot("nope", DAY, True, {"power_w": 1})) == []
    with pytest.raises(KeyError, match="not configured"):
        rig.engine.set_maintenance("nope", True)


def test_operator_reset_of_a_latched_arc_alarm() -> None:
    rig = Rig()
    rig.at(DAY, "efd-1", arc_count=1, arc_alarm=False)
    rig.at(DAY + 1, "efd-1", arc_count=40, arc_alarm=False)
    assert [e.rule for e in rig.engine.active("efd-1")] == ["arc_fault"]
    out = rig.engine.reset("efd-1", "arc_fault")
    assert [(e.kind, e.ts) for e in out] == [("clear", DAY + 1)]
    assert "reset by operator" in out[0].message_en
    assert rig.engine.active("efd-1") == []


def test_device_in_maintenance_from_the_configuration() -> None:
    devs = dict(DEVICES)
    devs["panel"] = device("panel", "fire_panel", maintenance=True)
    rig = Rig(devices=devs)
    out = rig.at(DAY, "panel", fire_alarm=True, fire_alarm__2=True)
    assert [(e.rule, e.suppressed) for e in out] == [("fire_alarm", "maintenance")]
