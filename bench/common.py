"""What every benchmark reports beside its figures (imported as ``common``: benchmarks run as scripts)."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path


def machine() -> str:
    """CPU count and model, so that a figure is read against the machine it came from."""
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} x {model}"
