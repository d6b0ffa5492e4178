"""The annotation answer's structured-output constraint (a regex sized to max_tokens) and the re-ask of documents
that overflow the teacher's context: pure logic, no vLLM (the real loop: test_readme_loop.py)."""

from __future__ import annotations

import json
import re

import pyarrow as pa

from curator.schema import ID, TEXT
from generators.annotate import SCORE, annotate_table
from generators.base import (
    SamplingParams,
    TeacherClient,
    TeacherRequest,
    TeacherResult,
    compute_prompt_hash,
    validate_answer,
)
from generators.prompts import EDU_SCORE_MAX_JUSTIFICATION, EduScore, edu_score_regex, get_template
from generators.server_client import ServerTeacherClient


def test_edu_score_regex_answers_validate_and_fit_max_tokens():
    r = edu_score_regex(256)
    for answer in ('{"score": 3, "justification": "clear, on topic"}', '{"score":0,"justification":"x"}'):
        assert re.fullmatch(r, answer)
        assert EduScore.model_validate(json.loads(answer)).score in (0, 3)
    for bad in (
        '{"score": 6, "justification": "x"}',
        '{"score": 1, "justification": ""}',
        '{ "score": 1, "justification": "x"}',
        '{"score": 1, "justification": "a \\" quote"}',
        '{"score": 1,\n"justification": "x"}',
    ):
        assert not re.fullmatch(r, bad), bad
    for max_tokens in (48, 100, 256, 1024):
        n = min(EDU_SCORE_MAX_JUSTIFICATION, max_tokens - 34)
        longest = '{"score": 5, "justification": "' + "~" * n + '"}'
        assert re.fullmatch(edu_score_regex(max_tokens), longest)
        assert not re.fullmatch(edu_score_regex(max_tokens), longest.replace('"}', '~"}'))
        assert len(longest) + 1 <= max_tokens  # one token per character at most, + the stop token
        assert EduScore.model_validate(json.loads(longest)).justification  # within the model's max_length


def test_only_schema_templates_with_a_regex_get_one():
    assert get_template("annotate_edu").answer_regex(256) == edu_score_regex(256)
    assert get_template("textbook_section").answer_regex(256) is None


def test_regex_is_sent_as_structured_outputs_and_hashed():
    msgs = [{"role": "user", "content": "x"}]
    plain = TeacherRequest(msgs, SamplingParams(max_tokens=256), output_model=EduScore)
    constrained = TeacherRequest(
        msgs, SamplingParams(max_tokens=256), output_model=EduScore, regex=edu_score_regex(256)
    )
    # requests without a regex keep their hashes (response caches stay valid)
    assert plain.prompt_hash("m") == compute_prompt_hash(msgs, "m", plain.sampling, EduScore.model_json_schema())
    assert constrained.prompt_hash("m") != plain.prompt_hash("m")
    client = ServerTeacherClient("http://127.0.0.1:9/v1", model="m", check=False)
    assert client._body(constrained)["structured_outputs"] == {"regex": edu_score_regex(256)}
    assert client._body(plain)["structured_outputs"] == {"json": EduScore.model_json_schema()}
    # OpenAI's response_format has no regex: the JSON schema goes instead
    oa = ServerTeacherClient("http://127.0.0.1:9/v1", model="m", check=False, structured="response_format")
    assert oa._body(constrained)["response_format"]["json_schema"]["schema"] == EduScore.model_json_schema()
    # consecutive requests with another constraint are not batched together
    assert [len(b) for b in client._batches([plain, plain, constrained, constrained], 16)] == [2, 2]


class SmallContextTeacher(TeacherClient):
    """Refuses prompts longer than ``limit`` characters the way vLLM does (HTTP 400, context length)."""

    model = "small"

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit
        self.asked: list[TeacherRequest] = []

    def generate(self, requests):
        out = []
        for r in requests:
            self.asked.append(r)
            h = r.prompt_hash(self.model)
            if len(r.messages[-1]["content"]) > self.limit:
                err = (
                    "request: HTTP 400: This model's maximum context length is 4096 tokens. "
                    "However, your prompt contains at least 4097 input tokens"
                )
                out.append(TeacherResult(h, attempts=1, error=err))
                continue
            assert r.regex is not None and r.regex == edu_score_regex(r.sampling.max_tokens)
            raw = '{"score": 2, "justification": "ok"}'
            assert re.fullmatch(r.regex, raw)
            parsed, err = validate_answer(raw, r)
            out.append(TeacherResult(h, parsed=parsed, raw=raw, error=err, attempts=1))
        return out


def test_documents_overflowing_the_context_are_asked_again_shorter():
    texts = ["short text", "a" * 3000, "b" * 9000]
    docs = pa.table({ID: ["s", "m", "l"], TEXT: texts})
    overhead = len(get_template("annotate_edu").render(text="")[-1]["content"])
    client = SmallContextTeacher(limit=overhead + 1200)
    table, stats = annotate_table(docs, client, None, SamplingParams(temperature=0.0, max_tokens=128))
    assert table.column(ID).to_pylist() == ["s", "m", "l"] and table.column(SCORE).to_pylist() == [2, 2, 2]
    assert table.column(TEXT).to_pylist() == texts  # the label is for the whole document
    assert stats["shortened"] == 2 and stats["failed"] == 0 and stats["generated"] == 3
    # documents in the prompts: 3000 chars (refused), 1500 (refused), 750;
    # 9000 cut to 4000 (refused), 2000 (refused), 1000
    lengths = [len(r.messages[-1]["content"]) - overhead for r in client.asked]
    assert lengths == [10, 3000, 4000, 1500, 2000, 750, 1000]


def test_other_failures_are_not_asked_again():
    class Broken(SmallContextTeacher):
        def generate(self, requests):
            self.asked.extend(requests)
            err = "invalid: not JSON (answer cut at max_tokens)"
            return [TeacherResult(r.prompt_hash(self.model), error=err) for r in requests]

    client = Broken(limit=0)
    table, stats = annotate_table(pa.table({ID: ["a"], TEXT: ["x" * 9000]}), client, None)
    assert table.num_rows == 0 and stats["failed"] == 1 and stats["shortened"] == 0 and len(client.asked) == 1
