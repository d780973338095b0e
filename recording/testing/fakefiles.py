"""The fake-capture files of one participant (what Chromium's fake camera and microphone play)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MediaFiles:
    wav: Path
    y4m: Path
