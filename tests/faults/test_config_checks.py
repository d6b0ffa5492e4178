"""Config mistakes that used to pass silently or surface only after several steps are refused up front."""

from __future__ import annotations

import pytest
from curator_cli import run_curator

from curator.exceptions import ConfigError
from curator.settings import load_config


def _write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_unknown_language_code_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="klingon.*not language codes"):
        load_config(_write(tmp_path, "language:\n  languages: [klingon]\n"))
    assert load_config(_write(tmp_path, "language:\n  languages: [EN, de]\n")).language.languages == ["en", "de"]


def test_duplicate_yaml_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="duplicate key 'min_score'"):
        load_config(_write(tmp_path, "language:\n  min_score: 0.2\n  min_score: 0.9\n"))
    with pytest.raises(ConfigError, match="duplicate key 'language'"):
        load_config(_write(tmp_path, "language: {}\nname: x\nlanguage: {}\n"))


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("decontam:\n  enabled: true\n  benchmarks: ['{missing}']\n", "decontam.benchmarks"),
        ("url_filter:\n  blocklist_files: ['{missing}']\n", "url_filter.blocklist_files"),
        ("tokens:\n  tokenizer: '{missing}'\n", "tokens.tokenizer"),
    ],
)
def test_missing_files_fail_before_any_step(tmp_path, section, key):
    (tmp_path / "in.jsonl").write_text('{"text": "Photosynthesis turns light into food."}\n')
    missing = tmp_path / "nope" / "file.jsonl"
    cfg = _write(
        tmp_path,
        f"input:\n  paths: ['{tmp_path}/in.jsonl']\nray:\n  executor: local\n" + section.format(missing=missing),
    )
    r = run_curator("build", cfg, "--out", tmp_path / "o", "--no-progress")
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"`{key}`: {missing} does not exist" in r.stderr and "[ingest] running" not in r.stderr
