"""/v1/videos: a video object in a terminal state, as the Batch API reports finished video jobs.

`size` and `seconds` are echoed (defaults 720x1280 and "4"; values outside the supported sets fall
back to them); a finished video can be downloaded for 24 hours, hence `expires_at`. A prompt with a
moderation trigger word (see moderations.TRIGGERS) gives a `failed` video with a `moderation_blocked`
error instead; both are successful batch lines, as the real API writes them.
"""

from __future__ import annotations

from typing import Any

from mockbatch.generators.base import Generated, LineContext, Usage
from mockbatch.generators.moderations import triggered

SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
SECONDS = ("4", "8", "12")
DEFAULT_SIZE, DEFAULT_SECONDS = "720x1280", "4"
DOWNLOAD_SECONDS = 86_400


def generate(body: dict[str, Any], ctx: LineContext) -> Generated:
    """The prompt's length (32,000 characters), `size` and `seconds` are the request schema's (linecheck.py)."""
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else ""
    size = body.get("size") if body.get("size") in SIZES else DEFAULT_SIZE
    seconds = str(body.get("seconds")) if str(body.get("seconds")) in SECONDS else DEFAULT_SECONDS
    failed = triggered(prompt)
    video_id = f"video_{ctx.created & 0xFFFFFFFF:08x}{ctx.hex(4)}8190{ctx.hex(32)}"
    return Generated({
        "id": video_id,
        "object": "video",
        "model": ctx.model.snapshot,
        "status": "failed" if failed else "completed",
        "progress": 0 if failed else 100,
        "created_at": ctx.created,
        "completed_at": None if failed else ctx.created,
        "expires_at": None if failed else ctx.created + DOWNLOAD_SECONDS,
        "prompt": prompt,
        "size": size,
        "seconds": seconds,
        "remixed_from_video_id": None,
        "error": {"code": "moderation_blocked",
                  "message": "Your request was blocked by our moderation system."} if failed else None,
    }, Usage())
