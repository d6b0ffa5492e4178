"""Build steps for web input: URL blocklist filter and language filter (split steps after the heuristic filter).

* ``url_filter`` (``url_filter.enabled``): drops documents whose URL matches the blocklist
  (:mod:`curator.urlfilter`); reasons ``blocked_domain`` / ``blocked_keyword`` / ``blocked_pattern``
  / ``missing_url``; the manifest also records the blocklist's size.
* ``language_filter`` (``language.enabled``): annotates ``language``/``language_score``
  (:class:`curator.langid.LanguageIdStage`, as Ray tasks) into ``_work/language_annotated``, then
  keeps allowed languages with score >= ``language.min_score``; reasons ``lang:<code>`` /
  ``low_language_score``.

Both reuse the build's ``_split_step``: kept rows go to ``_work/<step>``, dropped rows to
``rejected/<step>/``, and the manifest gets in/out/dropped/reasons.
"""

from __future__ import annotations

from curator.settings import BuildConfig


def url_filter_enabled(config: BuildConfig) -> bool:
    return config.url_filter.enabled


def language_filter_enabled(config: BuildConfig) -> bool:
    return config.language.enabled


def step_url_filter(ctx) -> dict:
    from curator.urlfilter import load_blocklist, url_block_reasons, url_keep
    from pipelines.build import _last_kept, _split_step

    blocklist = load_blocklist(ctx.config.url_filter)  # on the driver: a bad file fails here, not in a task
    src, dst = _last_kept(ctx), ctx.step_dir("url_filter")
    stats = _split_step(ctx, src, dst, "url_filter", lambda t, _b=blocklist: url_keep(t, _b), lambda t, _b=blocklist: url_block_reasons(t, _b))
    ctx.extra["kept"] = dst
    stats["blocklist"] = blocklist.summary()
    return stats


_LANG_STAGES: dict = {}


def _language_stage(settings: dict):
    """One LanguageIdStage per worker process and settings (the model loads once)."""
    import json

    from curator.langid import LanguageIdStage

    key = json.dumps(settings, sort_keys=True)
    if key not in _LANG_STAGES:
        _LANG_STAGES[key] = LanguageIdStage(settings=settings)
    return _LANG_STAGES[key]


def step_language_filter(ctx) -> dict:
    """Add ``language``/``language_score`` and drop disallowed languages, in one Ray task per file."""
    from curator.langid import language_keep, language_reason
    from curator.schema import DOC_SCHEMA, REJECTED_SCHEMA
    from pipelines.build import _last_kept, _reason_counts, _stage_stats, file_tasks
    from pipelines.stages import split_table
    from curator.writers import count_rows

    cfg = ctx.config.language
    settings = cfg.model_dump(mode="json")
    src, dst = _last_kept(ctx), ctx.step_dir("language_filter")
    reason = language_reason(cfg)

    def route(t):
        t = _language_stage(settings)(t)
        kept, dropped = split_table(t, language_keep(t, cfg), "language", reason)
        return {"kept": kept, "dropped": dropped}

    outputs = {"kept": (dst, DOC_SCHEMA)}
    if ctx.config.output.write_rejected:
        outputs["dropped"] = (ctx.rejected_dir("language"), REJECTED_SCHEMA)
    file_tasks(ctx, src, route, outputs)
    n_in, n_out = count_rows(src), count_rows(dst)
    reasons = _reason_counts(ctx.rejected_dir("language")) if ctx.config.output.write_rejected else {}
    stats = _stage_stats(n_in, n_out, reasons or ({"language": n_in - n_out} if n_in != n_out else {}))
    ctx.extra["kept"] = dst
    stats.update(languages=cfg.languages, min_score=cfg.min_score, backend=cfg.backend)
    return stats
