"""`testplug/LABEL`: answers LABEL to every request (a module:function entry point)."""

from __future__ import annotations

from driftgate.providers import Completion, CompletionRequest, ModelConfig, Provider


class EchoLabelProvider(Provider):
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.label = config.id.partition("/")[2]

    async def complete(self, request: CompletionRequest) -> Completion:
        return Completion(text=self.label, input_tokens=1, output_tokens=1)


def register() -> None:
    from driftgate.providers import register_provider

    register_provider("testplug", EchoLabelProvider)
