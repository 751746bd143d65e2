"""Static text that is never read as Rich markup: names, units and reasons can hold "[" and
the "[X]" / "[OK]" symbols must show as typed."""

from __future__ import annotations

from textual.widgets import Static


class Plain(Static):
    def __init__(self, content="", **kwargs):
        kwargs.setdefault("markup", False)
        super().__init__(content, **kwargs)
