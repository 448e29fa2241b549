"""Informed consent, per library: what the user is told before the first photo leaves, and the record of it."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from xmp.errors import PhotobrainError

from ..brains.gemini import MAX_SIDE
from .ledger import ledger_path, now
from .options import CloudOptions

if TYPE_CHECKING:
    from pathlib import Path

    from index.catalog import Catalog

PROVIDER = "Google, through the Gemini API (generativelanguage.googleapis.com)"
TERMS_URL = "https://ai.google.dev/gemini-api/terms"
#: the version of the explanation below: consent given for an older one is asked again
TERMS_VERSION = "2026-11-27"
CONSENT_KEY = "cloud_consent"


def consent_text(options: CloudOptions, catalog: Path) -> str:
    return f"""\
photobrain is about to send photos to a cloud service (--brain {options.brain}). Please read this once.

What leaves this machine, for each photo not answered before:
  - a new JPEG made from the photo's pixels alone, at most {MAX_SIDE} px on the long side (8-45 KB):
    no EXIF, no GPS position, no camera serial, no XMP keywords or captions, no ICC profile,
    no file name and no folder name;
  - a fixed instruction asking for keywords, a caption and alt text, naming the top-level
    branches of your vocabulary (such as "animal, place, activity").
To whom: {PROVIDER}, model {options.model}, billed to the API key you gave photobrain.
What Google's terms say ({TERMS_URL}):
  - unpaid (free tier) keys: Google may use what you send, photos included, to improve its
    products, and human reviewers may read it;
  - paid keys (a Cloud project with billing enabled): not used to improve Google's products;
    kept for up to 55 days to detect abuse. Users in the EEA, Switzerland and the UK get the
    paid terms on any key.
What stays here: your originals, the on-device tags and the search index. Every request is
written to {ledger_path(catalog)} before it is sent; 'photobrain privacy' shows them all.
'photobrain tag --estimate' shows the cost before anything is sent; --max-cost caps a run.
Your answer, yes or no, is remembered for this library (catalog {catalog});
'photobrain privacy --revoke' forgets it."""


def consent_answer(catalog: Catalog) -> dict | None:
    """The user's answer for this library (``agreed``, ``date``, ``how``), if given to the current explanation."""
    raw = catalog.setting(CONSENT_KEY)
    if raw is None:
        return None
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) and answer.get("terms") == TERMS_VERSION else None


def consent_given(catalog: Catalog) -> dict | None:
    answer = consent_answer(catalog)
    return answer if answer is not None and answer.get("agreed") is True else None


def record_consent(catalog: Catalog, options: CloudOptions, how: str, *, agreed: bool = True) -> None:
    """Remember the user's answer, yes or no, for this library."""
    catalog.set_setting(CONSENT_KEY, json.dumps({"provider": "gemini", "model": options.model, "date": now(),
                                                  "terms": TERMS_VERSION, "how": how, "agreed": agreed}))


def revoke_consent(catalog: Catalog) -> None:
    """Forget the answer, yes or no: the next cloud run asks again."""
    catalog.db.execute("DELETE FROM meta WHERE key = ?", (f"setting:{CONSENT_KEY}",))
    catalog.commit()


def require_key(options: CloudOptions) -> str:
    if not options.api_key:
        raise PhotobrainError(None, f"--brain {options.brain} needs a Gemini API key",
                              "set GEMINI_API_KEY, or gemini_api_key in the config file (get a key at "
                              "https://aistudio.google.com/apikey); --brain local needs none and sends nothing")
    return options.api_key
