"""The demo's shipped web sample: real Common Crawl / web text (Apache-2.0 test data of allenai/dolma).

``web_sample.jsonl.gz`` is read by :mod:`curator.demo`; it is written once, from the project's shared data
directory, by ``make_demo_sample.py`` (a developer script, never run by the package). Provenance and license:
``README.md`` next to this file.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE = Path(__file__).with_name("web_sample.jsonl.gz")
