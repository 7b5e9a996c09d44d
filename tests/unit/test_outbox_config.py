"""The ``outputs:`` section as a site writes it: YAML, ${ENV} secrets, errors with a line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.models import ConfigError, load_config

BASE = """\
gateway: {id: gw-a1, site: vc, campus: north, building: dorm-3}
buses: [{id: tcp1, type: tcp, host: 127.0.0.1}]
devices: [{id: room-301, profile: ddsu666, bus: tcp1, unit: 1}]
outputs:
  mqtt:
    url: MQTT_URL
    username: gw
    password: ${FG_TEST_MQTT_PW}
    operators: [li.wei]
  influx:
    url: http://127.0.0.1:8428
    org: campus
    bucket: firegate
    token: ${FG_TEST_TOKEN}
    line_protocol_file: sent.lp
"""


def test_outputs_section_loads_with_secrets_from_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FG_TEST_MQTT_PW", "pw-from-env")
    monkeypatch.setenv("FG_TEST_TOKEN", "token-from-env")
    f = tmp_path / "gw.yaml"
    f.write_text(BASE.replace("MQTT_URL", "mqtt://127.0.0.1:1883"))
    cfg = load_config(f, check_profiles=False)
    assert cfg.outputs.sinks() == ["mqtt", "influx"]
    assert cfg.outputs.mqtt is not None and cfg.outputs.influx is not None
    assert cfg.outputs.mqtt.password is not None
    assert cfg.outputs.mqtt.password.get_secret_value() == "pw-from-env"
    assert "token-from-env" not in repr(cfg) and "pw-from-env" not in repr(cfg)


def test_clear_text_password_to_campus_broker_is_refused_with_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FG_TEST_MQTT_PW", "pw")
    monkeypatch.setenv("FG_TEST_TOKEN", "t")
    f = tmp_path / "gw.yaml"
    f.write_text(BASE.replace("MQTT_URL", "mqtt://10.20.0.5:1883"))
    with pytest.raises(ConfigError) as err:
        load_config(f, check_profiles=False)
    problem = err.value.problems[0]
    assert problem.line == 5 and problem.field == "outputs.mqtt"
    assert "clear text" in problem.message and "insecure: true" in problem.message


LISTED = """\
gateway: {id: gw-a1, site: vc, campus: north, building: dorm-3}
buses: [{id: tcp1, type: tcp, host: 127.0.0.1}]
devices: [{id: room-301, profile: ddsu666, bus: tcp1, unit: 1}]
outputs:
  sinks:
    - type: mqtt
      url: mqtt://127.0.0.1:1883
    - type: TYPE
      url: http://127.0.0.1:8428
      org: campus
      bucket: firegate
"""


def test_outputs_as_a_list_by_type(tmp_path: Path) -> None:
    f = tmp_path / "gw.yaml"
    f.write_text(LISTED.replace("TYPE", "influx"))
    cfg = load_config(f, check_profiles=False)
    assert cfg.outputs.sinks() == ["mqtt", "influx"]
    assert [s.type for s in cfg.outputs.configured()] == ["mqtt", "influx"]


def test_unknown_output_type_is_an_error_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "gw.yaml"
    f.write_text(LISTED.replace("TYPE", "influxdb"))
    with pytest.raises(ConfigError) as err:
        load_config(f, check_profiles=False)
    problem = err.value.problems[0]
    assert problem.line == 8 and problem.field == "outputs.sinks[2].type", problem
    assert "unknown output type 'influxdb'; use one of: influx, mqtt" in problem.message


def test_a_bad_setting_in_a_listed_output_names_its_field(tmp_path: Path) -> None:
    f = tmp_path / "gw.yaml"
    f.write_text(LISTED.replace("TYPE", "influx").replace("bucket: firegate", "buckt: x"))
    with pytest.raises(ConfigError) as err:
        load_config(f, check_profiles=False)
    assert err.value.problems[0].field.startswith("outputs.sinks[2]"), err.value.problems
