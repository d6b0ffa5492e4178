"""HTML decoding and the extractor implementations (resiliparse, trafilatura, naive baseline)."""

from __future__ import annotations

import re
from collections.abc import Callable

from curator.settings import ExtractSettings

Extractor = Callable[[str], str]

_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")
_SPACES = re.compile(r"[ \t\u00a0]+")


def _tidy(text: str) -> str:
    """Collapse runs of spaces and blank lines; strip each line."""
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", text).strip()


def decode_html(payload: bytes, declared: str | None = None) -> str | None:
    """Decode an HTML payload: declared charset, then UTF-8, then resiliparse's detector.

    Returns None if nothing decodes it cleanly (the caller quarantines the record).
    """
    for enc in (declared, "utf-8"):
        if not enc:
            continue
        try:
            return payload.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    enc = detect_encoding(payload)
    try:
        return payload.decode(enc)
    except (LookupError, UnicodeDecodeError):
        pass
    text = bytes_to_str(payload, enc)
    # bytes_to_str never fails; refuse mostly-garbage results instead of passing mojibake on
    return text if text.count("\ufffd") <= max(8, len(text) // 100) else None


def _resiliparse(settings: ExtractSettings) -> Extractor:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    def run(html: str) -> str:
        tree = HTMLTree.parse(html)
        return _tidy(
            extract_plain_text(
                tree,
                main_content=settings.main_content,
                alt_texts=settings.keep_alt_texts,
                links=settings.links,
                list_bullets=True,
                preserve_formatting=True,
                noscript=False,
                form_fields=False,
            )
        )

    return run


def _trafilatura(settings: ExtractSettings) -> Extractor:
    try:
        import trafilatura
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from curator.exceptions import ConfigError

        raise ConfigError(
            "extract.extractor=trafilatura needs the `trafilatura` package: pip install trafilatura"
        ) from exc

    def run(html: str) -> str:
        out = trafilatura.extract(
            html,
            include_comments=False,
            include_tables=True,
            favor_recall=not settings.main_content,
            deduplicate=False,
        )
        return _tidy(out or "")

    return run


_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template|svg|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENTS = re.compile(r"<!--.*?-->", re.DOTALL)
_BLOCK_TAGS = re.compile(
    r"<\s*/?\s*(p|div|br|li|tr|h[1-6]|section|article|header|footer|nav|ul|ol|table|title)\b[^>]*>", re.IGNORECASE
)
_TAGS = re.compile(r"<[^>]*>")


def _naive(settings: ExtractSettings) -> Extractor:
    """The baseline: strip scripts/styles and every tag, keep all remaining text (boilerplate included)."""
    import html as _html

    def run(html: str) -> str:
        text = _COMMENTS.sub(" ", html)
        text = _DROP_BLOCKS.sub(" ", text)
        text = _BLOCK_TAGS.sub("\n", text)
        text = _TAGS.sub(" ", text)
        return _tidy(_html.unescape(text))

    return run


EXTRACTORS: dict[str, Callable[[ExtractSettings], Extractor]] = {
    "resiliparse": _resiliparse,
    "trafilatura": _trafilatura,
    "naive": _naive,
}


def get_extractor(settings: ExtractSettings | dict | None = None) -> Extractor:
    """The configured ``html -> text`` function (heavy imports happen here, not at import time)."""
    settings = settings if isinstance(settings, ExtractSettings) else ExtractSettings.model_validate(settings or {})
    return EXTRACTORS[settings.extractor](settings)
