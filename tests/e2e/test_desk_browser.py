"""The desk in a real browser: Debian's headless Chromium driven by selenium through Debian's
chromedriver, against a real gateway process polling a simulated fire panel over Modbus TCP, on
real Mosquitto.

A person logs in, sees the fire alarm appear (without reloading: server-sent events) within 2 s
of the panel's fire bit, acknowledges it, and once the panel has cleared closes it with a
category and a note. The gateway's own ledger is checked at each step. Screenshots of each page
go to ``docs/img/desk-*.png`` when ``FIREGATE_DOCS_SHOTS=1`` (how the ones in docs/ were made).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.support.desk_kit import (
    ROOT,
    SITE,
    Desk,
    Proc,
    gateway_proc,
    ledger,
    set_fire,
    start_simulators,
    wait_for,
)
from tests.support.servers import Mosquitto

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(),
                                reason="needs Debian's chromium-driver (scripts/setup)")
GW = "gw-b"
SHOTS = ROOT / "docs" / "img"
# This gateway's rows only: the session's Mosquitto may hold other tests' retained alarms.
OURS = f'tr.alarm[data-alarm^="{SITE}/{GW}/"]'
FIRE = OURS + '[data-rule="fire_alarm"]'


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,800", "--lang=zh-CN"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: webdriver.Chrome, tmp: Path, name: str) -> None:
    path = (SHOTS if os.environ.get("FIREGATE_DOCS_SHOTS") == "1" else tmp) / f"desk-{name}.png"
    driver.save_screenshot(str(path))


def gateway_cfg(d: Path, port: int, mosq: Mosquitto) -> Path:
    import yaml

    d.mkdir(parents=True, exist_ok=True)
    cfg = {
        "gateway": {"id": GW, "site": SITE, "campus": "north", "building": "dorm-3",
                    "data_dir": str(d / "data")},
        "poll_classes": {"fast": {"period_s": 0.25, "priority": 0},
                         "normal": {"period_s": 1.0, "priority": 1},
                         "slow": {"period_s": 5.0, "priority": 2}},
        "buses": [{"id": "bus-1", "type": "tcp", "host": "127.0.0.1", "port": port,
                   "timeout_s": 0.5}],
        "devices": [{"id": "panel", "profile": "fire_panel", "bus": "bus-1", "unit": 1,
                     "floor": 1, "room": "fcc"}],
        "outputs": {"batch_size": 100, "max_age_s": 0.05, "mqtt": {
            "url": mosq.url, "client_id": f"firegate-{GW}", "operators": ["desk"],
            "telemetry": False, "health_interval_s": 2, "reconnect_min_s": 0.2}},
    }
    path = d / "firegate.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_log_in_see_the_fire_acknowledge_and_close(tmp_path: Path, mosquitto: Mosquitto,
                                                    browser: webdriver.Chrome) -> None:
    sims, ports = start_simulators(tmp_path, [GW])
    gw: Proc = gateway_proc(gateway_cfg(tmp_path / GW, ports[GW], mosquitto))
    desk = Desk(tmp_path / "desk", mosquitto.url)
    desk.add_user("wang", "operator")
    try:
        gw.start()
        desk.start()
        b = browser
        b.get(desk.url + "/")
        assert "/login" in b.current_url  # anonymous: the login form, no alarm data
        b.find_element(By.ID, "name").send_keys("wang")
        b.find_element(By.ID, "password").send_keys("correct horse battery")
        b.find_element(By.ID, "submit").click()
        WebDriverWait(b, 5).until(lambda d: d.find_elements(By.ID, "alarm-rows"))
        assert b.find_element(By.ID, "who").text.startswith("wang")
        wait_for("the gateway online at the desk",
                 lambda: desk_fleet(b, desk) == "online", 20, 0.3)
        b.get(desk.url + "/")
        WebDriverWait(b, 5).until(lambda d: d.find_elements(By.ID, "alarm-rows"))

        # The panel's fire bit: the row appears on the open page within 2 s, no reload.
        set_fire(ports[GW], True)
        WebDriverWait(b, 2.0, poll_frequency=0.05).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, FIRE))
        row = b.find_element(By.CSS_SELECTOR, FIRE)
        assert "特急" in row.text and "dorm-3" in row.text
        shot(b, tmp_path, "alarms")

        # Acknowledge: pending until the gateway's ledger confirms, then acknowledged.
        row.find_element(By.TAG_NAME, "a").click()
        WebDriverWait(b, 5).until(lambda d: d.find_elements(By.ID, "ack-button"))
        alarm_url = b.current_url
        b.find_element(By.ID, "ack-button").click()
        WebDriverWait(b, 5).until(lambda d: d.find_elements(By.ID, "msg"))
        wait_for("the gateway's ledger acknowledged by the desk",
                 lambda: [r for r in ledger(tmp_path / GW) if r["acked_by"] == "desk"], 10)
        wait_for("the page shows it acknowledged", lambda: reload_state(b, alarm_url) ==
                 "acknowledged", 10, 0.3)

        # The panel is reset; the alarm clears; closed with a category and a note.
        set_fire(ports[GW], False)
        wait_for("the alarm cleared at the desk", lambda: reload_state(b, alarm_url) and
                 b.find_element(By.ID, "close-button").is_enabled(), 10, 0.3)
        Select(b.find_element(By.ID, "category")).select_by_value("false_alarm")
        b.find_element(By.ID, "close-note").send_keys("厨房油烟误报，已复位 smoke from cooking")
        shot(b, tmp_path, "alarm")
        b.find_element(By.ID, "close-button").click()
        wait_for("the gateway's ledger closed it", lambda: [
            r for r in ledger(tmp_path / GW) if r["state"] == "closed"], 10)
        closed = ledger(tmp_path / GW)[0]
        assert closed["closed_by"] == "desk" and closed["category"] == "false_alarm"
        assert "wang" in closed["note"] and "smoke from cooking" in closed["note"]
        wait_for("the page shows it closed", lambda: reload_state(b, alarm_url) == "closed",
                 10, 0.3)
        b.get(desk.url + "/")
        assert not b.find_elements(By.CSS_SELECTOR, OURS)
        b.get(desk.url + "/fleet")
        shot(b, tmp_path, "fleet")
    finally:
        desk.stop()
        gw.stop()
        sims.stop()


def reload_state(b: webdriver.Chrome, url: str) -> str:
    b.get(url)
    return str(b.find_element(By.ID, "alarm").get_attribute("data-state"))


def desk_fleet(b: webdriver.Chrome, desk: Desk) -> str:
    b.get(desk.url + "/fleet")
    time.sleep(0.05)
    return " ".join(str(e.get_attribute("data-state")) for e in b.find_elements(
        By.CSS_SELECTOR, f'tr.gateway[data-gateway="{SITE}/{GW}"]'))
