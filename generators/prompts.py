"""Prompt templates: load the versioned YAML files, render chat messages, name output schemas.

A template file (``generators/templates/<id>.yaml``) holds ``id``, ``version``, ``kind``
(``annotation`` or ``synthesis``), ``route`` (synthesis: ``high`` or ``mid`` seeds), ``system``,
``user`` (``str.format`` placeholders: ``{text}``, ``{audience_name}``, ``{audience_style}``;
literal braces doubled) and ``output_schema`` (a name in :data:`OUTPUT_SCHEMAS`, or null for
free text). ``audiences.yaml`` lists audiences and styles in the Cosmopedia manner.
A rendered template's provenance id is ``<id>/v<version>``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from curator.exceptions import ConfigError

TEMPLATE_DIR = Path(__file__).parent / "templates"


class EduScore(BaseModel):
    """Annotation answer: additive 0-5 educational value and a short justification."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=0, le=5)
    justification: str = Field(min_length=1, max_length=240)


OUTPUT_SCHEMAS: dict[str, type[BaseModel]] = {"edu_score": EduScore}

# A justification character in the answer regex: printable ASCII but '"' and '\\' (no escapes to
# get wrong; at most one token per character, so the answer's length in tokens is bounded).
_JUSTIFICATION_CHAR = r"[ !#-\[\]-~]"
# Characters of an EduScore answer around the justification: '{"score": N, "justification": "' + '"}'.
EDU_SCORE_OVERHEAD_CHARS = 34
EDU_SCORE_MAX_JUSTIFICATION = 200


def edu_score_regex(max_tokens: int) -> str:
    """Regex of an :class:`EduScore` answer that fits in ``max_tokens`` tokens, e.g.
    ``{"score": 3, "justification": "clear, on topic"}`` (one optional space after ``:`` and ``,``).

    Sent as the structured-output constraint (vLLM ``structured_outputs.regex``): unlike a JSON
    schema it leaves no free whitespace, whatever the server's ``--structured-outputs-config``, so even
    a random-weight model answers with a valid score. The justification is capped at
    ``max_tokens - EDU_SCORE_OVERHEAD_CHARS`` characters (at most
    :data:`EDU_SCORE_MAX_JUSTIFICATION`; every other character is at most one token, with any
    tokenizer that has single-byte tokens), so the answer closes within the budget.
    """
    n = max(1, min(EDU_SCORE_MAX_JUSTIFICATION, max_tokens - EDU_SCORE_OVERHEAD_CHARS))
    return r'\{"score": ?[0-5], ?"justification": ?"' + _JUSTIFICATION_CHAR + "{1," + str(n) + r'}"\}'


# Output schemas with an answer regex (see :meth:`Template.answer_regex`).
OUTPUT_REGEXES = {"edu_score": edu_score_regex}


@dataclass(frozen=True)
class Template:
    """One versioned prompt template."""

    id: str
    version: int
    kind: str
    system: str
    user: str
    output_schema: str | None = None
    route: str | None = None
    description: str = ""

    @property
    def ref(self) -> str:
        """Provenance id written to ``template_id``: ``<id>/v<version>``."""
        return f"{self.id}/v{self.version}"

    @property
    def output_model(self) -> type[BaseModel] | None:
        return None if self.output_schema is None else OUTPUT_SCHEMAS[self.output_schema]

    def answer_regex(self, max_tokens: int) -> str | None:
        """The structured-output regex of this template's answers within ``max_tokens`` (``None``:
        the output schema, if any, is sent as a JSON schema)."""
        build = OUTPUT_REGEXES.get(self.output_schema or "")
        return None if build is None else build(max_tokens)

    def placeholders(self) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.user) if f}

    def render(self, **values: str) -> list[dict]:
        """Chat messages for this template with ``values`` filled in.

        Raises:
            ConfigError: a placeholder has no value.
        """
        missing = self.placeholders() - values.keys()
        if missing:
            raise ConfigError(f"template {self.ref} needs values for {sorted(missing)}")
        msgs = []
        if self.system.strip():
            msgs.append({"role": "system", "content": self.system.strip()})
        msgs.append({"role": "user", "content": self.user.format(**values).strip()})
        return msgs


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read template {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"template {path} must be a mapping")
    return data


def load_template_file(path: str | Path) -> Template:
    """Read and check one template file."""
    path = Path(path)
    data = _read_yaml(path)
    required = {"id", "version", "kind", "system", "user"}
    missing = required - data.keys()
    if missing:
        raise ConfigError(f"template {path} lacks {sorted(missing)}")
    unknown = data.keys() - required - {"output_schema", "route", "description"}
    if unknown:
        raise ConfigError(f"template {path} has unknown keys {sorted(unknown)}")
    schema = data.get("output_schema")
    if schema is not None and schema not in OUTPUT_SCHEMAS:
        raise ConfigError(f"template {path}: unknown output_schema {schema!r} (known: {sorted(OUTPUT_SCHEMAS)})")
    t = Template(
        id=str(data["id"]),
        version=int(data["version"]),
        kind=str(data["kind"]),
        system=str(data["system"]),
        user=str(data["user"]),
        output_schema=schema,
        route=data.get("route"),
        description=str(data.get("description", "")),
    )
    try:
        t.placeholders()
    except ValueError as exc:
        raise ConfigError(f"template {path}: bad placeholder syntax ({exc}); double literal braces") from exc
    return t


@lru_cache(maxsize=8)
def load_templates(directory: str | None = None) -> dict[str, Template]:
    """Every template in ``directory`` (default: the shipped ones), by id."""
    d = Path(directory) if directory else TEMPLATE_DIR
    out = {}
    for p in sorted(d.glob("*.yaml")):
        if p.name == "audiences.yaml":
            continue
        t = load_template_file(p)
        out[t.id] = t
    return out


def get_template(template_id: str, directory: str | None = None) -> Template:
    templates = load_templates(directory)
    if template_id not in templates:
        raise ConfigError(f"unknown template {template_id!r}; known: {sorted(templates)}")
    return templates[template_id]


@lru_cache(maxsize=8)
def load_audiences(directory: str | None = None) -> dict[str, dict[str, str]]:
    """Audience id -> ``{"name": ..., "style": ...}``."""
    d = Path(directory) if directory else TEMPLATE_DIR
    data = _read_yaml(d / "audiences.yaml")
    return {k: {"name": str(v["name"]), "style": str(v["style"])} for k, v in data["audiences"].items()}
