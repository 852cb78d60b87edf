"""Why a run did not reach a verdict on its cases: the text `driftgate run` prints on stderr
for exit 3 (provider errors over budget) and for an incomplete run, and the Python API's
`explain_exit(run.manifest, run.results)`.

    error: 17 provider error(s); the first, c003 on gpt-4o-mini: rate limit: 429 ...
      error rate 42.5% (17 of 40 results) is over max_error_rate 5.0% (at most 2 of 40 planned)
      early stop: yes, once the errors exceeded what max_error_rate allows over the whole plan; 23 of 40 planned results not run
      errors by kind: 429 rate limit × 12, timeout × 3, server error (5xx) × 2
      hint: `driftgate show RUN` lists them; once the provider recovers, `driftgate run --resume RUN --retry-errors`
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..store.records import CaseResult, RunManifest
from ._format import fmt_pct

# An error kind as people know it (the kinds: `driftgate.errors.ErrorKind`, plus "template").
KIND_NAMES = {
    "rate_limit": "429 rate limit",
    "server": "server error (5xx)",
    "timeout": "timeout",
    "bad_response": "bad response",
    "auth": "auth (401/403)",
    "bad_request": "bad request (4xx)",
    "template": "template error",
    "other": "other",
}


def error_kinds(results: Iterable[CaseResult]) -> Counter[str]:
    """How many results ended in each kind of error."""
    return Counter(r.error_kind or "other" for r in results if r.error is not None)


def format_kinds(kinds: Counter[str]) -> str:
    """`429 rate limit × 12, timeout × 3`: most frequent first."""
    return ", ".join(f"{KIND_NAMES.get(k, k)} × {n}" for k, n in kinds.most_common())


def explain_exit(manifest: RunManifest, results: Iterable[CaseResult]) -> str | None:
    """Why the run ended `provider_errors` or `incomplete` (None for any other verdict): the
    first error, the observed error rate against `max_error_rate`, whether the run stopped
    early, the errors by kind, and what to do."""
    if manifest.verdict not in ("provider_errors", "incomplete"):
        return None
    errors = [r for r in results if r.error is not None]
    s = manifest.summary
    stored, planned = (s.results if s else 0), manifest.planned or 0
    lines = []
    if errors:
        first = errors[0]
        lines.append(
            f"{len(errors)} provider error(s); the first, {first.case_id} on {first.model}: "
            f"{first.error}"
        )
    else:
        lines.append(f"incomplete: {stored} of {planned} planned results stored")
    if manifest.verdict == "provider_errors":
        lines.append(_rate_line(len(errors), stored, planned, manifest.max_error_rate))
    if manifest.verdict == "provider_errors":
        lines.append(_early_stop_line(manifest.stopped_early, stored, planned))
    if errors:
        lines.append(f"errors by kind: {format_kinds(error_kinds(errors))}")
    return "\n  ".join([*lines, _hint(manifest, bool(errors))])


def _rate_line(errors: int, stored: int, planned: int, budget: float | None) -> str:
    limit = budget or 0.0
    observed = f"{fmt_pct(errors / stored) if stored else 'n/a'} ({errors} of {stored} results)"
    # The engine's early-stop budget: int(max_error_rate × planned) errors over the plan.
    allowed = f"at most {int(limit * planned)} of {planned} planned" if planned else ""
    return (
        f"error rate {observed} is over max_error_rate {fmt_pct(limit)}"
        + (f" ({allowed})" if allowed else "")
        + ("" if budget is not None else " (the default: no provider error tolerated)")
    )


def _early_stop_line(stopped: bool, stored: int, planned: int) -> str:
    if stopped and stored < planned:
        return (
            "early stop: yes, once the errors exceeded what max_error_rate allows over the "
            f"whole plan; {planned - stored} of {planned} planned results not run"
        )
    return "early stop: no, every planned result ran"


def _hint(manifest: RunManifest, errors: bool) -> str:
    run = manifest.id
    if not errors:
        return f"hint: `driftgate run --resume {run}` finishes it"
    return (
        f"hint: `driftgate show {run}` lists them; once the provider recovers, "
        f"`driftgate run --resume {run} --retry-errors` runs them again (raise "
        "max_error_rate in the suite or with --max-error-rate to tolerate more)"
    )
