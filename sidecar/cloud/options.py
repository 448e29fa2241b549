"""What a cloud run is asked to do, and what it costs."""
from __future__ import annotations

from dataclasses import dataclass

from xmp.errors import PhotobrainError

from ..brains.gemini import DEFAULT_MODEL

BRAINS = ("local", "gemini", "both")

#: USD per 1M tokens (input, output), Gemini API paid-tier list prices; another model needs ``gemini_price``
#: in the config. Free keys cost nothing (and come with other terms: see the consent text).
PRICES: dict[str, tuple[float, float]] = {
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-2.0-flash": (0.10, 0.40),
}
IMAGE_TOKENS = 258          # an image with both sides at most 384 px
PROMPT_TOKENS_GUESS = 150   # the instruction text; the ledger's measured mean replaces these guesses
OUTPUT_TOKENS_GUESS = 250


@dataclass(frozen=True)
class CloudOptions:
    brain: str = "local"  # local | gemini | both
    model: str = DEFAULT_MODEL
    api_key: str | None = None
    max_cost: float | None = None  # USD for this run
    concurrency: int = 4
    price: tuple[float, float] | None = None  # USD per 1M tokens in/out, when the model is not in PRICES

    @property
    def uses_cloud(self) -> bool:
        return self.brain in ("gemini", "both")

    @property
    def source(self) -> str:
        """The provenance of tags and captions this model writes (``photobrain:Source`` in the XMP)."""
        return f"gemini:{self.model}"

    def unit_price(self) -> tuple[float, float] | None:
        return self.price or PRICES.get(self.model)


def cost(options: CloudOptions, input_tokens: int, output_tokens: int) -> float:
    price = options.unit_price()
    return 0.0 if price is None else (input_tokens * price[0] + output_tokens * price[1]) / 1e6


def tokens_per_photo(entries: list[dict], model: str) -> tuple[int, int, bool]:
    """(input, output) tokens one photo takes: the mean the ledger measured for ``model``, else a guess."""
    answered = [e for e in entries if e.get("event") == "result" and e.get("model") == model
                and e.get("outcome") == "answered" and e.get("input_tokens")]
    if answered:
        return (round(sum(e["input_tokens"] for e in answered) / len(answered)),
                round(sum(e.get("output_tokens", 0) for e in answered) / len(answered)), True)
    return IMAGE_TOKENS + PROMPT_TOKENS_GUESS, OUTPUT_TOKENS_GUESS, False


def check_budget(options: CloudOptions) -> None:
    if options.max_cost is not None and options.unit_price() is None:
        raise PhotobrainError(None, f"photobrain does not know the price of {options.model!r}, so it cannot keep "
                              "to --max-cost", "set gemini_price = [INPUT, OUTPUT] (USD per million tokens) in the "
                              "config file")
