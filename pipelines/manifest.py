"""The build manifest: config and hash, versions, per-step stats (checked to balance), output files."""

from __future__ import annotations

import platform
from collections import Counter
from datetime import datetime, timezone

import pyarrow.parquet as pq

from curator import schema as S
from curator.writers import file_info, parquet_files
from pipelines.context import BuildContext


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("edu-curator", "ray", "pyarrow", "fasttext-numpy2", "scikit-learn", "rensa"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def build_manifest(ctx: BuildContext, steps: list, seconds: float) -> dict:
    """The manifest of a finished build (``steps``: the enabled steps, in order)."""
    from classifiers import load_classifier
    from curator.tokens import token_summary

    out = ctx.out
    clf = load_classifier(ctx.config.classifier.model)
    stages = []
    balanced = True
    for s in steps:
        st = dict(ctx.state.stats(s.name))
        if "in" in st:
            ok = st["in"] == st["out"] + st["dropped"] and (
                not st["reasons"] or sum(st["reasons"].values()) == st["dropped"]
            )
            st["balanced"] = ok
            balanced &= ok
        stages.append({"name": s.name, **st})
    outputs = {}
    for name in ("phase1", "phase2", "quarantine"):
        files = [file_info(f, out) for f in parquet_files(out / name)]
        outputs[name] = {"rows": sum(f["rows"] for f in files), "files": files}
    rejected = {}
    for d in sorted((out / "rejected").glob("[!._]*")) if (out / "rejected").exists() else []:  # not temp dirs
        files = [file_info(f, out) for f in parquet_files(d)]
        rejected[d.name] = {"rows": sum(f["rows"] for f in files), "files": files}
    outputs["rejected"] = rejected
    q_reasons: Counter = Counter()
    for f in parquet_files(out / "quarantine"):
        q_reasons.update(pq.read_table(f, columns=[S.Q_REASON]).column(S.Q_REASON).to_pylist())
    return {
        "name": ctx.config.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_hash": ctx.chash,
        "config": ctx.config.model_dump(mode="json"),
        "versions": _versions(),
        "classifier": {"spec": ctx.config.classifier.model, "version": clf.version, "backend": clf.backend},
        "schema": [{"name": f.name, "type": str(f.type)} for f in S.DOC_SCHEMA],
        "stages": stages,
        "counts_balanced": balanced,
        "cost": _cost_totals(stages),
        "quarantine": {"total": sum(q_reasons.values()), "reasons": dict(q_reasons.most_common())},
        "outputs": outputs,
        "tokens": token_summary(out, ctx.config.mixture, ctx.config.tokens.tokenizer),
        "seconds": round(seconds, 3),
    }


def _cost_totals(stages: list[dict]) -> dict:
    """Sums of the per-step ``cost`` entries (:mod:`pipelines.cost`) over the build's steps."""
    costs = [s["cost"] for s in stages if "cost" in s]
    return {k: round(sum(c.get(k, 0) for c in costs), 3) for k in ("wall_s", "cpu_s", "bytes_read", "bytes_written")}
