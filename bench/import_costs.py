"""What importing each heavy dependency costs, measured in one run on this machine.

    python bench/import_costs.py [--repeat N]

driftgate keeps these imports lazy (a command or a suite that does not need a library never
pays for it); the code comments that say so point here instead of quoting numbers. Each
figure is the best of N fresh interpreters: the time of `import X` after the interpreter and
`import driftgate` (what every command pays anyway), so it is what the lazy import saves.
One `name: value` line per figure, in seconds; a library that is not installed prints `n/a`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

# name printed -> the import statement timed
IMPORTS = {
    "import_driftgate_s": "import driftgate",
    "import_pydantic_s": "import pydantic",
    "import_jinja2_s": "import jinja2.sandbox",
    "import_aiohttp_s": "import aiohttp",
    "import_jsonschema_s": "import jsonschema",
    "import_duckdb_s": "import duckdb",
    "import_scipy_stats_s": "import scipy.stats",
    "import_sklearn_s": "import sklearn.linear_model, sklearn.feature_extraction.text",
    "import_litellm_s": "import litellm",
    "import_torch_s": "import torch",
    "import_sentence_transformers_s": "import sentence_transformers",
    "import_transformers_llama_s": "from transformers import LlamaForCausalLM",
}

CHILD = """
import time, importlib
{before}
t = time.perf_counter()
{stmt}
print(time.perf_counter() - t)
"""


def time_import(stmt: str, repeat: int) -> float | None:
    before = "" if stmt == "import driftgate" else "import driftgate"
    best = None
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-c", CHILD.format(before=before, stmt=stmt)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            return None  # not installed (or broken): reported, not guessed
        value = float(proc.stdout.strip().splitlines()[-1])
        best = value if best is None else min(best, value)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per import")
    args = parser.parse_args()
    for name, stmt in IMPORTS.items():
        value = time_import(stmt, args.repeat)
        print(f"{name}: {'n/a' if value is None else round(value, 3)}", flush=True)


if __name__ == "__main__":
    main()
