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


def step_language_filter(ctx) -> dict:
    from curator.langid import LanguageIdStage, language_keep, language_reason
    from curator.schema import DOC_SCHEMA
    from curator.stage import Resources, apply_stage
    from pipelines.build import TASK_CPUS, _last_kept, _split_step, read_dir, write_dataset

    cfg = ctx.config.language
    src, annotated, dst = _last_kept(ctx), ctx.step_dir("language_annotated"), ctx.step_dir("language_filter")
    ds = apply_stage(read_dir(ctx, src), LanguageIdStage, Resources(num_cpus=TASK_CPUS, batch_size=cfg.batch_size), settings=cfg.model_dump(mode="json"))
    write_dataset(ds, annotated, DOC_SCHEMA, ctx.config)
    stats = _split_step(ctx, annotated, dst, "language", lambda t, _c=cfg: language_keep(t, _c), language_reason(cfg))
    ctx.extra["kept"] = dst
    stats.update(languages=cfg.languages, min_score=cfg.min_score, backend=cfg.backend)
    return stats
