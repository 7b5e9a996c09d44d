"""The central stack in deploy/central: the compose file against the compose-spec schema, the
scripts that make certificates and passwords, the broker's ACL on a real Mosquitto over TLS, and
Grafana's provisioning against the dashboards' datasource. No Docker engine runs here."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config.models import load_config
from gateway.dashboards import common

REPO = Path(__file__).resolve().parents[2]
CENTRAL = REPO / "deploy" / "central"
EXAMPLE = REPO / "deploy" / "examples" / "campus-dorm-building.yaml"

GATEWAYS = "vc gw-1\nvc gw-2\n"
OPERATORS = "control-room\n"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((CENTRAL / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_file_matches_the_compose_spec_schema() -> None:
    """Validated with check-jsonschema's vendored compose-spec schema (the schema Docker Compose
    itself validates against)."""
    exe = Path(sys.executable).with_name("check-jsonschema")
    assert exe.exists(), "check-jsonschema is missing: run scripts/setup (dev extra)"
    run = subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec",
                          str(CENTRAL / "compose.yaml")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What an admin gets from the two scripts, in a temporary folder."""
    root = tmp_path_factory.mktemp("central")
    (root / "gateways.txt").write_text(GATEWAYS)
    (root / "operators.txt").write_text(OPERATORS)
    env = {**os.environ, "FIREGATE_SECRETS": str(root / "secrets")}
    for cmd in (["make-certs.sh", "127.0.0.1"],
                ["make-passwords.sh", str(root / "gateways.txt"), str(root / "operators.txt")],
                ["make-passwords.sh", str(root / "gateways.txt"), str(root / "operators.txt")]):
        run = subprocess.run([str(CENTRAL / "scripts" / cmd[0]), *cmd[1:]], env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    return root / "secrets"


def test_every_file_compose_mounts_exists(secrets: Path) -> None:
    """The repository's files and what the scripts make are all that compose needs."""
    for name, service in _compose()["services"].items():
        sources = [v.split(":")[0] for v in service.get("volumes", []) if v.startswith("./")]
        sources += service.get("env_file", [])
        for src in sources:
            rel = Path(src)
            path = (secrets / rel.relative_to("secrets")) if rel.parts[0] == "secrets" \
                else CENTRAL / rel
            assert path.exists(), f"{name}: {src} is mounted but missing"


def test_scripts_keep_passwords_when_run_again(secrets: Path, tmp_path: Path) -> None:
    before = (secrets / "credentials" / "gateway-vc.gw-1").read_text()
    (tmp_path / "gw.txt").write_text(GATEWAYS + "vc gw-3\n")
    run = subprocess.run([str(CENTRAL / "scripts" / "make-passwords.sh"), str(tmp_path /
                                                                                "gw.txt")],
                         env={**os.environ, "FIREGATE_SECRETS": str(secrets)},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (secrets / "credentials" / "gateway-vc.gw-1").read_text() == before
    assert "user vc.gw-3" in (secrets / "mosquitto" / "acl").read_text()
    # put the module's lists back for the broker test
    subprocess.run([str(CENTRAL / "scripts" / "make-passwords.sh"),
                    str(secrets.parent / "gateways.txt"), str(secrets.parent / "operators.txt")],
                   env={**os.environ, "FIREGATE_SECRETS": str(secrets)}, check=True,
                   capture_output=True, timeout=60)


def test_make_passwords_rejects_a_bad_line(tmp_path: Path) -> None:
    (tmp_path / "gw.txt").write_text("vc gw/evil\n")
    run = subprocess.run([str(CENTRAL / "scripts" / "make-passwords.sh"),
                          str(tmp_path / "gw.txt")],
                         env={**os.environ, "FIREGATE_SECRETS": str(tmp_path / "s")},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "expected SITE GATEWAY_ID" in run.stderr


def test_grafana_provisioning_matches_the_dashboards() -> None:
    ds = yaml.safe_load((CENTRAL / "grafana/provisioning/datasources/firegate.yaml").read_text())
    (source,) = ds["datasources"]
    assert source["uid"] == common.DATASOURCE_UID and source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "InfluxQL"
    init = (CENTRAL / "influxdb" / "init-firegate.sh").read_text()
    assert f"--db {source['jsonData']['dbName']} " in init
    assert subprocess.run(["bash", "-n", str(CENTRAL / "influxdb" / "init-firegate.sh")],
                          timeout=30).returncode == 0
    prov = yaml.safe_load((CENTRAL / "grafana/provisioning/dashboards/firegate.yaml").read_text())
    path = prov["providers"][0]["options"]["path"]
    mounts = _compose()["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{path}:ro" in mounts


# --------------------------------------------------------------------------- the broker's ACL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def broker(secrets: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    assert shutil.which("mosquitto"), "Debian's mosquitto is missing: run scripts/setup"
    root = tmp_path_factory.mktemp("mosquitto")
    port = _free_port()
    conf = (CENTRAL / "mosquitto" / "mosquitto.conf").read_text()
    for container, here in {
        "/mosquitto/config/passwd": secrets / "mosquitto" / "passwd",
        "/mosquitto/config/acl": secrets / "mosquitto" / "acl",
        "/mosquitto/certs/ca.crt": secrets / "tls" / "ca.crt",
        "/mosquitto/certs/server.crt": secrets / "tls" / "mqtt.crt",
        "/mosquitto/certs/server.key": secrets / "tls" / "mqtt.key",
        "/mosquitto/data/": f"{root}/",
    }.items():
        conf = conf.replace(container, str(here))
    conf = conf.replace("listener 8883", f"listener {port} 127.0.0.1")
    conf = conf.replace("log_dest stdout", f"log_dest file {root}/mosquitto.log\nuser root")
    (root / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen(["mosquitto", "-c", str(root / "mosquitto.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log = root / "mosquitto.log"
                pytest.fail("mosquitto did not start: "
                            + (log.read_text() if log.exists() else "no log"))
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(10)


class Peer:
    """A paho client that records what it receives."""

    def __init__(self, port: int, secrets: Path, user: str | None, password: str | None) -> None:
        import paho.mqtt.client as mqtt

        self.got: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connected: queue.Queue[int] = queue.Queue()
        self.subscribed: queue.Queue[int] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"test-{user}-{id(self)}")
        self.client.tls_set(ca_certs=str(secrets / "tls" / "ca.crt"))
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.put(rc.value)
        self.client.on_message = lambda c, u, m: self.got.put((m.topic, m.payload))
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subscribed.put(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.rc = self.connected.get(timeout=10)

    def subscribe(self, topic: str) -> None:
        """Returns once the broker acknowledged the subscription (SUBACK)."""
        result, mid = self.client.subscribe(topic, qos=1)
        assert result == 0
        assert self.subscribed.get(timeout=10) == mid

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)

    def next(self) -> tuple[str, bytes]:
        return self.got.get(timeout=10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _peer(port: int, secrets: Path, user: str) -> Peer:
    kind = "operator" if "." not in user else "gateway"
    password = (secrets / "credentials" / f"{kind}-{user}").read_text()
    peer = Peer(port, secrets, user, password)
    assert peer.rc == 0, f"{user} could not log in (rc {peer.rc})"
    return peer


def test_broker_refuses_anonymous_and_wrong_passwords(broker: int, secrets: Path) -> None:
    anonymous = Peer(broker, secrets, None, None)
    wrong = Peer(broker, secrets, "vc.gw-1", "not-the-password")
    try:
        assert anonymous.rc != 0 and wrong.rc != 0
    finally:
        anonymous.close()
        wrong.close()


def test_gateway_writes_only_its_own_topics(broker: int, secrets: Path) -> None:
    operator = _peer(broker, secrets, "control-room")
    gw1 = _peer(broker, secrets, "vc.gw-1")
    try:
        operator.subscribe("firegate/#")
        gw1.publish("firegate/vc/gw-2/alarms/forged", b"forged")
        gw1.publish("firegate/vc/gw-1/alarms/a1", b"real")
        assert operator.next() == ("firegate/vc/gw-1/alarms/a1", b"real")
    finally:
        operator.close()
        gw1.close()


def test_operators_write_only_commands_and_gateways_read_only_their_own(
        broker: int, secrets: Path) -> None:
    operator = _peer(broker, secrets, "control-room")
    gw1 = _peer(broker, secrets, "vc.gw-1")
    try:
        gw1.subscribe("firegate/vc/gw-2/cmd/#")
        gw1.subscribe("firegate/vc/gw-1/#")
        operator.publish("firegate/vc/gw-1/telemetry/room-101", b"forged telemetry")
        operator.publish("firegate/vc/gw-2/cmd/control-room/ack", b"for gw-2")
        operator.publish("firegate/vc/gw-1/cmd/ack", b"shared topic: not this login's")
        operator.publish("firegate/vc/gw-1/cmd/mallory/ack", b"in another login's name")
        operator.publish("firegate/vc/gw-1/cmd/control-room/ack", b"for gw-1")
        assert gw1.next() == ("firegate/vc/gw-1/cmd/control-room/ack", b"for gw-1")
    finally:
        operator.close()
        gw1.close()


def test_the_desk_reads_every_gateway_and_commands_only_as_itself(
        broker: int, secrets: Path) -> None:
    """The desk's login reads every gateway's alarms and writes only its own cmd/desk/ topics;
    an operator cannot send a command in the desk's name."""
    desk = Peer(broker, secrets, "desk", (secrets / "credentials" / "desk-desk").read_text())
    operator = _peer(broker, secrets, "control-room")
    gw1 = _peer(broker, secrets, "vc.gw-1")
    gw2 = _peer(broker, secrets, "vc.gw-2")
    try:
        assert desk.rc == 0
        desk.subscribe("firegate/+/+/alarms/+")
        gw1.subscribe("firegate/vc/gw-1/cmd/#")
        gw2.publish("firegate/vc/gw-2/alarms/A1", b"gw-2's alarm")
        assert desk.next() == ("firegate/vc/gw-2/alarms/A1", b"gw-2's alarm")
        desk.publish("firegate/vc/gw-1/alarms/A1", b"forged by the desk")
        desk.publish("firegate/vc/gw-1/cmd/control-room/ack", b"in an operator's name")
        operator.publish("firegate/vc/gw-1/cmd/desk/ack", b"in the desk's name")
        desk.publish("firegate/vc/gw-1/cmd/desk/ack", b"from the desk")
        assert gw1.next() == ("firegate/vc/gw-1/cmd/desk/ack", b"from the desk")
        with pytest.raises(queue.Empty):
            desk.got.get(timeout=0.5)  # its own forged alarm never reached anyone
    finally:
        for p in (desk, operator, gw1, gw2):
            p.close()


def test_desk_example_is_accepted_with_the_scripts_secrets(secrets: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.desk.config import load_desk_config

    for line in (secrets / "desk.env").read_text().splitlines():
        key, _, value = line.partition("=")
        monkeypatch.setenv(key, value)
    cfg = load_desk_config(CENTRAL / "desk" / "desk.yaml")
    assert cfg.mqtt.login == "desk" and cfg.mqtt.tls and cfg.desk.secure_cookies
    assert (secrets / "tls" / "desk.crt").exists()


# --------------------------------------------------------------------------- the example building


def test_example_building_is_accepted_by_firegate_check(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("placeholder")
    monkeypatch.setenv("FIREGATE_MQTT_PASSWORD", "secret")
    monkeypatch.setenv("FIREGATE_CA_FILE", str(ca))
    monkeypatch.setenv("FIREGATE_INFLUX_TOKEN", "token")
    cfg = load_config(EXAMPLE)
    profiles = [d.profile for d in cfg.devices]
    assert profiles.count("ddsu666") == 150
    assert profiles.count("aim_r100") == 6 and profiles.count("fire_panel") == 1
    assert profiles.count("fire_door") == 2 and profiles.count("exit_sensor") == 2
    floors = {d.floor for d in cfg.devices if d.profile == "aim_r100"}
    assert floors == {1, 2, 3, 4, 5, 6}
    types = {b.type for b in cfg.buses}
    assert sum(b.type == "rtu" for b in cfg.buses) == 2 and "rtu_over_tcp" in types
    for bus in cfg.buses:
        on_bus = [d for d in cfg.devices if d.bus == bus.id]
        assert len(on_bus) <= 32, f"{bus.id}: {len(on_bus)} devices on one RS-485 segment"
    assert str(cfg.gateway.data_dir) == "/var/lib/firegate"
    raw = EXAMPLE.read_text()
    assert "${FIREGATE_MQTT_PASSWORD}" in raw and "${FIREGATE_INFLUX_TOKEN}" in raw


def test_example_building_without_secrets_names_the_variables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.config.models import ConfigError

    for var in ("FIREGATE_MQTT_PASSWORD", "FIREGATE_CA_FILE", "FIREGATE_INFLUX_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError) as exc:
        load_config(EXAMPLE)
    assert "FIREGATE_MQTT_PASSWORD is not set" in str(exc.value)
