#!/usr/bin/env python3
"""Draw the Grafana dashboards' panel layout (position, size, title, type) from their JSON
into docs/dashboards.png, for the README: no Grafana is needed.

    .venv/bin/pip install -c constraints.txt -e '.[docs]'
    .venv/bin/python scripts/render-dashboards.py

The PNG carries a hash of the layout it was drawn from (a `tEXt` chunk, `layout-sha256`);
tests/test_grafana_dashboards.py fails when the JSON's layout has changed since.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
OUTPUT = REPO / "docs" / "dashboards.png"
COLUMN, ROW, MARGIN, GAP, HEADER = 36, 22, 16, 28, 30  # pixels
COLOURS = {  # by panel type
    "stat": "#d7ecd9",
    "bargauge": "#d9e6f5",
    "table": "#f5ecd4",
    "timeseries": "#ecdff2",
}


def boards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))]


def layout_hash(dashboards: list[dict[str, Any]]) -> str:
    """What the picture shows, and nothing else: each panel's title, type and gridPos."""
    layout = [
        [board["title"]] + [[p["title"], p["type"], p["gridPos"]] for p in board["panels"]]
        for board in dashboards
    ]
    return hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()


def png_text(path: Path) -> dict[str, str]:
    """The PNG's tEXt chunks (read without Pillow, so the check needs no extra)."""
    data, found, offset = path.read_bytes(), {}, 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"tEXt":
            key, _, value = data[offset + 8 : offset + 8 + length].partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        offset += 12 + length
    return found


def render(dashboards: list[dict[str, Any]], output: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont
    from PIL.PngImagePlugin import PngInfo

    font = ImageFont.load_default(size=13)
    bold = ImageFont.load_default(size=16)
    width = MARGIN * 2 + 24 * COLUMN
    heights = [max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in b["panels"]) for b in dashboards]
    height = MARGIN + sum(HEADER + h * ROW + GAP for h in heights)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top = MARGIN
    for board, rows in zip(dashboards, heights, strict=True):
        draw.text((MARGIN, top), f"{board['title']}  (uid {board['uid']})", fill="black", font=bold)
        top += HEADER
        for panel in board["panels"]:
            grid = panel["gridPos"]
            box = (
                MARGIN + grid["x"] * COLUMN + 2,
                top + grid["y"] * ROW + 2,
                MARGIN + (grid["x"] + grid["w"]) * COLUMN - 2,
                top + (grid["y"] + grid["h"]) * ROW - 2,
            )
            draw.rectangle(box, fill=COLOURS.get(panel["type"], "#eeeeee"), outline="#555555")
            draw.text((box[0] + 8, box[1] + 6), panel["title"], fill="black", font=bold)
            draw.text((box[0] + 8, box[1] + 28), panel["type"], fill="#444444", font=font)
        top += rows * ROW + GAP
    info = PngInfo()
    info.add_text("layout-sha256", layout_hash(dashboards))
    output.parent.mkdir(parents=True, exist_ok=True)
    image.save(output, pnginfo=info)


if __name__ == "__main__":
    render(boards(), OUTPUT)
    print(f"wrote {OUTPUT.relative_to(REPO)}", file=sys.stderr)
