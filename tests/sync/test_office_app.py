"""The office application's structure: routers, settings, the problem catalogue, the lifespan,
upload slots. (What the API answers is pinned by the other tests in this directory.)"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from models.errors import KakouError
from sync import signing
from sync.office.deps import Admin  # at module level: the route below is read with its annotations as text
from tests.sync.helpers import OfficeHandle, new_client


def _app(tmp_path, **kwargs):
    from sync.office.app import create_app

    return create_app(tmp_path / "office", **kwargs)


def test_a_new_router_is_one_include_and_answers_in_the_problem_shape(tmp_path):
    from sync.office import problems
    from sync.office.problems import ApiProblem

    router = APIRouter(prefix="/v1/console")

    @router.get("/hello")
    async def hello(admin: Admin):
        return {"admin": admin}

    @router.get("/busy")
    async def busy():
        raise ApiProblem(problems.BUSY)

    @router.get("/domain")
    async def domain():
        raise KakouError("登记码不对", "wrong code", code="bad_code")

    app = _app(tmp_path, retry_after=7)
    app.include_router(router)
    client = TestClient(app)
    answer = client.get("/v1/console/hello")  # the shared admin dependency guards it
    assert answer.status_code == 401 and answer.json()["code"] == "admin_token"
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    from sync.office.admin import add_admin

    token = add_admin(app.state.office.engine, "张主任")
    answer = client.get("/v1/console/hello", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json() == {"admin": "张主任"}
    answer = client.get("/v1/console/busy")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert answer.json() == {"code": "busy", "zh": problems.BUSY.zh, "en": problems.BUSY.en}
    answer = client.get("/v1/console/domain")  # a domain error: its words, the catalogue's status
    assert answer.status_code == 403 and answer.json() == {"code": "bad_code", "zh": "登记码不对", "en": "wrong code"}
    assert "/v1/console/hello" in app.openapi()["paths"]
    app.state.office.engine.dispose()


def test_every_route_comes_from_a_router_in_the_catalogue_of_routers(tmp_path):
    from sync.office import routes

    app = _app(tmp_path)
    served = set(app.openapi()["paths"])
    from_routers = {route.path for router in routes.ROUTERS for route in router.routes}
    assert served == from_routers and len(served) == 17
    app.state.office.engine.dispose()


def test_the_problem_catalogue_is_complete_and_in_both_languages():
    from sync.office import problems

    assert len(problems.CATALOGUE) >= 30
    for p in problems.CATALOGUE:
        assert 400 <= p.status < 600, p
        assert p.zh and p.en and any("\u4e00" <= ch <= "\u9fff" for ch in p.zh), p  # Chinese first, then English
        assert p.retry == (p.status in (429, 503)), p  # the kiosk retries exactly these
    statuses: dict[str, set[int]] = {}
    for p in problems.CATALOGUE:
        statuses.setdefault(p.code, set()).add(p.status)
    # One code, one status, except a malformed body (400: damaged on the way; 422: a wrong message).
    assert {code: s for code, s in statuses.items() if len(s) > 1} == {"malformed": {400, 422}}
    assert problems.for_domain("purged").status == 410 and problems.for_domain("usage").status == 400


def test_a_sealed_lookup_refusal_has_the_catalogue_words_and_status():
    from sync.office import problems, sealed

    refusal = sealed.SealedLookupError("unreadable")
    assert (refusal.code, refusal.status, refusal.zh) == ("unreadable", 409, problems.LOOKUP_UNREADABLE.zh)


def test_settings_come_from_the_office_environment_variables(tmp_path, monkeypatch):
    from sync.office.app import app_from_env
    from sync.office.settings import OfficeSettings

    monkeypatch.setenv("KAKOU_OFFICE_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("KAKOU_OFFICE_DATABASE_URL", "")
    monkeypatch.setenv("KAKOU_OFFICE_MAX_INFLIGHT", "3")
    monkeypatch.setenv("KAKOU_OFFICE_RETRY_AFTER", "9")
    settings = OfficeSettings.from_values()
    assert (settings.office_dir, settings.database_url) == (tmp_path / "from-env", None)
    assert (settings.max_inflight, settings.retry_after) == (3, 9)
    # What `kakou office serve` hands its workers makes the same settings there.
    assert OfficeSettings.from_values(**{"migrate": True}) == settings
    for name, value in settings.as_environ().items():
        monkeypatch.setenv(name, value)
    assert OfficeSettings.from_values() == settings

    (tmp_path / "from-env").mkdir()
    app = _app(tmp_path)  # an office dir given here: its own SQLite, whatever the environment says
    assert app.state.office.office_dir == tmp_path / "office"
    app.state.office.engine.dispose()

    from sync.office.db import open_office_engine

    open_office_engine(tmp_path / "from-env").dispose()  # the workers' factory does not migrate
    worker = app_from_env()
    assert worker.state.office.office_dir == tmp_path / "from-env"
    assert worker.state.office.retry_after == 9 and worker.state.office.settings.migrate is False
    worker.state.office.engine.dispose()

    monkeypatch.setenv("KAKOU_OFFICE_MAX_INFLIGHT", "lots")
    with pytest.raises(KakouError) as exc:
        OfficeSettings.from_values()
    assert exc.value.code == "settings" and "max_inflight" in exc.value.en


def test_office_command_reads_the_office_dir_from_the_environment(tmp_path, monkeypatch, capsys):
    from tui.cli import main

    monkeypatch.setenv("KAKOU_OFFICE_DIR", str(tmp_path / "env-office"))
    monkeypatch.delenv("KAKOU_OFFICE_DATABASE_URL", raising=False)
    assert main(["office", "init"]) == 0  # in the dir the environment names; other commands never make one
    capsys.readouterr()
    assert main(["office", "add-checkpoint", "东门卡口", "--community", "幸福里社区", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "东门卡口"
    assert (tmp_path / "env-office" / "office.db").is_file()
    monkeypatch.setenv("KAKOU_OFFICE_MAX_INFLIGHT", "lots")  # one clear line, exit 2, no traceback
    assert main(["office", "status"]) == 2
    assert "KAKOU_OFFICE_" in capsys.readouterr().err


def test_the_lifespan_closes_the_database_pool_at_shutdown(tmp_path):
    app = _app(tmp_path)
    engine = app.state.office.engine
    with TestClient(app) as client:
        assert client.get("/v1/admin/status").status_code == 401  # the token check opened a connection
        assert engine.pool.checkedin() >= 1
    assert engine.pool.checkedin() == 0


def test_an_upload_slot_is_free_before_the_answer_leaves(tmp_path):
    """With one slot, a kiosk that pushes again the moment its answer arrives must never be told
    the office is busy: the slot is given back when the route returns, not after the answer."""
    app = _app(tmp_path, max_inflight=1)
    office = app.state.office
    seen: list[bool] = []

    async def watching(scope, receive, send):
        async def watched_send(message):
            if message["type"] == "http.response.start" and scope["path"] == "/v1/push":
                free = office.inflight.acquire(blocking=False)
                if free:
                    office.inflight.release()
                seen.append(free)
            await send(message)

        await app(scope, receive, watched_send)

    client, transport = new_client(watching)
    handle = OfficeHandle(app, office.engine, tmp_path / "office", None, transport, client)
    store, service = handle.add_kiosk(tmp_path / "k")
    from tests.sync.helpers import write_passages

    write_passages(store, 30)
    result = service.run_once()
    assert result.ok and result.remaining == 0
    from nacl.signing import SigningKey

    body = b"{}"
    headers = signing.sign_request(SigningKey.generate(), "nobody", 1, uuid.uuid4().hex, body)
    assert client.post("/v1/push", content=body, headers=headers).status_code == 403  # refused: slot back too
    assert seen and all(seen), seen
    client.close()
    store.engine.dispose()
    office.engine.dispose()


def test_the_office_imports_nothing_of_the_desk():
    code = (
        "import sys, sync.office.app, sync.office.cli, sync.office.routes;"
        "sync.office.app.create_app;"
        "print(sorted(m for m in sys.modules if m == 'tui' or m.startswith('tui.') or m == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
