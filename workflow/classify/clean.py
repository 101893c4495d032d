"""Pass 1 of the rules classifier: clean free ChatOps text.

Slack markup (mentions, channel refs, links, emoji shortcodes, entities, code/bold
markers) is stripped or unwrapped; whitespace collapsed; digits typed in another form
(superscript ``³``, circled ``①``, full-width, other scripts' decimal digits) become the
ASCII digits they stand for (`ascii_digits`).
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = ["MAX_ANALYSED_CHARS", "ascii_digits", "clean_text"]

MAX_ANALYSED_CHARS = 4000


# --------------------------------------------------------------------------- cleaning

_SLACK_USER = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>", re.I)
_SLACK_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>", re.I)
_SLACK_SPECIAL = re.compile(r"<!(?:subteam\^)?[\w^-]+(?:\|[^>]*)?>")
_SLACK_LINK = re.compile(r"<((?:https?|ftp|mailto):[^|>\s]+)(?:\|([^>]*))?>", re.I)
_EMOJI = re.compile(r":[a-z0-9_+'-]*[a-z][a-z0-9_+'-]*:(?::skin-tone-\d:)?", re.I)
_ALARM_EMOJI = re.compile(
    r":(?:fire|rotating_light|rotating-light|sos|boom|bangbang|red_circle|"
    r"this-is-fine(?:-fire)?|scream|fire_engine|warning|alert|siren|pager):",
    re.I,
)
_CODE_FENCE = re.compile(r"```|`")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_QUOTE = re.compile(r"(?m)^\s*>\s?")
_DASH_FLAG = re.compile(r"[\u2014\u2013](?=[a-z])", re.I)  # autocorrected "--flag"
_DASH = re.compile(r"[\u2014\u2013]")
_LEAD_CMD = re.compile(r"^\s*/?devops(?:[-_]?bot)?\b[:,]?\s*", re.I)
_WS = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _unwrap_link(m: re.Match[str]) -> str:
    url, label = m.group(1), m.group(2)
    if url.lower().startswith("mailto:"):
        return label or url[7:]
    if not label:
        return url
    bare = re.sub(r"^[a-z]+://", "", url, flags=re.I).rstrip("/")
    if label.rstrip("/").lower() in (bare.lower(), url.rstrip("/").lower()):
        return url
    return f"{label} ({url})"


class _DigitTable(dict[int, int | str]):
    """`str.translate` table filled on demand: a character with a digit value (any
    script's decimal digits, superscripts, circled and parenthesised digits, full-width
    digits) -> that ASCII digit; a numeral whose compatibility form is ASCII digits
    (circled ten ⑩) -> those digits. Everything else maps to itself, and only numerals
    are remembered (a few thousand at most)."""

    def __missing__(self, code: int) -> int | str:
        char = chr(code)
        if unicodedata.numeric(char, None) is None:
            return code
        digit = unicodedata.digit(char, None)
        if digit is not None:
            value: int | str = str(digit)
        else:
            compat = unicodedata.normalize("NFKC", char)
            value = compat if compat.isascii() and compat.isdecimal() else code
        self[code] = value
        return value


_DIGITS = _DigitTable()


def ascii_digits(text: str) -> str:
    """`text` with every character that stands for digits written as ASCII digits.

    `str.isdigit()` accepts "³" and "①", which `int()` refuses: numbers from users are
    read only after this, and only with `[0-9]` or `str.isdecimal()`. Numerals that are
    not digits (三, ½, Ⅻ) are left as they are.
    """
    return text if text.isascii() else text.translate(_DIGITS)


def clean_text(text: str) -> tuple[str, bool]:
    """Strip Slack markup. Returns the cleaned text and whether an alarm emoji was seen."""
    if not text:
        return "", False
    s = ascii_digits(text).translate(_QUOTES)
    s = _SLACK_USER.sub(" ", s)
    s = _SLACK_CHANNEL.sub(lambda m: f" #{m.group(1)} " if m.group(1) else " ", s)
    s = _SLACK_SPECIAL.sub(" ", s)
    s = _SLACK_LINK.sub(_unwrap_link, s)
    s = _QUOTE.sub("", s)
    s = html.unescape(s) if "&" in s else s
    alarm = bool(_ALARM_EMOJI.search(s))
    if ":" in s:
        s = _EMOJI.sub(" ", s)
    s = _CODE_FENCE.sub(" ", s)
    if "*" in s:
        s = _BOLD.sub(r"\1", s)
    s = _DASH_FLAG.sub("--", s)
    s = _DASH.sub(" - ", s)
    s = _WS.sub(" ", s).strip()
    s = _LEAD_CMD.sub("", s)
    return s, alarm
