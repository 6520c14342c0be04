"""Token ids from `generate()` to text pieces, with stop sequences, counting every token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class TextStream:
    """A transformers streamer (`put`/`end`). The first `put` is the prompt; every later
    token is counted in `generated`, the number billed. Text is decoded from all tokens so
    far (a character may span tokens) and held back while it could still begin a stop
    sequence; once a stop sequence appears, the text before it is the answer."""

    def __init__(self, tokenizer: Any, stops: list[str], send: Callable[[Any], None]) -> None:
        self._tokenizer = tokenizer
        self._stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._send = send
        self._ids: list[int] = []
        self._sent = 0
        self._prompt_seen = False
        self.generated = 0
        self.stopped = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        if self.stopped:
            return
        new = [int(v) for v in value.reshape(-1).tolist()]
        self.generated += len(new)
        self._ids += new
        self._emit(final=False)

    def end(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.stopped:
            self._emit(final=True)

    def _emit(self, *, final: bool) -> None:
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return  # half a character: wait for the next token
        cut = min(
            (
                i
                for i in (text.find(s, max(0, self._sent - self._hold)) for s in self._stops)
                if i >= 0
            ),
            default=-1,
        )
        if cut >= 0:
            self.stopped = True
            upto = cut
        else:
            upto = len(text) if final else max(self._sent, len(text) - self._hold)
        if upto > self._sent:
            self._send(text[self._sent : upto])
            self._sent = upto
