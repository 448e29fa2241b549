"""Memory: what is free, what a tagging worker needs, what a run used at its peak (figures in bench/bench_memory.py)."""
from __future__ import annotations

import os
import sys

from .brains.spec import ModelSpec

#: a worker's memory besides its model: Python, torch and open_clip imported (measured 0.73 GB)
WORKER_BASE_BYTES = 750_000_000
#: its peak is at loading, with the checkpoint read and the model built side by side: about twice the
#: checkpoint's size (default model: 1.92 GB in all, bench/bench_memory.py --worker); dropping the text tower
#: afterwards lowers what it holds for the run, not that peak
LOAD_FACTOR = 2.0
MAIN_PROCESS_BYTES = 600_000_000  # tag's main process: catalog, index building, the vocabulary (no image model)


def available_memory() -> int | None:
    """Bytes the system can give without swapping (Linux: MemAvailable; elsewhere: None, i.e. unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def worker_memory(spec: ModelSpec, max_megapixels: float) -> int:
    """About how much one tagging worker holds at its peak: imports, image tower, and one large decode."""
    try:
        weights = spec.checkpoint.stat().st_size
    except OSError:
        weights = 600_000_000
    decode = int(min(max_megapixels, 50) * 1e6 * 3)  # an RGB decode of a large photo (draft mode keeps JPEGs smaller)
    return WORKER_BASE_BYTES + int(weights * LOAD_FACTOR) + decode


def workers_that_fit(spec: ModelSpec, max_megapixels: float) -> tuple[int | None, int, int | None]:
    """(how many workers the free memory holds, what one needs, what is free); the count is None when unknown."""
    free, each = available_memory(), worker_memory(spec, max_megapixels)
    if free is None:
        return None, each, None
    return max(1, int((free - MAIN_PROCESS_BYTES) // each)), each, free


def resident_memory() -> int | None:
    """This process's resident bytes now (Linux; None elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def peak_memory(jobs: int) -> dict[str, int]:
    """Peak resident bytes of this process and of its largest finished child (the workers)."""
    try:
        import resource
    except ImportError:  # Windows
        return {}
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale if jobs > 1 else 0
    return {"main": main, "worker": worker, "total": main + worker * jobs}
