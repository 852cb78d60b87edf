"""Finding a workspace's prompts as they run: file labels first, then registered versions,
each bound (its few-shot set and index pinned by digest, `binding.py`).

The workspace (`Workspace.find_prompt`) only reads files; selecting a registered version
(`NAME@N`, `NAME@DIGEST`, `NAME@ALIAS`) and pinning what a prompt renders need the version
store, so they live here, one layer up, and every caller that runs or compares a prompt
asks this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..prompt import Prompt
    from ..workspace import Workspace


def find_prompt(ws: Workspace, ref: str) -> Prompt:
    """The prompt `ref` names (`NAME`, `NAME@VERSION`, a file path; when no file carries the
    label, a registered version), bound: its `digest` covers everything it renders."""
    from .serving import registry_prompt  # the version store is read only on a label miss

    prompt = ws.find_prompt(ref, lambda name, selector: registry_prompt(ws, name, selector))
    if not prompt.fewshot and not prompt.index:
        return prompt  # nothing to pin (and the version store is not imported)
    from .binding import bind_prompt

    return bind_prompt(ws, prompt)


def workspace_prompts(ws: Workspace) -> list[Prompt]:
    """Every prompt file of the workspace, bound."""
    prompts = ws.unbound_prompts()
    if not any(p.fewshot or p.index for p in prompts):
        return prompts
    from .binding import bind_prompt

    return [bind_prompt(ws, p) for p in prompts]
