"""URL filtering: a blocklist of domains, URL-token keywords and regexes, and the stage that applies it.

The blocklist comes from ``url_filter`` settings: the shipped ``default_blocklist.txt`` (a small,
high-precision list of adult / gambling / pharma-spam domains and words), extra blocklist files,
and inline ``domains``/``patterns``/``keywords``. File syntax, one entry a line (``#`` comments):
``example.com`` or ``*.example.com`` (domain and subdomains), ``kw:word`` (a whole token of the
host or path), ``re:REGEX`` (searched in the lower-cased URL).

:func:`url_block_reasons` gives, per row, null (keep) or the reason a URL is blocked:
``blocked_domain``, ``blocked_keyword``, ``blocked_pattern`` or ``missing_url`` (only when
``drop_missing_url``). Documents without a URL are kept by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.exceptions import ConfigError
from curator.settings import UrlFilterSettings
from curator.stage import TASK_CPUS, Resources, Stage

DEFAULT_BLOCKLIST = Path(__file__).with_name("default_blocklist.txt")
BLOCKED_DOMAIN = "blocked_domain"
BLOCKED_KEYWORD = "blocked_keyword"
BLOCKED_PATTERN = "blocked_pattern"
MISSING_URL = "missing_url"
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")

__all__ = ["DEFAULT_BLOCKLIST", "UrlBlocklist", "UrlFilterStage", "load_blocklist", "url_block_reasons", "url_keep"]


@dataclass
class UrlBlocklist:
    """Compiled blocklist (picklable: it travels to Ray tasks)."""

    domains: set[str] = field(default_factory=set)
    keywords: set[str] = field(default_factory=set)
    patterns: list[str] = field(default_factory=list)
    drop_missing_url: bool = False

    def __post_init__(self) -> None:
        try:
            self._regex = re.compile("|".join(f"(?:{p})" for p in self.patterns)) if self.patterns else None
        except re.error as exc:
            raise ConfigError(
                f"invalid URL filter pattern: {exc}. Fix the `re:` entry or url_filter.patterns"
            ) from exc

    def add_lines(self, lines, source: str = "blocklist") -> None:
        for raw in lines:
            line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("re:") else raw.strip()
            if not line:
                continue
            if line.startswith("kw:"):
                self.keywords.add(line[3:].strip().lower())
            elif line.startswith("re:"):
                self.patterns.append(line[3:].strip())
            else:
                self.domains.add(line.lower().removeprefix("*.").strip("."))
        self.__post_init__()

    def reason(self, url: str | None) -> str | None:
        """Why ``url`` is blocked, or None if it is not."""
        if not url:
            return MISSING_URL if self.drop_missing_url else None
        low = url.strip().lower()
        parts = urlsplit(low if "//" in low else "//" + low)
        host = (parts.hostname or "").strip(".")
        labels = host.split(".")
        if any(".".join(labels[i:]) in self.domains for i in range(len(labels))):
            return BLOCKED_DOMAIN
        tokens = set(_TOKEN_SPLIT.split(host + " " + parts.path + " " + parts.query))
        if self.keywords and not tokens.isdisjoint(self.keywords):
            return BLOCKED_KEYWORD
        if self._regex is not None and self._regex.search(low):
            return BLOCKED_PATTERN
        return None

    def summary(self) -> dict:
        return {"domains": len(self.domains), "keywords": len(self.keywords), "patterns": len(self.patterns)}


def load_blocklist(settings: UrlFilterSettings | dict | None = None) -> UrlBlocklist:
    """Build the blocklist from settings (default list, files, inline entries).

    Raises:
        ConfigError: a blocklist file that cannot be read, or an invalid regex.
    """
    settings = (
        settings if isinstance(settings, UrlFilterSettings) else UrlFilterSettings.model_validate(settings or {})
    )
    bl = UrlBlocklist(drop_missing_url=settings.drop_missing_url)
    files = ([str(DEFAULT_BLOCKLIST)] if settings.use_default_blocklist else []) + list(settings.blocklist_files)
    for f in files:
        try:
            bl.add_lines(Path(f).read_text(encoding="utf-8").splitlines(), source=f)
        except OSError as exc:
            raise ConfigError(
                f"cannot read URL blocklist {f}: {exc.strerror or exc}. Check url_filter.blocklist_files"
            ) from exc
    bl.add_lines(
        list(settings.domains) + [f"kw:{k}" for k in settings.keywords] + [f"re:{p}" for p in settings.patterns]
    )
    return bl


def url_block_reasons(table: pa.Table, blocklist: UrlBlocklist) -> pa.Array:
    """Per row: null (keep) or the block reason of its ``url``."""
    urls = table.column(S.URL).to_pylist() if S.URL in table.column_names else [None] * table.num_rows
    return pa.array([blocklist.reason(u) for u in urls], pa.string())


def url_keep(table: pa.Table, blocklist: UrlBlocklist) -> pa.Array:
    """Boolean mask of rows whose URL is not blocked."""
    return pc.is_null(url_block_reasons(table, blocklist))


class UrlFilterStage(Stage):
    """Drops rows whose URL is blocked (the build uses :func:`url_keep` in a split step to keep them aside).

    Args:
        settings: a :class:`~curator.settings.UrlFilterSettings` or its dict.
    """

    name = "url_filter"
    input_columns = (S.URL,)
    output_columns = ()
    resources = Resources(num_cpus=TASK_CPUS, batch_size=4096)

    def __init__(self, settings: dict | UrlFilterSettings | None = None) -> None:
        super().__init__()
        self.settings = (
            settings if isinstance(settings, UrlFilterSettings) else UrlFilterSettings.model_validate(settings or {})
        )
        self.blocklist: UrlBlocklist | None = None

    def setup(self) -> None:
        self.blocklist = load_blocklist(self.settings)

    def process(self, batch: pa.Table) -> pa.Table:
        return batch.filter(url_keep(batch, self.blocklist)) if self.settings.enabled else batch
