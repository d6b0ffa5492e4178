"""Language identification stage, language filter rule, and URL blocklist filter."""

from __future__ import annotations

import pyarrow as pa
import pytest
from warc_fixtures import ENGLISH, GERMAN

from curator import schema as S
from curator.exceptions import ConfigError, ModelError
from curator.langid import (
    LOW_SCORE,
    LanguageIdStage,
    Py3LangidBatch,
    _py3langid_loop,
    identify,
    language_keep,
    language_reason,
)
from curator.settings import LanguageSettings, UrlFilterSettings
from curator.urlfilter import (
    BLOCKED_DOMAIN,
    BLOCKED_KEYWORD,
    BLOCKED_PATTERN,
    MISSING_URL,
    UrlFilterStage,
    load_blocklist,
    url_block_reasons,
)

FRENCH = (
    "La photosynthèse est le processus par lequel les plantes vertes fabriquent leur nourriture à partir de la "
    "lumière du soleil, de l'eau et du gaz carbonique. Elle se déroule dans les chloroplastes et libère de "
    "l'oxygène dans l'air."
)
SPANISH = (
    "La fotosíntesis es el proceso mediante el cual las plantas verdes fabrican su alimento a partir de la luz del "
    "sol, el agua y el dióxido de carbono. Ocurre en los cloroplastos y libera oxígeno a la atmósfera que "
    "respiramos."
)


def _table(texts):
    return pa.table({S.ID: [str(i) for i in range(len(texts))], S.TEXT: texts})


@pytest.mark.parametrize("backend", ["py3langid", "resiliparse"])
def test_stage_identifies_languages(backend):
    out = LanguageIdStage({"backend": backend})(_table([ENGLISH[0], GERMAN, FRENCH, SPANISH, "   "]))
    assert out.column(S.LANGUAGE).to_pylist() == ["en", "de", "fr", "es", "unknown"]
    scores = out.column(S.LANGUAGE_SCORE).to_pylist()
    assert all(0 < s <= 1 for s in scores[:4]) and scores[4] == 0
    assert out.schema.field(S.LANGUAGE_SCORE).type == pa.float32()
    # idempotent: running it again replaces the columns instead of duplicating them
    again = LanguageIdStage({"backend": backend})(out)
    assert (
        again.column_names.count(S.LANGUAGE) == 1
        and again.column(S.LANGUAGE).to_pylist() == out.column(S.LANGUAGE).to_pylist()
    )


def test_py3langid_scores_are_confident_on_clear_text():
    langs, scores = identify(ENGLISH + [GERMAN], LanguageSettings())
    assert langs == ["en", "en", "en", "de"]
    assert min(scores) > 0.9


def _mixed_texts():
    import random

    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFG .,;'\n0123456789 æøåéèüßçñ абвгдежзиклмн 日本語の文章 αβγδ ضصثقفغ"
    texts = [
        ENGLISH[0],
        GERMAN,
        FRENCH,
        SPANISH,
        ENGLISH[1].upper(),
        "Hej med dig, hvordan går det i dag?",
        "a",
        "é",
        "12345",
        "!!",
        "中文内容测试一下",
    ]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 700))) for _ in range(40)]
    texts += [(ENGLISH[0] + " " + GERMAN)[rng.randint(0, 50) :] for _ in range(5)]
    return texts


@pytest.mark.parametrize("segment", [64, 5])
def test_batched_py3langid_has_the_loops_features_and_scores(segment):
    from py3langid.langid import LanguageIdentifier, visit_counts

    batch = Py3LangidBatch(segment=segment, max_docs=16)  # several batches, pieces cut mid-character
    texts = _mixed_texts()
    ref = batch.reference
    x, _ = batch.counts(texts)
    x = x.tocsr()
    for i, t in enumerate(texts):
        want = visit_counts(ref.tk_nextmove, ref._rowbase, ref.tk_output, LanguageIdentifier._encode(t)) or {}
        row = x.getrow(i)
        assert dict(zip(row.indices.tolist(), row.data.astype(int).tolist())) == dict(want), (i, t[:40])
    langs, scores = batch.classify(texts)
    for t, lang, p in zip(texts, langs, scores):
        want_lang, want_p = ref.classify(t)
        assert lang == want_lang and p == pytest.approx(want_p, abs=1e-4), t[:40]


def test_py3langid_backend_matches_the_per_document_loop():
    texts = _mixed_texts() + ["   ", ""]
    settings = LanguageSettings(max_chars=300)
    got = identify(texts, settings)
    want = _py3langid_loop(settings)([t[:300] for t in texts])
    assert got[0] == want[0] and got[0][-2:] == ["unknown", "unknown"] and got[1][-2:] == [0.0, 0.0]
    assert got[1] == pytest.approx(want[1], abs=1e-4)


def test_filter_keeps_allowed_languages_above_min_score_with_reasons():
    t = pa.table(
        {S.LANGUAGE: ["en", "de", "en", None], S.LANGUAGE_SCORE: pa.array([0.99, 0.99, 0.3, None], pa.float32())}
    )
    settings = LanguageSettings(languages=["en"], min_score=0.5)
    assert language_keep(t, settings).to_pylist() == [True, False, False, False]
    dropped = t.filter(pa.array([False, True, True, True]))
    assert language_reason(settings)(dropped).to_pylist() == ["lang:de", LOW_SCORE, "lang:unknown"]
    # empty language list: any language, only the score counts
    assert language_keep(t, LanguageSettings(languages=[], min_score=0.5)).to_pylist() == [True, True, False, False]
    assert language_keep(t, LanguageSettings(languages=["en", "de"], min_score=0.0)).to_pylist() == [
        True,
        True,
        True,
        False,
    ]


def test_fasttext_backend_with_a_model_trained_here(tmp_path):
    import fasttext

    lines = []
    for label, text in (("en", " ".join(ENGLISH)), ("de", GERMAN), ("fr", FRENCH)):
        sentences = [s for s in text.split(". ") if s.strip()]
        lines += [f"__label__{label} {sentences[i % len(sentences)]}" for i in range(40)]
    train = tmp_path / "lid.txt"
    train.write_text("\n".join(lines), encoding="utf-8")
    model = fasttext.train_supervised(str(train), epoch=50, lr=1.0, minn=2, maxn=4, dim=16, verbose=0, thread=1)
    path = tmp_path / "lid.ftz"
    model.save_model(str(path))
    out = LanguageIdStage({"backend": "fasttext", "model_path": str(path)})(_table([ENGLISH[1], GERMAN, FRENCH, ""]))
    assert out.column(S.LANGUAGE).to_pylist() == ["en", "de", "fr", "unknown"]
    assert all(0 < s <= 1 for s in out.column(S.LANGUAGE_SCORE).to_pylist()[:3])


def test_fasttext_backend_without_a_model_says_what_to_do(tmp_path):
    with pytest.raises(ModelError, match="model_path"):
        LanguageIdStage({"backend": "fasttext", "model_path": str(tmp_path / "missing.ftz")})(_table(["hello"]))


# ----------------------------------------------------------------------------- URL filter


def test_default_blocklist_blocks_adult_and_spam_but_not_education():
    bl = load_blocklist()
    assert bl.reason("https://www.pornhub.com/view?x=1") == BLOCKED_DOMAIN
    assert bl.reason("http://cdn.m.xvideos.com/") == BLOCKED_DOMAIN
    assert bl.reason("https://example.org/free-porn-videos") == BLOCKED_KEYWORD
    assert bl.reason("https://best-casino-bonus.net/") == BLOCKED_PATTERN
    for ok in (
        "https://en.wikipedia.org/wiki/Casino_Royale",
        "https://www.essex.ac.uk/courses",
        "https://docs.python.org/3/",
        "https://sussex.example/",
        None,
    ):
        assert bl.reason(ok) is None, ok


def test_configured_blocklist_file_domains_patterns_and_missing_url(tmp_path):
    f = tmp_path / "block.txt"
    f.write_text(
        "# my list\nspam.example   # trailing comment\n*.junk.test\nkw:clickbait\nre:/ads?/\n", encoding="utf-8"
    )
    bl = load_blocklist(
        UrlFilterSettings(
            use_default_blocklist=False, blocklist_files=[str(f)], domains=["bad.example"], drop_missing_url=True
        )
    )
    assert bl.summary() == {"domains": 3, "keywords": 1, "patterns": 1}
    t = pa.table(
        {
            S.URL: [
                "https://a.spam.example/x",
                "http://junk.test",
                "https://ok.example/top-clickbait-list",
                "https://ok.example/ad/1",
                "https://bad.example",
                "https://ok.example/",
                None,
            ]
        }
    )
    assert url_block_reasons(t, bl).to_pylist() == [
        BLOCKED_DOMAIN,
        BLOCKED_DOMAIN,
        BLOCKED_KEYWORD,
        BLOCKED_PATTERN,
        BLOCKED_DOMAIN,
        None,
        MISSING_URL,
    ]
    assert load_blocklist(UrlFilterSettings(use_default_blocklist=False)).reason("https://www.pornhub.com/") is None


def test_url_filter_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="blocklist"):
        load_blocklist(UrlFilterSettings(blocklist_files=[str(tmp_path / "nope.txt")]))
    with pytest.raises(ConfigError, match="pattern"):
        load_blocklist(UrlFilterSettings(patterns=["(unclosed"]))


def test_url_filter_stage_drops_blocked_rows():
    t = pa.table(
        {S.ID: ["a", "b", "c"], S.URL: ["https://xnxx.com/v", "https://learn.example/", None], S.TEXT: ["x", "y", "z"]}
    )
    assert UrlFilterStage({})(t).column(S.ID).to_pylist() == ["b", "c"]
    assert UrlFilterStage({"enabled": False})(t).num_rows == 3
