"""``firegate run`` validates in a child and runs on plain objects, without pydantic (issue 17).

What an operator would check: the running gateway sees every value of the file exactly as
``firegate check`` validated it (secrets and rule overrides included), a bad file is still
refused with its line before anything starts, and the process that runs for months has not
loaded pydantic at all.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import plain
from gateway.config.models import load_config, load_profiles_for
from tests.support.configwalk import walk
from tests.support.waiting import wait_for

ROOT = Path(__file__).parents[2]
VALID = ROOT / "tests" / "data" / "config" / "valid.yaml"
ENV = {"FIREGATE_MQTT_PASSWORD": "s3cret-pw", "FIREGATE_CA_FILE": str(VALID),
       "FIREGATE_INFLUX_TOKEN": "t0ken"}


def _env() -> dict[str, str]:
    return {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("config", [
    "tests/data/config/valid.yaml",
    "deploy/examples/campus-dorm-building.yaml",
    "deploy/examples/demo-building.yaml",
])
def test_the_runtime_sees_every_value_check_validated(config: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    cfg = load_config(ROOT / config)
    want = {"config": walk(cfg), "profiles": walk(load_profiles_for(cfg))}
    out = subprocess.run([sys.executable, "-m", "tests.support.configwalk", str(ROOT / config)],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got.pop("pydantic_core") is False
    assert got == want


def _run(args: list[str], **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "run", *args], cwd=ROOT,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)  # type: ignore[call-overload]


def test_run_refuses_a_bad_file_with_its_line_and_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "gw.yaml"
    bad.write_text(VALID.read_text().replace("unit: 2", "unit: 300"))
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "unit: 300" in t)
    proc = _run(["-c", str(bad), "--no-view"])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"error: {bad}:{line}:" in err and "247" in err
    assert not (tmp_path / "data").exists()


def test_the_running_gateway_has_not_loaded_pydantic(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(VALID.read_text().replace("data_dir: ./data", f"data_dir: {tmp_path}/data"))
    proc = _run(["-c", str(cfg), "--no-view", "--for", "60",
                 "--summary", str(tmp_path / "summary.json")])
    try:
        maps = Path(f"/proc/{proc.pid}/maps")
        # up once its ledger exists: the configuration was loaded and the stores opened
        wait_for("the gateway's ledger", (tmp_path / "data" / "ledger.sqlite").exists, 60)
        loaded = maps.read_text()
        assert "_pydantic_core" not in loaded and "site-packages/pydantic" not in loaded
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["devices"], summary


class _Room(plain.BaseModel):
    model_config = plain.ConfigDict(frozen=True)

    name: str
    limit_w: float = 800.0
    tags: tuple[str, ...] = plain.Field(default_factory=tuple)
    key: plain.SecretStr | None = None


def test_plain_models_keep_what_runtime_code_relies_on() -> None:
    room = _Room(name="301")
    assert (room.limit_w, room.tags, room.model_fields_set) == (800.0, (), {"name"})
    with pytest.raises(TypeError, match="frozen"):
        room.limit_w = 1  # type: ignore[misc]
    wider = room.model_copy(update={"limit_w": 1500.0})
    assert wider.limit_w == 1500.0 and wider.model_fields_set == {"name", "limit_w"}
    assert room.limit_w == 800.0 and hash(room) == hash(_Room(name="301"))
    twin = copy.deepcopy(wider)
    assert twin == wider and twin is not wider and twin.model_fields_set == {"name", "limit_w"}
    with pytest.raises(RuntimeError, match="validated once"):
        _Room.model_validate({"name": "x"})
    with pytest.raises(TypeError, match="'name' is required"):
        _Room()
    secret = _Room(name="k", key=plain.SecretStr("hunter2"))
    assert "hunter2" not in repr(secret) and "hunter2" not in f"{secret.key}"
    assert secret.key is not None and secret.key.get_secret_value() == "hunter2"
