"""``actions:`` in the configuration: which named actions a device allows, and when the gateway
may take one by itself.

Nothing is written to a device unless its entry names the action here (read-only by default).
A device's ``actions: {cut_socket: {auto: [malicious_load], hold_s: 10}, restore_socket: {}}``
allows both actions for people, and lets the gateway cut by itself when ``malicious_load`` has
been up for 10 s, the way dormitory controllers work (GB 50116 9.1.6: opt-in per device).
"""

from __future__ import annotations

from pydantic import Field

from gateway.config.base import Strict


class DeviceAction(Strict):
    """One allowed action of one device."""

    auto: list[str] = Field(default_factory=list,
                            description="rule ids whose alarm makes the gateway take the action "
                            "by itself (never for a restore)")
    hold_s: float = Field(default=10.0, ge=0, le=3600,
                          description="the alarm must still be up this long before an "
                          "automatic action")


class ActionsConfig(Strict):
    """Global ``actions:``: who may ask, how often, and whether writes really happen."""

    dry_run: bool = Field(default=False,
                          description="check and audit every request, but write nothing")
    max_per_device_per_hour: int = Field(default=6, ge=1, le=1000,
                                         description="writes to one device in any hour")
    operators: list[str] = Field(default_factory=list,
                                 description="people whose requests (MQTT cmd/action, "
                                 "firegate action) are applied")
    request_poll_s: float = Field(default=1.0, gt=0, le=60,
                                  description="how often the gateway takes requests handed in "
                                  "by `firegate action`")
    readback_delay_s: float = Field(default=0.3, ge=0, le=30,
                                    description="wait before reading back a written value")
    readback_tries: int = Field(default=3, ge=1, le=20)
