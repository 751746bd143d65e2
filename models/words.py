"""The domain's own words: every phrase models/ and sync/ hand to a person is a Chinese and
English pair.

This is the one pattern for words below the UI. models/ and sync/ know no screen and no
language setting, so they never choose a language: they carry both as `zh` and `en` (`Words`
for a table's entries, `KakouError(zh, en)` and `ValueRejected` for what went wrong), and
whoever shows them picks one (the desk through `tui.strings.words(lang, ...)`; commands print
both). The desk's own words (labels, prompts, hints) are
not domain words: they live in `tui/strings.py`.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Bilingual(Protocol):
    """Anything that carries its words in both languages: `Words`, a `KakouError`, a
    `ValueRejected`, a `TokenError`."""

    @property
    def zh(self) -> str: ...

    @property
    def en(self) -> str: ...


class Words(NamedTuple):
    zh: str
    en: str

    def text(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh

    def both(self) -> str:
        """ "住户通行证 Resident pass": for commands, which print both languages."""
        return f"{self.zh} {self.en}"
