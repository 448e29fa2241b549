"""The opt-in cloud brain: Gemini through google-genai, the only module that imports it.

Nothing here runs unless the user chose the cloud brain (see issue #6: consent, ledger and the
``--brain`` option come on top of this module). What leaves the machine per photo:

* the image, decoded and re-encoded from its pixels as a new JPEG of at most 384 px a side
  (258 tokens): no EXIF, GPS, XMP, ICC profile, comment, file name or path survives that;
* the prompt text, with a hint of the local vocabulary's top-level branches.

Errors: a refused key, a retired model, missing permission or a spent per-day quota stop the run
(:class:`CloudStop`); a per-minute quota (429 with ``RetryInfo``), server errors and timeouts are
retried with backoff; a safety block, a cut-off, malformed or wrongly shaped answer fails that photo
only (:class:`CloudRefused`).
"""
from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmp.errors import PhotobrainError
from xmp.paths import key, sanitize_component

DEFAULT_MODEL = "gemini-2.5-flash-lite"
MAX_SIDE = 384          # both sides at most 384 px: 258 tokens
MIN_TIMEOUT = 10.0      # the live API rejects shorter deadlines
MAX_DEPTH = 4
MAX_COMPONENT = 64
MAX_KEYWORDS = 25       # the prompt asks for 5 to 20
MAX_CAPTION = 500       # characters; "one sentence" is asked for
MAX_ALT_TEXT = 250      # IPTC's guideline for Alt Text (Accessibility)
#: finish reasons that say the content itself was refused: the same photo would be refused again
WITHHELD = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}

SCHEMA = {
    "type": "object",
    "properties": {
        "keywords": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "caption": {"type": "string"},
        "alt_text": {"type": "string"},
    },
    "required": ["keywords", "caption", "alt_text"],
}

PROMPT = (
    "Describe this photo for a photographer's keyword catalog. Return JSON with: "
    "'keywords': 5 to 20 hierarchical keywords, each a list from general to specific "
    "(e.g. [\"animal\", \"mammal\", \"dog\"]), using these top-level branches where they fit: {branches}; "
    "'caption': one factual sentence; 'alt_text': one sentence for a screen reader. "
    "Do not guess names of people or places that are not evident."
)


class CloudError(PhotobrainError):
    """Something the cloud brain could not do."""


class CloudStop(CloudError):
    """The run must stop: sending more would fail the same way (bad key, retired model, no permission, daily quota)."""


class CloudRefused(CloudError):
    """This photo got no usable answer; the run goes on and a later run asks again."""


class CloudWithheld(CloudRefused):
    """The model withheld its answer because of the photo's content (a safety block): asking again gives the same."""


@dataclass
class CloudAnswer:
    keywords: list[tuple[str, ...]]
    caption: str
    alt_text: str
    model: str
    bytes_sent: int
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 1


def prepare_image(path: Path, data: bytes, max_side: int = MAX_SIDE) -> bytes:
    """The photo as it is sent: decoded (orientation applied), at most ``max_side`` px, a new metadata-free JPEG."""
    from PIL import Image

    from ..decode import decode

    image = decode(Path(path), data, min_side=max_side).image.convert("RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    # a new image from the pixels alone: Pillow would otherwise carry the source's JPEG comment into the copy
    pixels = Image.frombytes("RGB", image.size, image.tobytes())
    out = io.BytesIO()
    pixels.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


class GeminiBrain:
    """Asks Gemini for hierarchical keywords, a caption and alt text for one prepared image at a time."""

    def __init__(self, api_key: str, model: str = DEFAULT_MODEL, *, base_url: str | None = None,
                 timeout: float = 30.0, attempts: int = 4, backoff: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep):
        from google import genai
        from google.genai import types

        self.model, self.attempts, self.backoff, self.sleep = model, attempts, backoff, sleep
        options = types.HttpOptions(timeout=int(max(timeout, MIN_TIMEOUT) * 1000), base_url=base_url)
        self._types = types
        # vertexai=False: GOOGLE_GENAI_USE_VERTEXAI in the environment must not send photos to another service
        # under other terms than the ones the user consented to
        self.client = genai.Client(vertexai=False, api_key=api_key, http_options=options)

    def describe(self, jpeg: bytes, branches: list[str], *,
                 on_send: Callable[[int], None] | None = None) -> CloudAnswer:
        """Keywords, caption and alt text for one prepared image. ``on_send(attempt)`` runs before every request
        leaves the machine (the privacy ledger records it there)."""
        from google.genai import errors

        transport = _transport_errors()

        types = self._types
        config = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=SCHEMA,
                                             temperature=0.2, max_output_tokens=1024)
        contents = [types.Part.from_bytes(data=jpeg, mime_type="image/jpeg"),
                    PROMPT.format(branches=", ".join(branches))]
        last = ""
        for attempt in range(1, self.attempts + 1):
            if on_send is not None:
                on_send(attempt)
            try:
                response = self.client.models.generate_content(model=self.model, contents=contents, config=config)
            except errors.ClientError as exc:
                delay = self._client_error(exc)
                last = f"HTTP {exc.code} {exc.status or ''}".strip()
                self.sleep(delay if delay is not None else self.backoff * 2 ** (attempt - 1))
                continue
            except errors.ServerError as exc:
                last = f"HTTP {exc.code} {exc.status or ''}".strip()
            except transport as exc:
                last = f"no answer in time ({type(exc).__name__})"
            else:
                answer = self._answer(response, len(jpeg))
                answer.attempts = attempt
                return answer
            if attempt < self.attempts:
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise CloudRefused(None, f"Gemini gave no answer after {self.attempts} attempts ({last})",
                           "run again later: photos already answered are not sent again")

    def _client_error(self, exc: Any) -> float | None:
        """Raise for errors that end the run or fail the photo; return the delay to wait for a per-minute quota."""
        text = json.dumps(exc.details, default=str) if exc.details else str(exc)
        if exc.code == 429:
            if re.search(r"PerDay", text):
                raise CloudStop(None, "the Gemini quota for today is used up",
                                "run the same command tomorrow (or with a paid key): it resumes where it stopped")
            return _retry_delay(text)
        if exc.code == 400 and "API_KEY_INVALID" in text:
            raise CloudStop(None, "Gemini refused the API key", "check GEMINI_API_KEY (or gemini_api_key in the config)")
        if exc.code in (401, 403):
            raise CloudStop(None, f"Gemini denied access ({exc.message or exc.status})",
                            "check that the key's project has the Gemini API enabled")
        if exc.code == 404:
            raise CloudStop(None, f"the Gemini model {self.model!r} is unknown or retired",
                            "choose a current model (see https://ai.google.dev/gemini-api/docs/models)")
        raise CloudRefused(None, f"Gemini rejected the request (HTTP {exc.code}: {exc.message or exc.status})")

    def _answer(self, response: Any, sent: int) -> CloudAnswer:
        feedback = getattr(response, "prompt_feedback", None)
        if feedback is not None and getattr(feedback, "block_reason", None):
            raise CloudWithheld(None, f"Gemini blocked this photo ({_name(feedback.block_reason)})")
        candidates = response.candidates or []
        if not candidates:
            raise CloudRefused(None, "Gemini returned no answer for this photo")
        finish = _name(candidates[0].finish_reason)
        if finish not in ("STOP", "FINISH_REASON_UNSPECIFIED", "None"):
            if finish in WITHHELD:
                raise CloudWithheld(None, f"Gemini withheld its answer ({finish})")
            raise CloudRefused(None, f"Gemini cut off its answer ({finish})")
        data = response.parsed
        if not isinstance(data, dict):
            try:
                data = json.loads(response.text or "")
            except ValueError:
                raise CloudRefused(None, "Gemini's answer is not JSON") from None
        keywords, caption, alt_text = data.get("keywords"), data.get("caption"), data.get("alt_text")
        if not (isinstance(keywords, list) and all(isinstance(k, list) and all(isinstance(c, str) for c in k)
                                                   for k in keywords)
                and isinstance(caption, str) and isinstance(alt_text, str)):
            raise CloudRefused(None, "Gemini's answer does not have the asked-for shape")
        usage = getattr(response, "usage_metadata", None)
        return CloudAnswer(keywords=[tuple(k) for k in keywords], caption=_shorten(caption, MAX_CAPTION),
                           alt_text=_shorten(alt_text, MAX_ALT_TEXT), model=self.model, bytes_sent=sent,
                           input_tokens=int(getattr(usage, "prompt_token_count", 0) or 0),
                           output_tokens=int(getattr(usage, "candidates_token_count", 0) or 0))


def clean_keywords(raw: list[tuple[str, ...]], concepts: dict[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Keywords fit for the XMP hierarchy: components sanitised (no ``|`` or ``/``), at most 64 characters and 4
    levels, de-duplicated, the first 25; a keyword whose last word names a local concept (``concepts``: name or
    synonym, lower case -> path) takes that concept's path."""
    out: dict[tuple[str, ...], tuple[str, ...]] = {}
    for path in raw:
        parts = tuple(p for p in (sanitize_component(str(c))[:MAX_COMPONENT].strip() for c in path) if p)[-MAX_DEPTH:]
        if not parts:
            continue
        parts = concepts.get(parts[-1].lower(), parts)
        out.setdefault(key(parts), parts)
    return list(out.values())[:MAX_KEYWORDS]


def _shorten(text: str, limit: int) -> str:
    """Whitespace collapsed; cut at a word boundary, with an ellipsis, when longer than ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:") + "…"


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Timeouts and refused connections: google-genai raises them from httpx (or its fork httpx2), not as APIError."""
    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        found.append(module.TransportError)  # timeouts, refused and dropped connections
    return tuple(found) or (OSError,)


def _retry_delay(text: str) -> float | None:
    match = re.search(r'"retryDelay":\s*"(\d+(?:\.\d+)?)s"', text)
    return float(match.group(1)) if match else None


def _name(value: Any) -> str:
    return str(getattr(value, "name", value))
