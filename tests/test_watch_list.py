"""The watch list flags a unit or a person whether or not the office wrote a note.

`kakou office watch add --unit U` takes `--note` as optional (default ""), and an entry without a
note used to be dropped by the verdict: "" is falsy, so the unit's empty note fell through to
the person look-up and the volunteer saw a plain 通行 with no 重点关注.
"""

from __future__ import annotations

from models.gate import check_person, check_token
from models.passes import issue_pass
from models.passtoken import PassKind
from models.policy import Policy
from models.verdict import ALLOW, GateState, decide_person

NOW = 1_650_000_000.0


def _codes(verdict):
    return [r.code for r in verdict.reasons]


def test_unit_on_watch_list_without_a_note_is_flagged():
    state = GateState(watch_units={"3-2-501": ""})
    v = decide_person("3-2-501", None, "in", NOW, state, Policy())
    assert v.outcome == ALLOW and _codes(v) == ["watch"]
    assert v.reasons[0].params["note"] == "-"


def test_person_on_watch_list_without_a_note_is_flagged():
    v = decide_person(None, "h1", "in", NOW, GateState(watch_persons={"h1": ""}), Policy())
    assert _codes(v) == ["watch"]


def test_the_note_that_says_something_is_shown():
    state = GateState(watch_units={"3-2-501": ""}, watch_persons={"h1": "独居老人"})
    v = decide_person("3-2-501", "h1", "in", NOW, state, Policy())
    assert _codes(v) == ["watch"] and "独居老人" in v.reasons[0].text()


def test_an_empty_person_hash_is_no_watch_hit():
    # "" is no key: it must not read as "on the watch list" (it did, with the note "-").
    v = decide_person(None, "", "in", NOW, GateState(), Policy())
    assert _codes(v) == []
    v = decide_person("3-2-501", "", "in", NOW, GateState(), Policy())
    assert _codes(v) == []


def test_kiosk_flags_a_pass_of_a_watched_unit_added_without_a_note(store):
    issued = issue_pass(store, PassKind.RESIDENT, "3-2-501")
    store.add_list_entry("watch", unit_code="3-2-501")
    v = check_token(store, issued.token, "in")
    assert v.outcome == ALLOW and _codes(v) == ["watch"]
    assert _codes(check_person(store, "3-2-501", None, "out")) == ["watch"]
