"""The bounded jinja2 sandbox prompt templates render in (issue #16): jinja's immutable
sandbox, plus bounds so a template can neither read other files nor hang or exhaust memory.

jinja2 is imported when a template needs it, not with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

# Bounds on what one template may build, so a template cannot hang or exhaust memory
# (issue #16): a render stops with an error once its text passes MAX_RENDERED_CHARS
# characters, `*` may not build a string or list longer than that nor `**` raise to
# a power above MAX_EXPONENT, and `range()` keeps jinja's sandbox bound (jinja2.sandbox.
# MAX_RANGE, 100,000 items). Includes, imports and extends are refused: a prompt is one
# self-contained file, and a template may not read other files.
MAX_RENDERED_CHARS = 1_000_000
MAX_EXPONENT = 4096


def no_loading(name: str) -> str:
    from jinja2.exceptions import SecurityError

    raise SecurityError(f"templates may not include, import or extend other files ({name!r})")


def bounded_sandbox() -> type[ImmutableSandboxedEnvironment]:
    """jinja's immutable sandbox, with `*` and `**` bounded (jinja then also stops folding
    them at compile time, where `'x' * 10**10` would otherwise be built)."""
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                _check_repeat(left, right)
                _check_repeat(right, left)
            elif operator == "**" and isinstance(right, int) and right > MAX_EXPONENT:
                if not (isinstance(left, int) and left in (-1, 0, 1)):
                    raise SecurityError(f"a power above {MAX_EXPONENT} (** {right})")
            return super().call_binop(context, operator, left, right)

    def _check_repeat(seq: Any, times: Any) -> None:
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            if len(seq) * times > MAX_RENDERED_CHARS:
                raise SecurityError(
                    f"repeating a {type(seq).__name__} of {len(seq):,} {times:,} times "
                    f"(more than {MAX_RENDERED_CHARS:,} items)"
                )

    return BoundedSandbox


def render_bounded(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """Render, stopping once the text passes MAX_RENDERED_CHARS (a loop printing forever
    stops there too)."""
    from jinja2.exceptions import SecurityError

    parts: list[str] = []
    size = 0
    for chunk in template.generate(variables):
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise SecurityError(f"the rendered message is over {MAX_RENDERED_CHARS:,} characters")
        parts.append(chunk)
    return "".join(parts)


def check_template_source(env: jinja2.Environment, source: str) -> None:
    """Refuse `{% include %}`, `{% import %}`, `{% from ... import %}` and `{% extends %}`
    (raises jinja2's TemplateSyntaxError, as a syntax error is reported)."""
    import jinja2
    from jinja2 import nodes

    tree = env.parse(source)
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        tag = {"Include": "include", "Import": "import", "FromImport": "from ... import"}.get(
            type(node).__name__, "extends"
        )
        raise jinja2.TemplateSyntaxError(
            f"{{% {tag} %}} is not allowed: a prompt template may not read other files",
            node.lineno,
        )
