"""The duty desk's screens: `app` is typed as the `DutyApp` they run in.

Textual types `Widget.app` as a plain `App`, so every `self.app.store`, `self.app.t(...)` was an
unknown attribute to a type checker. `textual.getters.app` is Textual's own typed accessor (it
checks the app's class once per access, as cheap as the default property). The type parameter
is what the screen dismisses with, so a callback knows what it gets.
"""

from __future__ import annotations

from typing import TypeVar

from textual import getters
from textual.screen import ModalScreen, Screen

from tui.app import DutyApp

ResultT = TypeVar("ResultT")


class DeskScreen(Screen[ResultT]):
    """A full screen of the duty desk."""

    app = getters.app(DutyApp)


class DeskModal(ModalScreen[ResultT]):
    """A dialog over the duty desk."""

    app = getters.app(DutyApp)
