"""The fleet at the desk: ten gateway processes, each a small simulated building (one fire
panel), on one real Mosquitto with the deploy kit's passwords and ACL, and one desk.

What a control room relies on, checked from the desk's own page:
- every gateway shows online; a frozen gateway shows offline within 1.5 × its MQTT keepalive
  (the broker's last will), a killed one at once, and online again after its restart;
- fire alarms of several buildings show, worst first; alarms raised while the desk was down show
  after its restart; the broker killed and restarted loses nothing the desk shows;
- an acknowledgement from the desk reaches the owning gateway's ledger and no other, even though
  alarm ids repeat across gateways (each counts A+date+001 from its own start); one given while
  the gateway is down stays pending and is applied once it is back.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.support.desk_kit import (
    AclBroker,
    Browser,
    Desk,
    Proc,
    gateway_config,
    gateway_proc,
    ledger,
    set_fire,
    start_simulators,
    wait_for,
)

GATEWAYS = [f"gw-{i:02d}" for i in range(1, 11)]
KEEPALIVE_S = 5


def test_fleet_of_ten_gateways_at_one_desk(tmp_path: Path) -> None:
    broker = AclBroker(tmp_path / "broker", GATEWAYS, [])
    broker.start()
    sims, ports = start_simulators(tmp_path, GATEWAYS)
    desk = Desk(tmp_path / "desk", broker.url, "desk", broker.password("desk-desk"))
    desk.add_user("wang", "operator")
    gws: dict[str, Proc] = {}
    dirs: dict[str, Path] = {}
    try:
        for i, g in enumerate(GATEWAYS):
            dirs[g] = tmp_path / g
            gws[g] = gateway_proc(gateway_config(dirs[g], g, sim_port=ports[g], broker=broker,
                                                 building=f"dorm-{i + 1}"))
            gws[g].start()
        desk.start()
        me = Browser(desk)
        assert me.login("wang").status_code == 303
        wait_for("all ten gateways online at the desk",
                 lambda: me.fleet() == dict.fromkeys(GATEWAYS, "online"), 30, 0.3)

        # Fires in two buildings: both at the desk, with the same alarm id (ids are per gateway).
        set_fire(ports["gw-03"], True)
        set_fire(ports["gw-07"], True)
        fires = wait_for("two fire alarms at the desk", lambda: sorted(
            (g, a) for g, a, r in me.alarms() if r == "fire_alarm") if len(
            [1 for *_x, r in me.alarms() if r == "fire_alarm"]) == 2 else None, 10)
        (g3, a3), (g7, a7) = fires
        assert (g3, g7) == ("gw-03", "gw-07")
        assert a3 == a7, "each gateway numbers its own alarms; the desk keys them by gateway"

        # Acknowledged at the desk: gw-03's ledger shows it, gw-07's same-id alarm does not.
        assert me.ack("gw-03", a3).status_code == 303
        wait_for("gw-03's ledger acknowledged by the desk's login",
                 lambda: [r for r in ledger(dirs["gw-03"]) if r["id"] == a3
                          and r["acked_by"] == "desk"], 10)
        wait_for("the desk shows it confirmed (no longer pending)",
                 lambda: "待网关确认" not in me.alarm_page("gw-03", a3), 10)
        assert all(r["acked_by"] is None for g in GATEWAYS if g != "gw-03"
                   for r in ledger(dirs[g])), "an ack reached a gateway that does not own it"

        # The desk goes down; a fire is raised meanwhile; after its restart the desk shows it.
        desk.kill()
        set_fire(ports["gw-05"], True)
        wait_for("gw-05 raised its fire", lambda: ledger(dirs["gw-05"]), 10)
        desk.start()
        me = Browser(desk)
        me.login("wang")
        wait_for("gw-05's fire at the restarted desk", lambda: any(
            g == "gw-05" and r == "fire_alarm" for g, _a, r in me.alarms()), 10)

        # A frozen gateway (no pings) is shown offline within 1.5 × keepalive; a killed one at
        # once; both online again once they are back.
        gws["gw-01"].signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        gws["gw-02"].kill()
        wait_for("gw-02 offline", lambda: me.fleet().get("gw-02") == "offline", 3)
        wait_for("gw-01 offline by its last will",
                 lambda: me.fleet().get("gw-01") == "offline", 1.5 * KEEPALIVE_S + 1.0, 0.2)
        assert time.monotonic() - frozen_at >= KEEPALIVE_S * 0.9  # the will, not a crash
        gws["gw-01"].signal(signal.SIGCONT)
        gws["gw-02"].start()

        # An ack given while the owning gateway is down waits, and is applied when it is back.
        gws["gw-07"].kill()
        wait_for("gw-07 offline", lambda: me.fleet().get("gw-07") == "offline", 3)
        assert me.ack("gw-07", a7).status_code == 303
        assert "待网关确认" in me.alarm_page("gw-07", a7)
        time.sleep(1.5)
        assert all(r["acked_by"] is None for r in ledger(dirs["gw-07"]))
        gws["gw-07"].start()
        wait_for("gw-07's ledger has the desk's ack after its restart",
                 lambda: [r for r in ledger(dirs["gw-07"]) if r["acked_by"] == "desk"], 20)

        # The broker killed and restarted: everything comes back, nothing is lost at the desk.
        broker.kill()
        wait_for("the desk says it lost the broker",
                 lambda: 'id="broker-down"' in me.get("/").text, 5)
        broker.start()
        wait_for("all ten gateways online again after the broker's restart",
                 lambda: me.fleet() == dict.fromkeys(GATEWAYS, "online"), 20, 0.3)
        shown = {(g, r) for g, _a, r in me.alarms()}
        assert {("gw-03", "fire_alarm"), ("gw-05", "fire_alarm"),
                ("gw-07", "fire_alarm")} <= shown
        acked = {g for g in GATEWAYS for r in ledger(dirs[g]) if r["acked_by"] == "desk"}
        assert acked == {"gw-03", "gw-07"}
    finally:
        desk.stop()
        for p in gws.values():
            p.stop()
        sims.stop()
        broker.stop()
        for g, p in gws.items():
            if "Traceback" in p.tail(20000):
                print(f"--- {g}\n{p.tail()}")
        print("--- desk\n" + (desk.proc.tail() if desk.proc else ""))
