"""PDU encoding checked against published vectors and an independent decoder (smspdudecoder)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smspdudecoder.easy import read_incoming_sms, read_outgoing_sms

from drivers.sms.pdu import (
    DCS_GSM7,
    DCS_UCS2,
    PduError,
    decode_pdu,
    encode_deliver,
    encode_submit,
    split_text,
)

# The classic "hellohello" SMS-SUBMIT to +46708251358, 4-day validity (dreamfabric / GSM 03.40
# tutorials) and its SMS-DELIVER counterpart.
SUBMIT_VECTOR = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
DELIVER_VECTOR = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"


def test_submit_matches_the_published_hellohello_vector() -> None:
    [part] = encode_submit("+46708251358", "hellohello", validity_minutes=4 * 1440)
    assert part.hex == SUBMIT_VECTOR
    assert part.tpdu_length == len(SUBMIT_VECTOR) // 2 - 1


def test_deliver_vector_decodes_to_its_text() -> None:
    d = decode_pdu(DELIVER_VECTOR)
    assert (d.kind, d.text) == ("deliver", "hellohello")


def test_chinese_200_characters_becomes_linked_ucs2_parts() -> None:
    text = ("东校区1号楼3层305室电气火灾监控探测器报警，"
          "剩余电流超过阈值，请值班电工立即到场处置。" * 5)[:200]
    parts = encode_submit("+8613800000001", text, reference=42)
    assert len(parts) == 3  # 67 + 67 + 66
    seen = []
    for i, p in enumerate(parts, 1):
        raw = bytes.fromhex(p.hex)
        assert raw[0] == 0x00  # SCA: the SIM's own SMSC
        assert raw[1] & 0x40  # TP-UDHI
        d = decode_pdu(p.hex, tpdu_length=p.tpdu_length)
        assert d.dcs == DCS_UCS2
        assert d.concat is not None and (d.concat.reference, d.concat.total, d.concat.seq) == \
            (42, 3, i)
        other = read_outgoing_sms(p.hex)  # independent decoder
        assert other["recipient"] == "+8613800000001"
        seen.append(other["content"])
    assert "".join(seen) == text


def test_long_gsm7_text_splits_at_153_and_keeps_escapes_whole() -> None:
    text = "Alarm {room 305} [floor 3] " * 12
    dcs, chunks = split_text(text)
    assert dcs == DCS_GSM7 and len(chunks) > 1
    parts = encode_submit("13800000001", text, reference=7)
    # smspdudecoder counts an escape pair as one septet and so also reads the CR that
    # 23.038 puts into 7 spare bits; a phone drops it
    decoded = [read_outgoing_sms(p.hex)["content"].removesuffix("\r") for p in parts]
    assert "".join(decoded) == text
    assert "".join(decode_pdu(p.hex).text for p in parts) == text


def test_single_ucs2_message_fits_70_characters_without_header() -> None:
    [p] = encode_submit("+8613800000001", "火" * 70)
    assert not bytes.fromhex(p.hex)[1] & 0x40
    assert len(encode_submit("+8613800000001", "火" * 71)) == 2


def test_emoji_surrogate_pair_is_not_split_between_parts() -> None:
    text = "火" * 66 + "🔥" + "火" * 10
    parts = encode_submit("+8613800000001", text)
    assert "".join(decode_pdu(p.hex).text for p in parts) == text


def test_deliver_round_trip_with_independent_decoder() -> None:
    ts = datetime(2026, 3, 1, 20, 15, 7, tzinfo=UTC)
    pdu = encode_deliver("+8613900000002", "确认 4821", ts)
    other = read_incoming_sms(pdu)
    assert other["sender"] == "+8613900000002"
    assert other["content"] == "确认 4821"
    assert other["date"] == ts
    assert decode_pdu(pdu).text == "确认 4821"


def test_wrong_cmgs_length_is_reported() -> None:
    [p] = encode_submit("+8613800000001", "测试")
    with pytest.raises(PduError, match="does not match"):
        decode_pdu(p.hex, tpdu_length=p.tpdu_length + 1)


def test_truncated_ucs2_is_reported() -> None:
    [p] = encode_submit("+8613800000001", "测试消息")
    with pytest.raises(PduError):
        decode_pdu(p.hex[:-2])


def test_bad_number_is_refused_with_the_number_in_the_message() -> None:
    with pytest.raises(PduError, match="138-abc"):
        encode_submit("138-abc", "x")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
               min_size=1, max_size=400))
def test_any_text_round_trips(text: str) -> None:
    parts = encode_submit("+8613800000001", text, reference=3)
    decoded = [decode_pdu(p.hex, tpdu_length=p.tpdu_length) for p in parts]
    assert "".join(d.text for d in decoded) == text
    if len(parts) > 1:
        assert [d.concat.seq for d in decoded if d.concat] == list(range(1, len(parts) + 1))
