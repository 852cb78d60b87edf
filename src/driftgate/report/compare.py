"""A comparison written to a file, the format picked by the extension."""

from __future__ import annotations

from pathlib import Path

from ..compare.schema import Comparison
from ..errors import ConfigError
from ..store._atomic import atomic_writer

COMPARISON_FORMATS = {".md": "Markdown", ".json": "JSON", ".xml": "JUnit XML", ".html": "HTML"}


def comparison_text(cmp: Comparison, ext: str, *, max_flipped: int | None = None) -> str | None:
    """`cmp` rendered for a file extension (.md, .json, .xml, .html), or None for another.
    `max_flipped` bounds the Markdown's flipped-case rows (`compare --flipped`; 0: none)."""
    ext = ext.lower()
    if ext in (".md", ".markdown"):
        from .compare_markdown import comparison_markdown

        if max_flipped is None:
            return comparison_markdown(cmp)
        return comparison_markdown(cmp, max_flipped=max_flipped)
    if ext == ".json":
        return cmp.model_dump_json(indent=2) + "\n"
    if ext == ".xml":
        from .junit import comparison_junit

        return comparison_junit(cmp)
    if ext in (".html", ".htm"):
        from .html_compare import comparison_html

        return comparison_html(cmp)
    return None


def write_comparison(path: Path | str, cmp: Comparison, *, max_flipped: int | None = None) -> None:
    """Write `cmp` as .md (PR comment), .json, .xml (JUnit) or .html (single file)."""
    path = Path(path)
    ext = path.suffix.lower()
    text = comparison_text(cmp, ext, max_flipped=max_flipped)
    if text is None:
        raise ConfigError(
            f"unknown report format {ext or '(no extension)'!r}; valid extensions: "
            + ", ".join(f"{e} ({n})" for e, n in COMPARISON_FORMATS.items()),
            path=path,
        )
    with atomic_writer(path) as fh:
        fh.write(text)
