"""The cloud brain's side of photobrain: consent, the privacy ledger, cost, and sending photos a few at a time.

Strictly opt-in. Nothing here runs, and google-genai is never imported (only ``sidecar.brains.gemini``
imports it, and only when a photo is sent), unless the user chose ``--brain gemini`` or ``--brain both``,
has an API key, and has consented for this library (a catalog).

* ``options``: what a cloud run is asked to do, and what it costs;
* ``consent``: what the user is told before the first photo leaves, remembered per library;
* ``ledger``: every request, logged before it leaves; ``photobrain privacy`` reads it;
* ``runner``: sending a few photos at a time, the first one alone;
* ``stage``: a tag run's cloud side (which photos to send, waiting for answers, what stored answers add);
* ``estimate``: ``tag --estimate``; ``cli``: the ``privacy`` command and the consent prompt.
"""
from .consent import consent_answer, consent_given, consent_text, record_consent, require_key, revoke_consent
from .estimate import estimate
from .ledger import Ledger, ledger_path, read_ledger, summarize_ledger
from .options import BRAINS, PRICES, CloudOptions, check_budget, cost
from .runner import CloudRunner, CloudTally

__all__ = ["BRAINS", "PRICES", "CloudOptions", "CloudRunner", "CloudTally", "Ledger", "check_budget",
           "consent_answer", "consent_given", "consent_text", "cost", "estimate", "ledger_path", "read_ledger", "record_consent",
           "require_key", "revoke_consent", "summarize_ledger"]
