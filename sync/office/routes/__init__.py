"""The office's HTTP API, one router per resource. `create_app` includes every router in ROUTERS;
a new resource is a module here with its `router`, added to ROUTERS."""

from __future__ import annotations

from fastapi import APIRouter

from sync.office.routes import admin, enrol, lists, report, status, sync

ROUTERS: tuple[APIRouter, ...] = (
    status.router,
    enrol.router,
    sync.router,
    lists.router,
    report.router,
    admin.router,
)
