"""``notify:`` through the real configuration loader: secrets from the environment, errors with
file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.models import ConfigError, load_config

VALID = (Path(__file__).parents[1] / "data" / "config" / "valid.yaml").read_text()

NOTIFY = """
notify:
  enabled: true
  modem: {port: /dev/ttyUSB2, pin: "${SIM_PIN}"}
  providers:
    - type: aliyun
      access_key_id: "${ALIYUN_KEY_ID}"
      access_key_secret: "${ALIYUN_KEY_SECRET}"
      sign_name: 某某职业学院
      template_code: SMS_123456789
  fallback: [modem, aliyun]
  rota:
    people:
      wang: {phone: "+8613800000001"}
      li: {phone: "+8613800000003"}
    levels: [[wang], [li]]
    waits_s: [0, 300]
"""


def write(tmp_path: Path, notify: str) -> Path:
    base = "\n".join(ln for ln in VALID.splitlines() if not ln.startswith("notify:"))
    p = tmp_path / "gw.yaml"
    p.write_text(base + "\n" + notify, encoding="utf-8")
    return p


def test_notify_section_loads_with_secrets_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_PIN", "7531")
    monkeypatch.setenv("ALIYUN_KEY_ID", "kid")
    monkeypatch.setenv("ALIYUN_KEY_SECRET", "ksecret")
    cfg = load_config(write(tmp_path, NOTIFY))
    n = cfg.notify
    assert n.modem is not None and n.modem.pin is not None
    assert n.modem.pin.get_secret_value() == "7531"
    assert "7531" not in repr(n)  # secrets stay out of logs
    assert n.channel_order() == ["modem", "aliyun"]


def test_missing_secret_names_the_variable_and_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, NOTIFY))
    text = str(info.value)
    assert "SIM_PIN is not set" in text and "notify.modem.pin" in text


def test_unknown_person_in_a_level_is_reported_with_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SIM_PIN", "ALIYUN_KEY_ID", "ALIYUN_KEY_SECRET"):
        monkeypatch.setenv(var, "x")
    path = write(tmp_path, NOTIFY.replace("levels: [[wang], [li]]", "levels: [[wang], [liu]]"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    assert "'liu' is not in rota.people" in problem.message
    assert problem.field.startswith("notify.rota") and problem.line is not None


def test_the_rota_keeps_the_buildings_local_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One local time per building: the rota takes ``rules.utc_offset_h``; a different one
    written under the rota is refused, naming the field."""
    for var in ("SIM_PIN", "ALIYUN_KEY_ID", "ALIYUN_KEY_SECRET"):
        monkeypatch.setenv(var, "x")
    cfg = load_config(write(tmp_path, NOTIFY + "rules: {utc_offset_h: 7}\n"))
    assert cfg.notify.rota is not None and cfg.notify.rota.offset_h == 7
    clash = NOTIFY.replace("    waits_s: [0, 300]", "    waits_s: [0, 300]\n    utc_offset_h: 9")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, clash + "rules: {utc_offset_h: 7}\n"))
    [problem] = info.value.problems
    assert problem.field == "notify.rota.utc_offset_h" and "one local time" in problem.message


def test_unknown_sms_provider_is_a_config_error_with_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, any provider name that was not Aliyun was built as a Tencent channel."""
    for var in ("SIM_PIN", "ALIYUN_KEY_ID", "ALIYUN_KEY_SECRET"):
        monkeypatch.setenv(var, "x")
    text = NOTIFY.replace("type: aliyun", "type: alyun")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    [problem] = info.value.problems
    assert problem.field == "notify.providers[1].type", problem
    assert "unknown SMS provider 'alyun'; use one of: aliyun, tencent" in problem.message
    assert problem.line == next(i for i, ln in enumerate(
        (tmp_path / "gw.yaml").read_text().splitlines(), 1) if "type: alyun" in ln)


@pytest.mark.parametrize(("endpoint", "says"), [
    ("dysmsapi.aliyuncs.com", "is not a provider address; write https://HOST/"),
    ("http://dysmsapi.aliyuncs.com/", "would send phone numbers in clear text; use https://"),
    ("https://dysmsapi.aliyuncs.com:99999/", "has a bad port"),
])
def test_a_provider_endpoint_that_cannot_work_is_refused_at_check_with_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str, says: str) -> None:
    """Found by ``firegate check`` at install, not when the first page of a fire fails."""
    for var in ("SIM_PIN", "ALIYUN_KEY_ID", "ALIYUN_KEY_SECRET"):
        monkeypatch.setenv(var, "x")
    text = NOTIFY.replace("      template_code: SMS_123456789",
                          f"      template_code: SMS_123456789\n      endpoint: {endpoint}")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    [problem] = info.value.problems
    assert problem.field == "notify.providers[1].endpoint", problem
    assert says in problem.message
    assert problem.line == next(i for i, ln in enumerate(
        (tmp_path / "gw.yaml").read_text().splitlines(), 1) if "endpoint:" in ln)


def test_a_provider_on_this_machine_may_use_plain_http(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SIM_PIN", "ALIYUN_KEY_ID", "ALIYUN_KEY_SECRET"):
        monkeypatch.setenv(var, "x")
    text = NOTIFY.replace("      template_code: SMS_123456789",
                          "      template_code: SMS_123456789\n"
                          "      endpoint: http://127.0.0.1:8080/sms/")
    cfg = load_config(write(tmp_path, text))
    assert cfg.notify.providers[0].endpoint == "http://127.0.0.1:8080/sms/"
