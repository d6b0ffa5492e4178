"""Config: defaults, YAML loading, and errors that name the offending field."""

from __future__ import annotations

import pytest

from curator.exceptions import ConfigError
from curator.settings import BuildConfig, config_hash, load_config


def test_defaults_and_hash_stability(tmp_path):
    a = load_config(None)
    assert isinstance(a, BuildConfig) and a.ray.address == ""
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nthresholds:\n  phase1_min_score: 2.0\n")
    b = load_config(p)
    assert b.thresholds.phase1_min_score == 2.0
    assert config_hash(b) == config_hash(load_config(p))
    assert config_hash(b) != config_hash(a)
    # where Ray runs does not change the output, so not the hash
    assert config_hash(load_config(p, {"ray": {"address": "auto"}})) == config_hash(b)


@pytest.mark.parametrize(
    "yaml_text, fragment",
    [
        ("heuristics:\n  min_wrods: 3\n", "unknown field `heuristics.min_wrods`"),
        ("bogus: 1\n", "unknown field `bogus`"),
        ("thresholds:\n  phase1_min_score: 9\n", "`thresholds.phase1_min_score`"),
        (
            "thresholds:\n  phase1_min_score: 4\n  phase2_min_score: 3\n",
            "phase2_min_score must be >= phase1_min_score",
        ),
        ("output:\n  compression: lz77\n", "`output.compression`"),
        ("- a list\n", "must be a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_config_errors_name_the_field(tmp_path, yaml_text, fragment):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml_text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert fragment in str(exc.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")
