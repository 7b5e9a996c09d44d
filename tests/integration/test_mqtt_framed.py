"""The MQTT sink's own PUBLISH framing (``PubackWindow``) against a real Mosquitto: a subscriber
gets exactly the topics, payloads, QoS and retain flags paho would have sent, packet ids never
clash with paho's own in-flight ones, and a broker stopped in the middle of a batch loses
nothing and repeats only what it had not acknowledged."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest

from gateway.outputs.config import OutputsConfig
from gateway.outputs.mqtt_sink import PubackWindow
from gateway.outputs.outbox import Outbox
from gateway.outputs.service import Outputs
from gateway.records import TelemetryRecord
from tests.support.mqtt_helpers import PREFIX, Recorder, check, client_for, retained
from tests.support.outputs_helpers import Ident, drained, mqtt_cfg
from tests.support.servers import Mosquitto
from tests.support.waiting import until


def _sized(topic: str, remaining: int, qos: int) -> tuple[str, bytes]:
    """A message whose PUBLISH remaining length is exactly ``remaining`` bytes."""
    size = remaining - 2 - len(topic.encode()) - (2 if qos else 0)
    return topic, bytes(i % 251 for i in range(size))


async def test_framed_messages_reach_a_subscriber_exactly(mosquitto: Mosquitto) -> None:
    qos1 = [("fr/a", b""), ("fr/a", b"{}"), ("fr/宿舍/3号楼/301", "功率 812.5 W".encode()),
            ("fr/" + "t" * 300, b"x")]
    # Each boundary of MQTT's remaining-length integer, on both sides (1 to 4 bytes).
    qos1 += [_sized(f"fr/len/{n}", n, 1) for n in (127, 128, 16383, 16384, 2097151, 2097152)]
    qos0 = [("fr/zero/a", b"q0"), _sized("fr/zero/len", 128, 0), ("fr/zero/empty", b"")]
    wrap = [(f"fr/wrap/{i}", f"{i}".encode()) for i in range(40)]
    with Recorder(mosquitto, "fr/#") as rec:
        async with client_for(mosquitto, max_inflight_messages=0) as client:
            window = PubackWindow(client)
            assert window._framer is not None  # the path under test, not paho's publish
            await window.publish(qos1, 1, 10)
            assert window.acked == len(qos1)
            await window.publish(qos0, 0, 10)
            # Packet ids wrap from 65535 to 1 while paho publishes a retained message of its
            # own in the same window: both are acknowledged, nothing is lost or mixed up.
            client._client._last_mid = 65520
            await asyncio.gather(window.publish(wrap, 1, 10),
                                 client.publish("fr/own", b"paho's own", qos=1, retain=True))
            assert window.acked == len(wrap)
        sent = qos1 + qos0 + wrap
        await until(lambda: len(rec.got) == len(sent) + 1, what="every message")
        await asyncio.sleep(0.2)  # nothing more comes
        got = [(t, p) for t, p, *_ in rec.got if t != "fr/own"]
        assert got == sent
        flags = {t: (q, r, d) for t, _, q, r, d in rec.got}
        assert all(flags[t] == (1, False, False) for t, _ in qos1 + wrap)
        assert all(flags[t] == (0, False, False) for t, _ in qos0)
        kept = await retained(mosquitto, "fr/#")
        assert kept == {"fr/own": b"paho's own"}  # framed messages are never retained


async def test_an_mqtt5_connection_publishes_through_paho(mosquitto: Mosquitto) -> None:
    """The sink speaks 3.1.1; a window on an MQTT 5 connection (its PUBLISH carries properties)
    is not framed here but published by paho, and still delivers every message once."""
    msgs = [(f"v5/dev-{i}", f"payload {i}".encode()) for i in range(50)]
    with Recorder(mosquitto, "v5/#") as rec:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="fg-v5",
                                  protocol=aiomqtt.ProtocolVersion.V5,
                                  max_inflight_messages=0) as client:
            window = PubackWindow(client)
            assert window._framer is None
            await window.publish(msgs, 1, 10)
            assert window.acked == len(msgs)
            assert not client._client._out_messages  # paho completed every one of its own
        await until(lambda: len(rec.got) == len(msgs), what="every message")
    assert [(t, p) for t, p, *_ in rec.got] == msgs
    assert {(q, r) for _, _, q, r, _ in rec.got} == {(1, False)}


async def test_broker_stopped_mid_batch_loses_nothing_and_repeats_only_unacked(
        tmp_path: Path, make_mosquitto: Callable[[str], Mosquitto],
        monkeypatch: pytest.MonkeyPatch) -> None:
    broker = make_mosquitto("anonymous")
    mqtt = mqtt_cfg(broker, client_id="fg-midbatch").mqtt
    cfg = OutputsConfig(batch_size=1000, max_age_s=0.1, mqtt=mqtt)
    # A batch of 20 MB, more than the loopback socket buffers hold, so that when the broker
    # is told to stop (at the 100th acknowledgement) the gateway has not even written the
    # whole batch: part of it is acknowledged, part of it is not.
    total, stop_at, note = 2000, 100, "n" * 20_000
    acks = 0
    claim = PubackWindow._claim

    def counting(self: PubackWindow, mid: int) -> bool:
        nonlocal acks
        hit = claim(self, mid)
        acks += hit
        if hit and acks == stop_at and broker.proc is not None:
            broker.proc.send_signal(signal.SIGTERM)  # saves its sessions as it exits
        return hit

    monkeypatch.setattr(PubackWindow, "_claim", counting)
    t0 = time.time()
    records = [TelemetryRecord(device=f"dev-{i % 7}", ts=t0, measurement="electrical",
                               tags={"note": note}, fields={"seq": float(i)})
               for i in range(total)]
    seqs = Counter[int]()
    fresh = Counter[int]()  # receipts the broker did not mark as its own resend (DUP)
    with Recorder(broker, f"{PREFIX}/telemetry/#", persistent=True) as rec, \
            Outbox(tmp_path / "o.sqlite", budget_bytes=500_000_000, sinks=cfg.sinks()) as ob:
        ob.put_telemetry(records)
        outputs = Outputs(cfg, ob, Ident())
        outputs.deliveries["mqtt"].backoff_max_s = 0.5
        task = asyncio.create_task(outputs.run())
        try:
            await until(lambda: broker.proc is not None and broker.proc.poll() is not None,
                        what="the broker to stop")
            await until(lambda: outputs.sinks["mqtt"].health()["state"] == "disconnected",
                        what="the sink to see the broker gone")
            await asyncio.sleep(0.3)  # the failed batch's acknowledged head is marked
            acked = total - ob.pending("mqtt")
            # The head of the batch the broker acknowledged is delivered, the rest is not.
            assert stop_at <= acked < 1000, acked
            broker.start()
            await drained(ob, "mqtt", limit_s=30)
            seen = 0

            def count() -> bool:
                nonlocal seen
                got = rec.got[seen:]
                seen += len(got)
                for _, payload, qos, _, dup in got:
                    seq = int(json.loads(payload)["fields"]["seq"])
                    seqs[seq] += 1
                    fresh[seq] += not dup
                    assert qos == 1
                return len(seqs) == total

            await until(count, timeout=30, what="every record at the subscriber")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    check("telemetry", rec.got[-1][1])
    assert set(seqs) == set(range(total))  # nothing lost
    # What the broker acknowledged was published once; only the rest could come again.
    assert all(fresh[s] <= 1 for s in range(acked)), [s for s in range(acked) if fresh[s] > 1]
    assert all(fresh[s] <= 2 for s in range(total))
    broker.stop()
