"""The Audit page: who changed what from the console and the command line, for street and viewer accounts."""

from __future__ import annotations

from tests.console.helpers import logged_in


def test_the_audit_page_shows_console_changes_by_name_and_filters_by_action(console_office):
    street, csrf = logged_in(console_office.app, "张敏")
    street.post("/lists/quarantine/add", data={"csrf": csrf, "unit": "6-6-606", "community": "北苑社区"})
    viewer, _ = logged_in(console_office.app, "王看")
    page = viewer.get("/audit")
    assert page.status_code == 200
    assert "console:张敏" in page.text and "quarantine_add" in page.text and "6-6-606" in page.text
    assert "add_user" in page.text  # the accounts made from the command line are there too
    only = viewer.get("/audit?action=add_user").text
    assert "add_user" in only and "console:张敏" not in only


def test_a_community_account_does_not_read_the_streets_audit_trail(console_office):
    c, _ = logged_in(console_office.app, "李社区")
    answer = c.get("/audit")
    assert answer.status_code == 403 and "add_user" not in answer.text
    assert 'href="/audit"' not in c.get("/").text
