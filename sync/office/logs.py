"""The office's log: stderr, in uvicorn's own format, so the server's lines and kakou's read alike.

Modules log to `logging.getLogger("kakou." + __name__)`. `kakou office serve` hands
`log_config()` to uvicorn, which applies it in every worker process it starts (a handler added
in the parent alone would not reach the workers).
"""

from __future__ import annotations

import copy
import logging.config
from typing import Any

ROOT = "kakou"


def log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's logging configuration, with the `kakou` loggers on its stderr handler."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"][ROOT] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def configure(level: str = "INFO") -> None:
    """The same, outside uvicorn (office commands, tests)."""
    logging.config.dictConfig(log_config(level))
