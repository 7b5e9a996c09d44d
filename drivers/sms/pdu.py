"""SMS PDUs (3GPP TS 23.040): SMS-SUBMIT for sending, SMS-DELIVER for replies.

Written here rather than taken from a library: ``smspdudecoder`` (maintained) only decodes, and
``python-gsmmodem-new`` has not been released since 2021 and runs its own threads. The tests check
this encoder against ``smspdudecoder`` and against published vectors.

Chinese text needs UCS2 (70 characters, 67 per part when split); GSM-7 is used when every
character fits its alphabet (160, 153 per part). Long texts carry a concatenation header (IEI
0x00, 8-bit reference) and set TP-UDHI (0x40) in the first octet, so the phone joins the parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXT = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
            "]": 0x3E, "|": 0x40, "€": 0x65}
_BASIC_INDEX = {c: i for i, c in enumerate(GSM7_BASIC) if c != "\x1b"}  # 0x1B escapes
_EXT_REVERSE = {v: k for k, v in GSM7_EXT.items()}

DCS_GSM7 = 0x00
DCS_UCS2 = 0x08
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_PARTS = 255


class PduError(ValueError):
    """A PDU that a modem or a network would reject; the message says which field is wrong."""


# --------------------------------------------------------------------------- alphabets


def is_gsm7(text: str) -> bool:
    return all(c in _BASIC_INDEX or c in GSM7_EXT for c in text)


def gsm7_septets(text: str) -> list[int]:
    out: list[int] = []
    for c in text:
        if c in _BASIC_INDEX:
            out.append(_BASIC_INDEX[c])
        elif c in GSM7_EXT:
            out.extend((0x1B, GSM7_EXT[c]))
        else:
            raise PduError(f"character {c!r} is not in the GSM 7-bit alphabet")
    return out


def gsm7_text(septets: list[int]) -> str:
    out: list[str] = []
    escape = False
    for s in septets:
        if escape:
            out.append(_EXT_REVERSE.get(s, " "))
            escape = False
        elif s == 0x1B:
            escape = True
        else:
            out.append(GSM7_BASIC[s])
    return "".join(out)


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Septets packed LSB first, after ``fill_bits`` zero bits (aligning after a UDH)."""
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    value = int.from_bytes(data, "little")
    return [(value >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


# --------------------------------------------------------------------------- numbers


def encode_address(number: str) -> bytes:
    """TP-DA/TP-OA: digit count, type of address (0x91 international, 0x81 national), BCD."""
    digits = number.strip().replace(" ", "").replace("-", "")
    toa = 0x81
    if digits.startswith("+"):
        toa, digits = 0x91, digits[1:]
    elif digits.startswith("00"):
        toa, digits = 0x91, digits[2:]
    if not digits or not all(c.isdigit() or c in "*#" for c in digits):
        raise PduError(f"phone number {number!r} must be digits, optionally with a leading +")
    if len(digits) > 20:
        raise PduError(f"phone number {number!r} is longer than 20 digits")
    return bytes([len(digits), toa]) + _semi_octets(digits)


def _semi_octets(digits: str) -> bytes:
    code = {"*": 0xA, "#": 0xB}
    nibbles = [code.get(c, 0) if c in code else int(c) for c in digits]
    if len(nibbles) % 2:
        nibbles.append(0xF)
    return bytes(nibbles[i] | (nibbles[i + 1] << 4) for i in range(0, len(nibbles), 2))


def _decode_semi_octets(data: bytes, count: int) -> str:
    table = "0123456789*#abc"
    out = []
    for b in data:
        out.append(table[b & 0x0F] if (b & 0x0F) != 0xF else "")
        out.append(table[b >> 4] if (b >> 4) != 0xF else "")
    return "".join(out)[:count]


def _decode_address(data: bytes, pos: int) -> tuple[str, int]:
    ndigits, toa = data[pos], data[pos + 1]
    nbytes = (ndigits + 1) // 2
    raw = data[pos + 2:pos + 2 + nbytes]
    if len(raw) < nbytes:
        raise PduError("address runs past the end of the PDU")
    if (toa & 0x70) == 0x50:  # alphanumeric sender (e.g. an operator's notice)
        text = gsm7_text(unpack_septets(raw, ndigits * 4 // 7))
        return text, pos + 2 + nbytes
    number = _decode_semi_octets(raw, ndigits)
    return ("+" + number if (toa & 0x70) == 0x10 else number), pos + 2 + nbytes


# --------------------------------------------------------------------------- splitting


def split_text(text: str) -> tuple[int, list[str]]:
    """Choose the coding and split ``text`` into parts that each fit one message."""
    if is_gsm7(text):
        if len(gsm7_septets(text)) <= GSM7_SINGLE:
            return DCS_GSM7, [text]
        parts: list[str] = []
        cur: list[str] = []
        used = 0
        for c in text:
            n = 2 if c in GSM7_EXT else 1
            if used + n > GSM7_PART:  # an escape pair is never split across parts
                parts.append("".join(cur))
                cur, used = [], 0
            cur.append(c)
            used += n
        parts.append("".join(cur))
        return DCS_GSM7, parts
    units = text.encode("utf-16-be")
    if len(units) <= 2 * UCS2_SINGLE:
        return DCS_UCS2, [text]
    parts, cur_s, used = [], "", 0
    for c in text:
        n = len(c.encode("utf-16-be")) // 2  # a surrogate pair stays in one part
        if used + n > UCS2_PART:
            parts.append(cur_s)
            cur_s, used = "", 0
        cur_s += c
        used += n
    parts.append(cur_s)
    return DCS_UCS2, parts


# --------------------------------------------------------------------------- SMS-SUBMIT


@dataclass(frozen=True)
class SubmitPdu:
    """One part ready for ``AT+CMGS=<tpdu_length>``: ``hex`` includes the SCA octet(s)."""

    hex: str
    tpdu_length: int
    part: int = 1
    parts: int = 1
    reference: int | None = None


def _sca(smsc: str | None) -> bytes:
    """``00`` lets the modem use the SMSC stored on the SIM, which is right almost always."""
    if not smsc:
        return b"\x00"
    addr = encode_address(smsc)
    body = addr[1:]  # the SCA length counts octets (type + BCD), not digits
    return bytes([len(body)]) + body


def encode_submit(number: str, text: str, *, reference: int = 0, smsc: str | None = None,
                  validity_minutes: int | None = 24 * 60,
                  status_report: bool = False) -> list[SubmitPdu]:
    """All parts of one SMS-SUBMIT. ``reference`` (0–255) links the parts of a long message."""
    if not text:
        raise PduError("an SMS needs some text")
    if not 0 <= reference <= 255:
        raise PduError(f"concatenation reference {reference} must be 0–255")
    dcs, chunks = split_text(text)
    if len(chunks) > MAX_PARTS:
        raise PduError(f"text of {len(text)} characters needs more than {MAX_PARTS} parts")
    da = encode_address(number)
    sca = _sca(smsc)
    out: list[SubmitPdu] = []
    for i, chunk in enumerate(chunks, 1):
        concat = len(chunks) > 1
        first = 0x01  # SMS-SUBMIT
        if validity_minutes is not None:
            first |= 0x10  # relative validity period
        if status_report:
            first |= 0x20
        udh = b""
        if concat:
            first |= 0x40
            udh = bytes([0x05, 0x00, 0x03, reference, len(chunks), i])
        if dcs == DCS_UCS2:
            payload = chunk.encode("utf-16-be")
            ud = udh + payload
            udl = len(ud)
        else:
            septets = gsm7_septets(chunk)
            fill = (7 - (len(udh) * 8) % 7) % 7 if udh else 0
            udh_septets = (len(udh) * 8 + fill) // 7
            udl = udh_septets + len(septets)
            if (udl * 7) % 8 == 1:
                # 7 spare bits would read as a trailing '@': 23.038 6.1.2.3.1 fills them with CR
                ud = udh + pack_septets([*septets, 0x0D], fill)
            else:
                ud = udh + pack_septets(septets, fill)
        tpdu = bytes([first, 0x00]) + da + bytes([0x00, dcs])
        if validity_minutes is not None:
            tpdu += bytes([_relative_vp(validity_minutes)])
        tpdu += bytes([udl]) + ud
        out.append(SubmitPdu((sca + tpdu).hex().upper(), len(tpdu), i, len(chunks),
                             reference if concat else None))
    return out


def _relative_vp(minutes: int) -> int:
    if minutes <= 720:
        return max(0, min(143, minutes // 5 - 1))
    if minutes <= 1440:
        return min(167, 143 + (minutes - 720) // 30)
    if minutes <= 30 * 1440:
        return min(196, 166 + minutes // 1440)
    return min(255, 192 + minutes // (7 * 1440))


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class Concat:
    reference: int
    total: int
    seq: int


@dataclass(frozen=True)
class DecodedSms:
    """A decoded SMS-SUBMIT (``number`` is the recipient) or SMS-DELIVER (the sender)."""

    kind: str  # "submit" | "deliver"
    number: str
    dcs: int
    text: str
    concat: Concat | None = None
    timestamp: datetime | None = None
    tpdu_length: int = 0
    notes: list[str] = field(default_factory=list)


def _hex_bytes(pdu_hex: str) -> bytes:
    try:
        return bytes.fromhex(pdu_hex.strip())
    except ValueError as exc:
        raise PduError(f"PDU is not hexadecimal: {exc}") from exc


def decode_pdu(pdu_hex: str, *, tpdu_length: int | None = None) -> DecodedSms:
    """Decode a PDU with its SCA prefix, checking every length field.

    With ``tpdu_length`` (the number given to ``AT+CMGS``) the TPDU size is checked too: a
    mismatch is the commonest reason a modem answers ``+CMS ERROR: 304``.
    """
    data = _hex_bytes(pdu_hex)
    if not data:
        raise PduError("empty PDU")
    sca_len = data[0]
    pos = 1 + sca_len
    if pos >= len(data):
        raise PduError("PDU ends inside the SMSC address")
    tpdu = data[pos:]
    if tpdu_length is not None and tpdu_length != len(tpdu):
        raise PduError(f"AT+CMGS length {tpdu_length} does not match the TPDU's {len(tpdu)} "
                       f"octets")
    try:
        return _decode_tpdu(tpdu)
    except IndexError as exc:
        raise PduError("PDU is shorter than its fields say") from exc


def _decode_tpdu(tpdu: bytes) -> DecodedSms:
    first = tpdu[0]
    kind, number, dcs, ts, pos = _decode_header(tpdu)
    udl = tpdu[pos]
    ud = tpdu[pos + 1:]
    concat: Concat | None = None
    udh_len = 0
    if first & 0x40:  # TP-UDHI: the user data starts with a header
        if not ud:
            raise PduError("TP-UDHI is set but there is no user data header")
        udh_len = ud[0] + 1
        if udh_len > len(ud):
            raise PduError(f"user data header of {udh_len} octets runs past the user data")
        concat = _parse_udh(ud[1:udh_len])
    text = _decode_text(_coding(dcs), udl, ud, udh_len)
    return DecodedSms(kind, number, dcs, text, concat, ts, len(tpdu))


def _decode_header(tpdu: bytes) -> tuple[str, str, int, datetime | None, int]:
    """(kind, number, DCS, SC timestamp, position of TP-UDL) of an SMS-SUBMIT or SMS-DELIVER."""
    first = tpdu[0]
    mti = first & 0x03
    if mti == 0x01:
        number, pos = _decode_address(tpdu, 2)  # after the first octet and TP-MR
        pos += 1  # PID
        dcs = tpdu[pos]
        vpf = (first >> 3) & 0x03
        return "submit", number, dcs, None, pos + 1 + {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
    if mti == 0x00:
        number, pos = _decode_address(tpdu, 1)
        pos += 1  # PID
        dcs = tpdu[pos]
        return "deliver", number, dcs, _decode_scts(tpdu[pos + 1:pos + 8]), pos + 8
    raise PduError(f"message type {mti} is neither SMS-SUBMIT nor SMS-DELIVER")


def _decode_text(coding: int, udl: int, ud: bytes, udh_len: int) -> str:
    """The text of the user data after its header, checked against TP-UDL."""
    if coding == DCS_UCS2:
        if udl != len(ud):
            raise PduError(f"user data length {udl} does not match the {len(ud)} octets present")
        body = ud[udh_len:]
        if len(body) % 2:
            raise PduError("UCS2 text has an odd number of octets")
        if len(body) > 140:
            raise PduError("UCS2 text is longer than 140 octets")
        try:
            return body.decode("utf-16-be")
        except UnicodeDecodeError as exc:
            raise PduError(f"UCS2 text does not decode: {exc.reason}") from exc
    if coding == DCS_GSM7:
        if udl > 160:
            raise PduError(f"user data length {udl} septets exceeds 160")
        need = (udl * 7 + 7) // 8
        if need != len(ud):
            raise PduError(f"user data length {udl} septets needs {need} octets, "
                           f"found {len(ud)}")
        skip_bits = udh_len * 8
        fill = (7 - skip_bits % 7) % 7 if udh_len else 0
        hdr_septets = (skip_bits + fill) // 7
        return gsm7_text(unpack_septets(ud[udh_len:], udl - hdr_septets, fill))
    return ud[udh_len:].hex()


def _coding(dcs: int) -> int:
    if dcs & 0xC0 == 0x00 or dcs & 0xF0 == 0xF0:
        alphabet = (dcs >> 2) & 0x03
        if dcs & 0xF0 == 0xF0:
            alphabet &= 0x01
        return {0: DCS_GSM7, 1: 0x04, 2: DCS_UCS2}.get(alphabet, 0x04)
    return DCS_UCS2 if (dcs >> 2) & 0x03 == 2 else DCS_GSM7


def _parse_udh(udh: bytes) -> Concat | None:
    pos = 0
    concat = None
    while pos < len(udh):
        if pos + 2 > len(udh):
            raise PduError("user data header element is cut short")
        iei, ln = udh[pos], udh[pos + 1]
        val = udh[pos + 2:pos + 2 + ln]
        if len(val) != ln:
            raise PduError(f"user data header element {iei:#04x} is cut short")
        if iei == 0x00:
            if ln != 3:
                raise PduError(f"concatenation element (IEI 0x00) has length {ln}, expected 3")
            concat = Concat(val[0], val[1], val[2])
        elif iei == 0x08:
            if ln != 4:
                raise PduError(f"concatenation element (IEI 0x08) has length {ln}, expected 4")
            concat = Concat(int.from_bytes(val[:2], "big"), val[2], val[3])
        pos += 2 + ln
    if concat is not None and not (1 <= concat.seq <= concat.total):
        raise PduError(f"part {concat.seq} of {concat.total} is out of range")
    return concat


def _swap(b: int) -> int:
    return (b & 0x0F) * 10 + (b >> 4)


def _decode_scts(raw: bytes) -> datetime | None:
    if len(raw) != 7:
        raise PduError("service centre timestamp is cut short")
    try:
        y, mo, d, h, mi, s = (_swap(b) for b in raw[:6])
        tzq = (raw[6] & 0x07) * 10 + (raw[6] >> 4)
        sign = -1 if raw[6] & 0x08 else 1
        tz = timezone(timedelta(minutes=15 * tzq * sign))
        return datetime(2000 + y, mo, d, h, mi, s, tzinfo=tz)
    except ValueError:
        return None


# --------------------------------------------------------------------------- SMS-DELIVER


def _encode_scts(ts: datetime) -> bytes:
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    off = ts.utcoffset() or timedelta()
    q = int(off.total_seconds() // 900)
    sign = 0x08 if q < 0 else 0
    q = abs(q)

    def sw(v: int) -> int:
        return (v % 10) << 4 | (v // 10)

    tzb = ((q % 10) << 4) | (q // 10) | sign
    return bytes([sw(ts.year % 100), sw(ts.month), sw(ts.day), sw(ts.hour), sw(ts.minute),
                  sw(ts.second), tzb])


def encode_deliver(sender: str, text: str, ts: datetime, *,
                   smsc: str = "+8613800100500") -> str:
    """One SMS-DELIVER as a modem stores it (used by the simulator to hand in replies)."""
    dcs, chunks = split_text(text)
    if len(chunks) > 1:
        raise PduError("a reply is delivered as a single message here; keep it short")
    oa = encode_address(sender)
    if dcs == DCS_UCS2:
        ud = text.encode("utf-16-be")
        udl = len(ud)
    else:
        septets = gsm7_septets(text)
        ud, udl = pack_septets(septets), len(septets)
    tpdu = bytes([0x04]) + oa + bytes([0x00, dcs]) + _encode_scts(ts) + bytes([udl]) + ud
    return (_sca(smsc) + tpdu).hex().upper()
