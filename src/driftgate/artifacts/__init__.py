"""Retrainable artifacts besides prompts: few-shot sets, retrieval indexes and routes.

Each is a small pydantic model loaded from a file in the workspace (`prompts/fewshot/`,
`prompts/indexes/`, `routes/`) with a content digest as its version identity. Importing
this package is cheap: numpy, scikit-learn and the embedder load only when an index is
built or examples are selected.
"""

from __future__ import annotations

from .fewshot import (
    FewShotExample,
    FewShotSet,
    Provenance,
    build_fewshot,
    find_fewshot,
    load_fewshot,
    save_fewshot,
    select_fewshot,
)
from .index import IndexSpec, RetrievalIndex, find_index_spec, load_index, load_index_spec
from .route import RouteArm, RouteSpec, ShadowArm, load_route

__all__ = [
    "FewShotExample",
    "FewShotSet",
    "IndexSpec",
    "Provenance",
    "RetrievalIndex",
    "RouteArm",
    "RouteSpec",
    "ShadowArm",
    "build_fewshot",
    "find_fewshot",
    "find_index_spec",
    "load_fewshot",
    "load_index",
    "load_index_spec",
    "load_route",
    "save_fewshot",
    "select_fewshot",
]
