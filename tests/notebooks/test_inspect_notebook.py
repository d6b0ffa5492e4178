"""The inspection notebook runs end to end, headless, on a real ipykernel from this environment."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pyarrow as pa
import pytest
from nbclient import NotebookClient

from curator import schema as S
from pipelines import build_outputs as B

pytestmark = pytest.mark.slow
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "inspect_filtered.ipynb"


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert any("parameters" in c.metadata.get("tags", []) and "EDU_CURATOR_OUT" in c.source for c in code)


def _with_synthetic_rows(src: Path, dst: Path) -> list[str]:
    """A copy of the demo build plus two synthetic phase-2 rows seeded by phase-1 documents (synthesis is
    off in the shared demo build, so the notebook's seed-vs-synthetic cell gets real rows to pair)."""
    shutil.copytree(src, dst)
    seeds = B.kept(dst, [S.ID]).column(S.ID).to_pylist()[:2]
    rows = {S.ID: [f"syn-{i}" for i in range(len(seeds))], S.TEXT: [f"Synthetic lesson {i} about the seed." for i in range(len(seeds))],
            S.SOURCE: ["synthetic"] * len(seeds), S.SEED_ID: seeds, S.TEMPLATE_ID: ["qa_reasoning"] * len(seeds)}
    import pyarrow.parquet as pq

    pq.write_table(S.conform(pa.table(rows), S.DOC_SCHEMA), dst / "phase2" / "synthetic-00000.parquet")
    return seeds


def test_notebook_executes_on_a_build(demo_build, tmp_path, monkeypatch):
    out = tmp_path / "build"
    seeds = _with_synthetic_rows(demo_build, out)
    monkeypatch.setenv("EDU_CURATOR_OUT", str(out))
    monkeypatch.setenv("EDU_CURATOR_SEARCH", "assignment")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.executable)"))
    client = NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # an erroring cell raises CellExecutionError

    def text(cell) -> str:
        parts = []
        for o in cell.outputs:
            if o.output_type == "stream":
                parts.append(o.text)
            elif o.output_type in ("display_data", "execute_result"):
                parts.append(str(o.data.get("text/plain", "")) + str(o.data.get("text/html", "")))
        return "\n".join(parts)

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(o.output_type != "error" for c in code for o in c.outputs)
    # the kernel is this environment's python (jupyter_client resolves the spec's `python` to sys.executable)
    assert Path(text(code[-1]).split("KERNEL", 1)[1].strip()).resolve() == Path(sys.executable).resolve()
    images = sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {}))
    assert images >= 3  # funnel, score histogram, lengths
    by_source = {c.source.split("\n", 1)[0]: text(c) for c in code}
    everything = "\n".join(by_source.values())
    m = B.load_manifest(out)
    assert f"build {m['name']!r}" in everything
    assert "too_few_words" in everything and "exact_dedup" in everything
    if m["config"]["decontam"]["enabled"]:
        assert "demo_benchmark:demo-0" in everything and "Natalia" in everything
    assert all(s in everything for s in seeds) and "Synthetic lesson 0" in everything
    assert "document(s) containing 'assignment'" in everything
