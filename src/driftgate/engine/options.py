"""A run's options (the CLI's flags) and the bounds they are held to (issue #16).

`repeat`, `max_concurrency` and `max_error_rate` are validated with the suite file's own
pydantic constraints for those fields, `limit` and `sample` are at least 1, and a plan over
MAX_PLANNED_CALLS calls is refused unless forced (`--force`, `force=True`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..suite import Suite


@dataclass
class RunOptions:
    """A run's options (the CLI's flags), checked when made: `repeat`, `max_concurrency`
    and `max_error_rate` against the bounds of the suite file's fields of the same names
    (repeat ≤ 100…), `limit` and `sample` at least 1. `force` runs a plan over
    MAX_PLANNED_CALLS calls."""

    repeat: int | None = None
    max_concurrency: int | None = None
    limit: int | None = None
    sample: int | None = None
    filter: list[str] = field(default_factory=list)
    no_cache: bool = False
    max_error_rate: float | None = None
    seed: int | None = None
    # Exactly these case ids per golden set (a caller's own sample, e.g. drift's stratified
    # one); kept in the manifest so a resumed run runs the same cases.
    cases: dict[str, list[str]] | None = None
    force: bool = False
    # This process's part of a run split across runners (`--shard I/N`); not a setting of
    # the run (its manifest describes every shard), so never stored in it.
    shard: Shard | None = None

    def __post_init__(self) -> None:
        from pydantic import ValidationError

        values = {k: getattr(self, k) for k in _OPTION_BOUNDS}
        try:
            _option_bounds().model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0])
            bound = " (as in a suite file)" if name in _SUITE_BOUNDED else ""
            raise ConfigError(
                f"{err['msg']}{bound}, got {err['input']!r}",
                field=f"{name} (--{name.replace('_', '-')})",
            ) from None

    def as_settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "shard"}


@dataclass(frozen=True)
class Shard:
    """Part `index` (1-based) of `count` of a run's cases. A case belongs to one part by a
    stable hash of (golden set, case id), not by its position, so runners agree on the split
    whatever order they read the files in, and a case added to a golden set moves no other."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N` with 1 ≤ I ≤ N, else a ConfigError naming `--shard`."""
        index, sep, count = text.strip().partition("/")
        try:
            shard = cls(int(index), int(count)) if sep else None
        except ValueError:
            shard = None
        if shard is None or not 1 <= shard.index <= shard.count:
            raise ConfigError(
                f"--shard takes I/N with 1 ≤ I ≤ N (this runner's part of N), got {text!r}",
                field="--shard",
                hint="e.g. `driftgate run --shard 2/4` on the second of four runners",
            )
        return shard

    def owns(self, evalset: str, case_id: str) -> bool:
        import hashlib

        h = hashlib.sha256(f"{evalset}\x00{case_id}".encode()).digest()
        return int.from_bytes(h[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


# A plan over this many calls (cases × arms × repeats) is refused unless forced: such a
# plan is almost always a typo (`--repeat 1000000000`) and would fill the disk.
MAX_PLANNED_CALLS = 1_000_000
_SUITE_BOUNDED = ("repeat", "max_concurrency", "max_error_rate")
_OPTION_BOUNDS = (*_SUITE_BOUNDED, "limit", "sample", "seed")
_BOUNDS_MODEL: Any = None


def _option_bounds() -> Any:
    """A pydantic model of the bounded options: the suite's own constraints for the fields
    it shares, so a flag is held to what the file would be."""
    global _BOUNDS_MODEL
    if _BOUNDS_MODEL is None:
        from typing import Annotated

        from pydantic import Field, create_model

        fields: dict[str, Any] = {}
        for name in _SUITE_BOUNDED:
            info = Suite.model_fields[name]
            fields[name] = (Annotated[info.annotation, *info.metadata] | None, None)
        positive = Annotated[int, Field(ge=1, le=MAX_PLANNED_CALLS)] | None
        fields["limit"] = fields["sample"] = (positive, None)
        fields["seed"] = (int | None, None)
        _BOUNDS_MODEL = create_model("RunOptions", **fields)
    return _BOUNDS_MODEL


def check_plan_size(cases: int, arms: int, repeat: int, force: bool) -> None:
    """Refuse a plan over MAX_PLANNED_CALLS calls unless `force`, saying how to force it."""
    planned = cases * arms * repeat
    if planned > MAX_PLANNED_CALLS and not force:
        raise ConfigError(
            f"the plan is {planned:,} calls ({cases:,} cases x {arms} arms x repeat {repeat}), "
            f"over the limit of {MAX_PLANNED_CALLS:,}",
            hint="run fewer (--limit, --sample, --filter, a smaller --repeat), or pass "
            "--force (force=True) to run it anyway",
        )
