"""Bounded property-based fuzzing of every parser of outside data (the long runs are
``python -m bench.fuzz``). Each target checks its parser's contract: only the exceptions its
callers handle, and nothing lost; see ``bench/fuzz_targets.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import fuzz_targets as ft
from gateway.records import AlarmTransition

# A few thousand inputs in all; derandomized so the suite is the same on every run.
BOUNDED = settings(deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """Rejected inputs are logged as warnings by design; thousands of them are only noise."""
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


@settings(BOUNDED, max_examples=800)
@given(st.binary(max_size=300))
def test_modbus_bytes_on_the_wire(data: bytes) -> None:
    ft.modbus_frame(data)


@settings(BOUNDED, max_examples=600)
@given(st.binary(min_size=2, max_size=300))
def test_modbus_well_framed_replies(data: bytes) -> None:
    ft.modbus_rtu_reply(data)


@settings(BOUNDED, max_examples=300)
@given(st.binary(min_size=2, max_size=260))
def test_modbus_register_words_into_every_profile(data: bytes) -> None:
    ft.modbus_words(data)


@settings(BOUNDED, max_examples=250)
@given(st.binary(min_size=1, max_size=80))
def test_configuration_files(data: bytes) -> None:
    ft.config_file(data)


@settings(BOUNDED, max_examples=200)
@given(st.binary(min_size=1, max_size=80))
def test_scenario_files(data: bytes) -> None:
    ft.scenario_file(data)


@settings(BOUNDED, max_examples=500)
@given(st.binary(max_size=200))
def test_mqtt_command_payloads(data: bytes) -> None:
    ft.mqtt_command(data)


@settings(BOUNDED, max_examples=400)
@given(st.binary(max_size=120))
def test_sms_replies(data: bytes) -> None:
    ft.sms_reply(data)


@settings(BOUNDED, max_examples=500)
@given(st.binary(max_size=300))
def test_modem_lines(data: bytes) -> None:
    ft.at_lines(data)


@settings(BOUNDED, max_examples=500)
@given(st.binary(max_size=200))
def test_sms_pdus(data: bytes) -> None:
    ft.pdu(data)


def test_control_characters_in_a_configuration_are_a_config_error_with_line(
        tmp_path: pytest.TempPathFactory) -> None:
    """Found by fuzzing: a stray control character escaped load_config as a yaml ReaderError."""
    from pathlib import Path

    from gateway.config.models import ConfigError, load_config

    f = Path(str(tmp_path)) / "gw.yaml"
    f.write_text("gateway:\n  id: gw-1\n  site: a\x0f\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    [p] = err.value.problems
    assert p.line == 3 and "cannot be in a YAML file" in p.message


def test_reply_codes_never_run_out() -> None:
    """Found by fuzzing: with every 4-digit code taken, a new alarm hung the data path."""
    n, _acks = ft._notifier()
    n.codes.update({f"{i:04d}": "x" for i in range(10_000)})
    try:
        n.on_transition(AlarmTransition(id="A-LAST", seq=1, device="d", rule="overload",
                                        severity="major", state="raised", event="raise",
                                        ts=0.0))
        code = next(c for c, a in n.codes.items() if a == "A-LAST")
        assert len(code) == 5
    finally:
        for k in [k for k, v in n.codes.items() if v in ("x", "A-LAST")]:
            del n.codes[k]
        n.alarms.pop("A-LAST", None)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("gateway: &g\n  id: gw-1\n  self: [*g]\n", 1, "refers to a list or mapping that contains"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e]\n",
     1, "more than 200000 values"),
    ("gateway:\n  id: gw-1\nholidays:\n  - 2024-13-45\n", 4, "looks like a date"),
])
def test_yaml_that_would_hang_or_crash_the_loader_is_a_config_error(
        tmp_path: pytest.TempPathFactory, text: str, line: int, words: str) -> None:
    """Found by fuzzing: a self-referencing alias (RecursionError), an alias bomb, and an
    impossible date (a bare ValueError from PyYAML) all escaped load_config."""
    from pathlib import Path

    from gateway.config.models import ConfigError, load_config

    f = Path(str(tmp_path)) / "gw.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    [p] = err.value.problems
    assert p.line == line and words in p.message, p


def test_impossible_date_in_a_scenario_is_a_scenario_error() -> None:
    """Found by fuzzing: PyYAML's bare ValueError escaped load_scenario."""
    from simulators.scenario import ScenarioError, load_scenario

    spec, _ = ft._scenario_world()
    with pytest.raises(ScenarioError, match="date"):
        load_scenario("s.yaml", spec, text="- {at: 2024-13-45, device: room-101, "
                                            "set: {power_w: 1}}\n")


@settings(BOUNDED, max_examples=1500)
@given(st.binary(max_size=400))
def test_gbt26875_streams_from_transmission_devices(data: bytes) -> None:
    ft.gbt26875_stream(data)
