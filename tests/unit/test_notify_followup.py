"""Further zones of a panel that has just paged a fire: one follow-up, at most two pages per
number in the window (gateway/notify/followup.py, pure state)."""

from __future__ import annotations

from gateway.notify.followup import FireFollowUp
from gateway.notify.storm import PageItem
from gateway.records import AlarmTransition

T0 = 1_000_000.0


def fire(zone: str, device: str = "panel") -> tuple[AlarmTransition, PageItem]:
    t = AlarmTransition(event="raise", ts=T0, id=f"A{device}{zone}", device=device,
                        rule="fire_alarm", severity="critical", state="raised", channel=zone)
    return t, PageItem(t.id, f"c{zone}", t, True)


def test_zones_after_the_first_go_out_as_one_follow_up_to_whoever_got_the_first() -> None:
    f = FireFollowUp(window_s=60, gather_s=5)
    assert not f.absorb(*fire("1"), T0)  # the lead pages as usual
    f.paged("Apanel1", "+861")
    f.paged("Apanel1", "+862")
    assert f.absorb(*fire("2"), T0 + 1) and f.absorb(*fire("3"), T0 + 2)
    assert f.due(T0 + 5).messages == []
    out = f.due(T0 + 6).messages
    assert sorted(m.phone for m in out) == ["+861", "+862"]
    assert [i.alarm_id for i in out[0].items] == ["Apanel2", "Apanel3"] and out[0].critical


def test_a_zone_after_the_follow_up_waits_a_whole_window() -> None:
    f = FireFollowUp(window_s=60, gather_s=5)
    f.absorb(*fire("1"), T0)
    f.paged("Apanel1", "+861")
    f.absorb(*fire("2"), T0 + 1)
    assert len(f.due(T0 + 6).messages) == 1
    assert f.absorb(*fire("4"), T0 + 30)
    assert f.due(T0 + 60).messages == []
    assert [m.items[0].alarm_id for m in f.due(T0 + 66).messages] == ["Apanel4"]


def test_other_panels_other_rules_and_later_fires_page_on_their_own() -> None:
    f = FireFollowUp(window_s=60, gather_s=5)
    f.absorb(*fire("1"), T0)
    assert not f.absorb(*fire("1", device="panel-b"), T0 + 1)
    t = AlarmTransition(event="raise", ts=T0, id="X", device="panel", rule="residual_current",
                        severity="major", state="raised")
    assert not f.absorb(t, PageItem("X", "c", t, False), T0 + 2)
    assert not f.absorb(*fire("5"), T0 + 61)  # a new fire, a new lead


def test_the_lead_zone_raised_again_is_its_own_page_not_a_follow_up() -> None:
    """Reset, then fire again in the same zone within the window: a new occurrence of that
    alarm, paged as its own round (issue 12: every new occurrence pages)."""
    f = FireFollowUp(window_s=60, gather_s=5)
    assert not f.absorb(*fire("3"), T0)
    f.paged("Apanel3", "+861")
    assert not f.absorb(*fire("3"), T0 + 35)
    assert f.absorb(*fire("5"), T0 + 36)  # another zone now follows the new round


def test_zones_of_a_lead_that_reached_nobody_are_handed_back_not_dropped() -> None:
    """The first zone acknowledged at the control room before its page went out (or nobody on
    its rota levels yet): its follow-up has no one to go to, so the further zones must page as
    alarms of their own. Before, they were sent to no one and never escalated: a missed page."""
    f = FireFollowUp(window_s=60, gather_s=5)
    assert not f.absorb(*fire("3"), T0)  # never paged: no f.paged(...)
    assert f.absorb(*fire("5"), T0 + 1)
    due = f.due(T0 + 6)
    assert due.messages == [] and [i.alarm_id for i in due.unpaged] == ["Apanel5"]
    assert f.due(T0 + 12).unpaged == []  # handed back once
