"""Evals written for other tools, run unchanged: promptfoo configs (`promptfoo.py`).

Each translator turns another tool's files into driftgate's own definitions (prompts,
golden-set cases, a suite); `driftgate run -c` runs them and `driftgate import` writes them.
"""
