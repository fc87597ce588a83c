"""Image type sniffing by content (magic bytes), never by file name or declared type.

Only raster formats a browser renders as an image and never as a document are accepted:
PNG, JPEG, GIF and WebP. SVG, HTML and everything else is refused.
"""

from __future__ import annotations

import base64
import binascii
import re

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[\w.+-]+)*)"
    r";base64,",
    re.IGNORECASE,
)


def sniff_image(data: bytes) -> str | None:
    """The MIME type of a PNG, JPEG, GIF or WebP image, or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return "image/png"
    if data.startswith(b"\xff\xd8\xff") and len(data) > 4:
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) > 13:
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:15] == b"VP8":
        return "image/webp"
    return None


def decoded_size(encoded: str) -> int:
    """Upper bound of the decoded size of a base64 string (checked before decoding it)."""
    return (len(encoded) * 3) // 4


def split_data_url(value: str) -> str:
    """The base64 payload of a `data:<mime>;base64,<payload>` URL (or of bare base64)."""
    match = _DATA_URL.match(value)
    return value[match.end() :] if match else value


def decode_base64(payload: str) -> bytes | None:
    """Strict standard base64 (whitespace tolerated); None when it is not base64."""
    compact = "".join(payload.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
