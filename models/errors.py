"""Errors a user can act on.

Every error that reaches a person carries a Chinese and an English sentence saying what
happened and what to do. Commands print `str(error)` as one line; the kiosk shows `.zh` or
`.en` by its language setting.
"""

from __future__ import annotations


class KakouError(Exception):
    """A failure with a plain-language message for the volunteer or supervisor."""

    code = "error"

    def __init__(self, zh: str, en: str, *, code: str | None = None):
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        if code:
            self.code = code

    def text(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


class StoreError(KakouError):
    """The kiosk's database could not be opened, checked or written."""

    code = "store"


class KeyFileError(KakouError):
    """A key file is missing, damaged, or readable by other users."""

    code = "key_file"
