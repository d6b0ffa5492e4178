"""Train a fastText model in a fresh child process (fasttext wheels read uninitialized heap while training).

See :mod:`classifiers.fasttext_model` for why: in a fresh process that memory is zero and training is repeatable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from curator.exceptions import ModelError

LABEL_PREFIX = "__label__"

# The child: import fastText only, train, optionally quantize, save. Exit 3 means NaN.
_CHILD = """
import json, sys
import fasttext
fasttext.FastText.eprint = lambda *a, **k: None
job = json.loads(sys.argv[1])
try:
    model = fasttext.train_supervised(input=job["input"], verbose=0, **job["hp"])
    if job["quantize"] is not None:
        q = dict(job["quantize"])
        if q.get("retrain"):
            q["input"] = job["input"]
        model.quantize(**q)
    model.save_model(job["out"])
except RuntimeError as exc:
    sys.stderr.write(str(exc))
    sys.exit(3 if "NaN" in str(exc) else 2)
"""


def _train_in_child(train_path: Path, out: Path, hp: dict[str, Any], quantize: dict[str, Any] | None) -> str | None:
    """Train in a fresh interpreter; ``None`` on success, else why the attempt failed.

    Raises:
        ModelError: the child failed for a reason retrying cannot fix (bad option, crash).
    """
    job = {"input": str(train_path), "out": str(out), "hp": hp, "quantize": quantize}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(job)], capture_output=True, text=True, check=False)
    if proc.returncode == 3:
        return f"NaN at lr={hp['lr']:g} seed={hp['seed']}"
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise ModelError(
            f"fastText training failed (exit {proc.returncode}): {' | '.join(tail) or 'no message'}; "
            "check the hyper-parameters."
        )
    return None
