"""Helpers that write small WARC and WET files with warcio (good pages, boilerplate, malformed records)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

BOILERPLATE = (
    "<nav><ul><li><a href='/'>Home</a></li><li><a href='/about'>About us</a></li><li><a href='/shop'>Shop</a></li></ul></nav>"
    "<div class='cookie-banner' id='cookie-consent'>We use cookies to improve your experience. <button>Accept all</button></div>"
)
FOOTER = "<footer><p>Copyright 2024 Example Inc. All rights reserved.</p><a href='/privacy'>Privacy policy</a> <a href='/terms'>Terms of use</a></footer>"

ENGLISH = [
    "Photosynthesis is the process by which green plants, algae and some bacteria turn light energy into chemical energy. "
    "The plant takes in carbon dioxide from the air and water from the soil, and in the chloroplasts it uses the energy of "
    "sunlight to build glucose, a sugar that stores energy. Oxygen is released as a by-product of the reaction. "
    "The glucose is used for growth and for respiration, and it can be stored as starch for later use by the plant.",
    "A prime number is a whole number greater than one whose only divisors are one and itself. The first prime numbers are "
    "two, three, five, seven and eleven. Every whole number greater than one can be written as a product of prime numbers "
    "in exactly one way, which is called the fundamental theorem of arithmetic. Euclid proved long ago that there are "
    "infinitely many prime numbers, and his short proof is still taught in schools around the world today.",
    "The water cycle describes how water moves between the oceans, the air and the land. Heat from the sun makes water "
    "evaporate from seas and lakes, and the vapour rises into the atmosphere where it cools and condenses into clouds. "
    "When the droplets in a cloud grow heavy enough, they fall back to the ground as rain or snow. Rivers and groundwater "
    "then carry the water back to the sea, and the cycle begins again, which keeps fresh water available for life.",
]
GERMAN = (
    "Die Photosynthese ist der Vorgang, bei dem grüne Pflanzen mit Hilfe von Sonnenlicht aus Kohlendioxid und Wasser "
    "Traubenzucker herstellen. Dabei wird Sauerstoff freigesetzt, den Menschen und Tiere zum Atmen brauchen. Der Vorgang "
    "findet in den Chloroplasten statt, die den grünen Farbstoff Chlorophyll enthalten. Ohne die Photosynthese gäbe es "
    "kein Leben auf der Erde, wie wir es kennen, denn sie ist die Grundlage fast aller Nahrungsketten in der Natur."
)


def page(body_text: str, title: str = "Lesson") -> bytes:
    paras = "".join(f"<p>{s.strip()}.</p>" for s in body_text.split(". ") if s.strip())
    html = f"<!DOCTYPE html><html><head><title>{title}</title><script>var tracking = 1;</script></head><body>{BOILERPLATE}<main><article><h1>{title}</h1>{paras}</article></main>{FOOTER}</body></html>"
    return html.encode("utf-8")


def _response(
    writer: WARCWriter,
    url: str,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: str = "200 OK",
    date: str = "2024-04-25T16:24:44Z",
) -> None:
    http = StatusAndHeaders(
        status, [("Content-Type", content_type), ("Content-Length", str(len(body)))], protocol="HTTP/1.1"
    )
    rec = writer.create_warc_record(
        url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict={"WARC-Date": date}
    )
    writer.write_record(rec)


def _malformed_response(fh, url: str) -> None:
    """A response record (its own gzip member) whose block is not an HTTP message at all."""
    body = b"this is not an HTTP response, just garbage \x00\x01\x02"
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-0000000000bd>\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2024-04-25T16:24:44Z\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    fh.write(gzip.compress(head + body + b"\r\n\r\n"))


def write_warc(path: Path, pages: list[tuple[str, bytes]], extras: bool = True) -> Path:
    """A gzipped WARC: a warcinfo, a request, the given HTML pages and (``extras``) bad records.

    Extras: a PNG response (``not_html``), a 404 (``http_status``) and a non-HTTP block (``malformed_record``).
    """
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        req = writer.create_warc_record(
            "https://example.org/", "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n")
        )
        writer.write_record(req)
        for i, (url, body) in enumerate(pages):
            _response(writer, url, body)
            if extras and i == 0:
                _response(
                    writer,
                    "https://example.org/logo.png",
                    b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
                    content_type="image/png",
                )
                _response(
                    writer,
                    "https://example.org/missing",
                    b"<html><body>Not found</body></html>",
                    status="404 Not Found",
                )
                _malformed_response(fh, "https://example.org/broken")
    return path


def write_wet(path: Path, docs: list[tuple[str, bytes]]) -> Path:
    """A gzipped WET file of ``conversion`` records (payloads given as bytes, so tests can pass bad UTF-8)."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        for url, body in docs:
            rec = writer.create_warc_record(
                url,
                "conversion",
                payload=io.BytesIO(body),
                warc_content_type="text/plain",
                warc_headers_dict={"WARC-Date": "2019-07-15T08:00:00Z"},
            )
            writer.write_record(rec)
    return path


def truncate_gzip(src: Path, dst: Path, keep_fraction: float = 0.7) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst
