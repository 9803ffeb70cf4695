"""How much memory the host has available now, for checks made before a large
allocation."""

from __future__ import annotations

import os


def available_bytes() -> int | None:
    """The host's available memory in bytes (Linux's MemAvailable, else the free pages
    the C library reports); None when neither can be read.

    >>> n = available_bytes()
    >>> n is None or n > 0
    True
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
