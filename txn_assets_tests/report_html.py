"""Reading a written stream report back: its images, links and detection rows."""

from __future__ import annotations

import base64
import html
import re

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def images(text: str) -> list[bytes]:
    """The bytes of every <img>, which must be an embedded PNG."""
    sources = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", text)
    found = []
    for source in sources:
        assert source.startswith("data:image/png;base64,"), source[:80]
        found.append(base64.b64decode(source.split(",", 1)[1], validate=True))
    return found


def external_references(text: str) -> list[str]:
    """Every src/href that is not embedded, and any http(s) URL at all."""
    links = re.findall(r"\b(?:src|href)\s*=\s*[\"']?([^\"' >]*)", text)
    return [link for link in links if not link.startswith("data:")] + re.findall(
        r"https?://\S+", text
    )


def detection_rows(text: str) -> dict[int, list[str]]:
    """The detection table: seq -> its cells as text (unescaped)."""
    rows = re.findall(r"<tr class=\"detection\">(.*?)</tr>", text, re.S)
    cells = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]
    return {int(c[0]): c for c in cells}
