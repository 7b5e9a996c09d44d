"""What the demo's optional flags add: real MQTT/InfluxDB outputs and a simulated SMS modem.

With ``--modem`` the demo pages a made-up on-call rota through a simulated 4G modem on a pty;
the duty electrician "replies" to the first fire alarm page with its code, so acknowledgement by
SMS shows in the ledger, and the other alarms escalate after a shortened wait.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from gateway.runtime.gateway import Gateway
from gateway.runtime.process import OnSummary
from gateway.runtime.wiring import Services

DEMO_ROTA = {
    "utc_offset_h": 8,
    "people": {
        "duty_electrician": {"phone": "+8613800000001", "name_zh": "值班电工"},
        "security_duty": {"phone": "+8613800000002", "name_zh": "保卫处值班员"},
        "security_head": {"phone": "+8613800000003", "name_zh": "保卫处处长"},
    },
    "levels": [["duty_electrician"], ["security_duty"], ["security_head"]],
    "waits_s": [0, 20, 40],  # shortened for the demo; a building uses minutes
}

REPLY_AFTER_S = 5.0


def demo_overrides(args: argparse.Namespace, base: Path,
                   modem_port: str | None = None) -> dict[str, object]:
    """Configuration sections the flags ask for, merged over the demo building."""
    outputs: dict[str, object] = {}
    if args.mqtt:
        outputs["mqtt"] = {"url": args.mqtt, "client_id": "firegate-demo",
                           "operators": ["demo-operator"]}
    if args.influx or args.line_protocol:
        influx: dict[str, object] = {"url": args.influx, "org": args.influx_org,
                                  "bucket": args.influx_bucket}
        token = args.influx_token or os.environ.get("FIREGATE_INFLUX_TOKEN")
        if token:
            influx["token"] = token
        if args.line_protocol:
            influx["line_protocol_file"] = Path(args.line_protocol).resolve()
        outputs["influx"] = influx
    out: dict[str, object] = {}
    if outputs:
        out["outputs"] = outputs
    if modem_port:
        out["notify"] = {"enabled": True, "modem": {"port": modem_port, "command_wait_s": 2,
                                                    "reopen_after_s": 1},
                         "rota": DEMO_ROTA, "retry_s": 5}
    return out


async def _reply_to_fire_page(sim: Any) -> None:
    """Play the duty electrician: answer the first fire alarm page with its code."""
    while True:
        await asyncio.sleep(0.5)
        for msg in sim.messages():
            # A fire page, not a digest that merely mentions a fire door (防火门).
            if "火警" in msg.text and not msg.text.startswith("【告警") and \
                    msg.number.endswith("0001"):
                m = re.search(r"\((\w{3,8})\)|回复\"1 (\w{3,8})\"", msg.text)
                if m:
                    await asyncio.sleep(REPLY_AFTER_S)
                    sim.deliver(msg.number, f"1 {m.group(1) or m.group(2)}")
                    return


# What the people in the demo do with the alarms on the ledger: the control room acknowledges
# what it sees, and the dorm supervisor closes the kettle alarm once the kettle is gone (销号).
CONTROL_ROOM = "控制室 王工"
SUPERVISOR = "宿管 张老师"
ACK_AFTER_S = 8.0
KETTLE_NOTE = "已收缴违规电水壶，对宿舍学生进行了安全用电教育"


async def _operator_rounds(gw: Gateway) -> None:
    while True:
        await asyncio.sleep(2.0)
        now = time.time()
        for a in gw.ledger.open_alarms():
            if a.rule in ("residual_current", "panel_fault", "fire_door_open") and \
                    not a.acked_by and now - a.raised_at >= ACK_AFTER_S:
                gw.acknowledge(a.id, who=CONTROL_ROOM, via="demo")
            if a.rule == "malicious_load" and a.state != "closed" and a.cleared_at:
                gw.close_alarm(a.id, who=SUPERVISOR, note=KETTLE_NOTE, category="real")


def demo_extras(args: argparse.Namespace, modem_sim: Any = None
                ) -> Callable[[Gateway], list[Coroutine[Any, Any, object]]]:
    def extras(gw: Gateway) -> list[Coroutine[Any, Any, object]]:
        coros: list[Coroutine[Any, Any, object]] = [_operator_rounds(gw)]
        if modem_sim is not None:
            coros.append(_reply_to_fire_page(modem_sim))
        return coros

    return extras


def demo_summary(args: argparse.Namespace) -> OnSummary:
    def add(services: Services, summary: dict[str, object]) -> None:
        if services.outputs is not None:
            summary["outputs"] = services.outputs.health().sinks

    return add
