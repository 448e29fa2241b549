"""``tag --estimate``: what a cloud run would send and cost, before anything is sent."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .ledger import LEDGER_TAIL, ledger_path, read_ledger
from .options import CloudOptions, cost, tokens_per_photo


def estimate(paths: tuple[Path, ...], catalog_path: Path, options: CloudOptions) -> dict[str, Any]:
    """How many photos under ``paths`` a cloud run would send, with tokens and cost; reads no image, sends nothing."""
    from index.catalog import Catalog
    from xmp import is_image

    from ..files import scan

    catalog = Catalog.open_readonly(catalog_path)
    try:
        known = catalog.files_under(Path(os.path.abspath(p)) for p in paths) if catalog else {}
        settled = catalog.cloud_settled(options.source) if catalog else set()
    finally:
        if catalog is not None:
            catalog.close()
    images = answered = unread = 0
    queued: set[str] = set()
    for path, st in scan(paths):
        if st is None or not is_image(path):
            continue
        images += 1
        row = known.get(Path(os.path.abspath(path)))
        if row is not None and row.hash and row.status == "ok" and (row.size, row.mtime_ns) == (
                st.st_size, st.st_mtime_ns):
            if row.hash in settled:
                answered += 1
            else:
                queued.add(row.hash)
        else:
            unread += 1
    to_send = len(queued) + unread
    per_in, per_out, measured = tokens_per_photo(read_ledger(ledger_path(catalog_path), tail=LEDGER_TAIL),
                                                 options.model)
    price = options.unit_price()
    return {"model": options.model, "images": images, "answered_before": answered, "to_send": to_send,
            "not_read_yet": unread, "tokens_per_photo": {"input": per_in, "output": per_out, "measured": measured},
            "input_tokens": to_send * per_in, "output_tokens": to_send * per_out,
            "price_per_million": list(price) if price else None,
            "cost_usd": round(cost(options, to_send * per_in, to_send * per_out), 6) if price else None}
