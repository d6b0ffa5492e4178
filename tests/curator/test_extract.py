"""HTML -> main text: boilerplate removal, the naive baseline, decoding."""

from __future__ import annotations

import pytest
from warc_fixtures import ENGLISH, page

from curator.exceptions import ConfigError
from curator.extract import EXTRACTORS, decode_html, get_extractor
from curator.settings import ExtractSettings, load_config

BOILER = ("Accept all", "We use cookies", "About us", "All rights reserved", "Privacy policy", "tracking")


def test_resiliparse_keeps_article_and_drops_boilerplate():
    text = get_extractor(ExtractSettings())(page(ENGLISH[0]).decode())
    assert "Photosynthesis is the process by which green plants" in text
    assert "Oxygen is released as a by-product of the reaction." in text
    for b in BOILER:
        assert b not in text, b


def test_main_content_false_keeps_more_text():
    html = page(ENGLISH[1]).decode()
    main = get_extractor({"main_content": True})(html)
    full = get_extractor({"main_content": False})(html)
    assert "About us" in full and "About us" not in main
    assert len(full) > len(main)


def test_naive_baseline_keeps_boilerplate_but_not_scripts():
    text = get_extractor({"extractor": "naive"})(page(ENGLISH[2]).decode())
    assert "The water cycle describes" in text
    assert "We use cookies" in text and "All rights reserved" in text
    assert "tracking" not in text and "<p>" not in text


def test_extractors_registry_and_unknown_extractor_is_a_config_error():
    assert {"resiliparse", "trafilatura", "naive"} <= set(EXTRACTORS)
    with pytest.raises(ConfigError, match="extract"):
        load_config(None, {"extract": {"extractor": "beautifulsoup"}})


def test_decode_html_uses_declared_charset_then_detection():
    latin = "<html><body><p>Café crème brûlée à la française, très bon.</p></body></html>".encode("latin-1")
    assert "Café crème" in decode_html(latin, "iso-8859-1")
    assert "Café crème" in decode_html(latin, None)  # not UTF-8: detected
    assert decode_html("<p>naïve</p>".encode(), "no-such-charset") == "<p>naïve</p>"


def test_extractor_handles_empty_and_broken_html():
    fn = get_extractor(ExtractSettings())
    assert fn("") == ""
    assert "unclosed paragraph text" in get_extractor({"main_content": False})(
        "<html><body><div><p>unclosed paragraph text<div><span>"
    )
