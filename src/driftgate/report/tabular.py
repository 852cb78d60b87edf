"""JSON and CSV reports, written as the results stream in.

JSON: `{"manifest": {...}, "results": [ one CaseResult per line ]}` — the manifest with its
configs redacted, the results exactly as stored, so `read_json` gives back CaseResult
objects. CSV: one row per result, one `score.METRIC` column per metric seen in the run.
"""

from __future__ import annotations

import csv
import json
import marshal
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .._redact import redact_manifest
from ..errors import ConfigError
from ..store._atomic import atomic_writer
from ..store.records import CaseResult, RunManifest
from ._format import as_result

CSV_LEADING = [
    "run_id",
    "key",
    "evalset",
    "case_id",
    "prompt",
    "model",
    "segment",
    "repeat",
    "passed",
    "score",
]
CSV_TRAILING = [
    "error",
    "error_kind",
    "parse_error",
    "latency_ms",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cached",
    "expected",
    "parsed",
    "output",
]


def write_json(
    path: Path, manifest: RunManifest, results: Iterable[CaseResult | dict[str, Any]]
) -> int:
    """Write the manifest and every result; returns the number of results written.

    Results are written one per line as they come, so memory stays flat for any run size.
    """
    head = redact_manifest(manifest).model_dump_json(indent=2)
    n = 0
    with atomic_writer(Path(path)) as fh:
        fh.write('{\n"manifest": ')
        fh.write(head)
        fh.write(',\n"results": [')
        for r in results:
            fh.write(",\n" if n else "\n")
            fh.write(as_result(r).model_dump_json())
            n += 1
        fh.write("\n]\n}\n" if n else "]\n}\n")
    return n


def read_json(path: Path) -> tuple[RunManifest, list[CaseResult]]:
    """Read a report written by `write_json` back into models (whole file in memory)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("report file not found", path=path) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict) or "manifest" not in data or "results" not in data:
        raise ConfigError("not a driftgate JSON report (needs `manifest` and `results`)", path=path)
    from pydantic import ValidationError

    try:
        manifest = RunManifest.model_validate(data["manifest"])
    except ValidationError as exc:
        raise ConfigError(_first_error(exc), path=path, field="manifest") from None
    results = []
    for i, item in enumerate(data["results"]):
        try:
            results.append(CaseResult.model_validate(item))
        except ValidationError as exc:
            raise ConfigError(_first_error(exc), path=path, field=f"results[{i}]") from None
    return manifest, results


def _first_error(exc: Any) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


_SCALARS = (str, int, float, bool)


def _cell(value: Any) -> Any:
    """CSV cell: scalars as they are, structures as compact JSON, None as empty."""
    if value is None:
        return ""
    if type(value) in _SCALARS:  # exact types: the hot path for 100k rows × 20 cells
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def write_csv(
    path: Path,
    results: Iterable[CaseResult | dict[str, Any]],
    *,
    metrics: Sequence[str] = (),
) -> int:
    """Write one row per result; returns the number of rows.

    The metric columns are known only once every result has been seen (an errored result
    has no scores; a scorer may be added mid-run on resume), so rows are first spooled to a
    temporary file (marshal records: fast, and only plain values are stored) and the CSV is
    written from it: memory stays flat.
    `metrics` fixes the order of the first metric columns.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: dict[str, None] = dict.fromkeys(metrics)  # ordered set of metric names
    n = 0
    with tempfile.TemporaryFile("w+b", dir=path.parent) as spool:
        for item in results:
            r = as_result(item)
            row = [_cell(getattr(r, c)) for c in CSV_LEADING]
            values = {}
            for s in r.scores:
                columns.setdefault(s.metric)
                # A scorer error has no meaningful value: leave the cell empty.
                values[s.metric] = "" if s.error is not None else s.value
            row.append(values)
            row.extend(_cell(getattr(r, c)) for c in CSV_TRAILING)
            blob = marshal.dumps(row)
            spool.write(len(blob).to_bytes(4, "little"))
            spool.write(blob)
            n += 1
        spool.seek(0)
        names = list(columns)
        with atomic_writer(path, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([*CSV_LEADING, *(f"score.{m}" for m in names), *CSV_TRAILING])
            k = len(CSV_LEADING)
            for _ in range(n):
                # length-prefixed: marshal.load on a file object reads byte by byte
                row = marshal.loads(spool.read(int.from_bytes(spool.read(4), "little")))
                values = row[k]
                writer.writerow([*row[:k], *(values.get(m, "") for m in names), *row[k + 1 :]])
    return n
