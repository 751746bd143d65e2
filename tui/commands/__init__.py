"""Subcommands of `kakou`, one module per area. Each has `register(subparsers, common)`.

Keep the top of these modules free of heavy imports (sqlmodel, textual, fastapi): building
the parser must stay fast.
"""
