"""HTML -> main text: the extractors compared in ``benchmarks/bench_extraction.py`` and the chosen default.

Use :func:`get_extractor` with an :class:`~curator.settings.ExtractSettings` to get a callable
``html (str) -> text (str)``. Candidates:

* ``resiliparse`` (default): ``extract_plain_text(main_content=True)``; boilerplate (menus, cookie
  banners, footers, navigation) removed; best F1 and ~100x trafilatura's speed in our measurement.
* ``trafilatura``: optional (``pip install trafilatura``); precise but slow.
* ``naive``: every visible text node (scripts/styles dropped), the baseline.
"""

from curator.extract.html import EXTRACTORS, decode_html, get_extractor

__all__ = ["EXTRACTORS", "decode_html", "get_extractor"]
