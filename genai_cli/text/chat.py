"""A multi-turn conversation: the history is re-sent each turn through the chat template.

When the history no longer fits the context, the oldest turns are dropped (the system
prompt stays), with a warning.
"""

from __future__ import annotations

from typing import Any, Callable

from genai_cli.text.generate import Generation, SamplingSettings, chat_ids, fit_context, generate


class Conversation:
    def __init__(
        self,
        lm: Any,
        settings: SamplingSettings,
        system: str | None = None,
        raw: bool = False,
        on_warn: Callable[[str], None] = lambda s: None,
    ):
        self.lm, self.settings, self.system, self.raw, self.on_warn = lm, settings, system, raw, on_warn
        self.history: list[dict[str, str]] = []  # user / assistant messages, oldest first
        self.turns = 0  # turns since the last reset

    def reset(self) -> None:
        self.history.clear()
        self.turns = 0

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.history

    def _prompt_ids(self) -> list[int]:
        ctx, room = self.lm.context_length, self.lm.context_length - self.settings.max_tokens
        ids = chat_ids(self.lm, self.messages(), raw=self.raw)
        dropped = 0
        while len(ids) > room and len(self.history) > 1:
            del self.history[:2]  # the oldest user + assistant pair
            dropped += 1
            ids = chat_ids(self.lm, self.messages(), raw=self.raw)
        if dropped:
            self.on_warn(
                f"the conversation no longer fit the context of {ctx} tokens: forgot the {dropped} oldest turn(s)"
            )
        return fit_context(ids, ctx, self.settings.max_tokens, truncate=True, on_warn=self.on_warn)

    def say(self, text: str, on_text: Callable[[str], None] | None = None) -> Generation:
        """One turn: add the user's message, answer it (streamed to on_text), remember the answer."""
        self.history.append({"role": "user", "content": text})
        g = generate(self.lm, self._prompt_ids(), self.settings, on_text or (lambda s: None))
        g.load_s = self.lm.load_s
        self.history.append({"role": "assistant", "content": g.text})
        self.turns += 1
        return g
