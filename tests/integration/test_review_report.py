"""The review report of a ledger of 1,000 generated alarms over 60 days, rendered by Debian's
headless Chromium as the security office would print it: its tables are there after rendering,
and the picture is a real page (not blank, A4-wide)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_review_of_1000_alarms_renders_with_its_tables(tmp_path: Path) -> None:
    assert shutil.which("chromium"), "Debian's chromium is missing: run scripts/setup"
    png, html = tmp_path / "review.png", tmp_path / "review.html"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "review_sample.py"),
                          "--ledger", str(tmp_path / "ledger.sqlite"), "--alarms", "1000",
                          "--days", "60", "--html", str(html), "--png", str(png)],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    assert "1000 alarms over 60 days" in res.stdout
    # What Chromium made of the page: the DOM after parsing and layout.
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          html.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert page.count("<table") == 3 + 2  # a table per building, overdue items, repeat rooms
    assert page.count("<svg") == 3  # a chart per building
    for heading in ("误报率", "超期未整改", "重复违规房间", "1号宿舍楼", "3号宿舍楼",
                    "南5号宿舍楼"):
        assert heading in page, heading
    # Printed: A4 pages (595 × 842 pt), as the review meeting reads it.
    pdf = tmp_path / "review.pdf"
    res = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
                          f"--print-to-pdf={pdf}", html.as_uri()], capture_output=True,
                         timeout=120)
    assert res.returncode == 0 and pdf.exists(), res.stderr[-2000:]
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf.read_bytes())
    assert len(boxes) >= 3, "a report of 1,000 alarms runs to several pages"
    assert all(round(float(w)) == 595 and round(float(h)) == 842 for w, h in boxes), boxes[:3]
    width, height = _png_size(png)
    assert width == 900 and height > 2000
    # A blank page of this size compresses to a few kilobytes; tables and text do not.
    assert png.stat().st_size > 100_000
