"""The checks a gate makes beside the pass (健康码, 核酸, 行程卡): what the volunteer saw, recorded.

An offline kiosk cannot verify a health code or a test result; it records the answer the
volunteer read off the person's phone, under the office's policy in force. Written once here:

- CHECKS: each check, its words and its answers in the order the desk numbers them
  (`1` green, `2` yellow, ...), each answer with its words and the colour the desk shows it in;
- which checks a passage needs: `Policy.health_checks`, by "direction.kind" ("in.visitor":
  ["health_code", "nucleic_test"]), kinds from models/kinds.py: a kind of pass, or a kind of
  registration for people registered at the gate without one (`kind_codes`);
- what each answer means: `Policy.health_rules`, by "check.answer" ("health_code.red": "deny"),
  over DEFAULT_RULES; a "deny" or "refer" gives the reason `<check>_deny` / `<check>_refer`
  (models/reasons.py), which turns the verdict red or amber like any other reason.

The answers go into the passage's payload as {"checks": {"health_code": "green", ...}}: the
reports count what was seen from there, and the denials from the reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from models.kinds import PassKind, pass_kind_by_code
from models.words import Words

if TYPE_CHECKING:
    from models.policy import Policy
    from models.verdict import Reason, Verdict

__all__ = [
    "CHECKS",
    "DEFAULT_RULES",
    "DIRECTIONS",
    "LEVELS",
    "Answer",
    "CheckInfo",
    "answer_by_key",
    "answer_label",
    "apply_answers",
    "check_label",
    "check_reasons",
    "checks_detail",
    "checks_words",
    "coerce_health_checks",
    "coerce_health_rules",
    "count_checks",
    "detail_checks",
    "kind_codes",
    "required_checks",
    "rule",
]

ALLOW, REFER, DENY = "allow", "refer", "deny"
LEVELS = (ALLOW, REFER, DENY)
DIRECTIONS = ("in", "out")


class Answer(NamedTuple):
    code: str  # stored in the passage's payload and counted by the reports: never rename one
    name: Words
    colour: str  # the desk's colour for it: green | yellow | red | grey


class CheckInfo(NamedTuple):
    name: Words  # the prompt's and the reports' word
    answers: tuple[Answer, ...]  # numbered 1, 2, ... at the desk, in this order


CHECKS: dict[str, CheckInfo] = {
    "health_code": CheckInfo(
        Words("健康码", "health code"),
        (
            Answer("green", Words("绿码", "green"), "green"),
            Answer("yellow", Words("黄码", "yellow"), "yellow"),
            Answer("red", Words("红码", "red"), "red"),
            Answer("grey", Words("灰码/打不开", "grey / won't load"), "grey"),
        ),
    ),
    "nucleic_test": CheckInfo(
        Words("核酸", "nucleic-acid test"),
        (
            Answer("24h", Words("24小时内", "within 24 h"), "green"),
            Answer("48h", Words("48小时内", "within 48 h"), "green"),
            Answer("72h", Words("72小时内", "within 72 h"), "yellow"),
            Answer("7d", Words("7天内", "within 7 days"), "yellow"),
            Answer("none", Words("超过7天/无", "older / none"), "red"),
        ),
    ),
    "itinerary": CheckInfo(
        Words("行程卡", "itinerary card"),
        (
            Answer("clear", Words("无星号", "no star"), "green"),
            Answer("starred", Words("带星号", "starred"), "yellow"),
        ),
    ),
}

# What each answer means unless the office says otherwise (Policy.health_rules).
DEFAULT_RULES: dict[str, str] = {
    "health_code.green": ALLOW,
    "health_code.yellow": REFER,
    "health_code.red": DENY,
    "health_code.grey": REFER,
    "nucleic_test.24h": ALLOW,
    "nucleic_test.48h": ALLOW,
    "nucleic_test.72h": REFER,
    "nucleic_test.7d": REFER,
    "nucleic_test.none": REFER,
    "itinerary.clear": ALLOW,
    "itinerary.starred": REFER,
}


def _answers(check: str) -> dict[str, Answer]:
    return {a.code: a for a in CHECKS[check].answers}


def answer_by_key(check: str, key: str) -> Answer | None:
    """The answer a desk key names (`1` is the check's first answer), or None."""
    answers = CHECKS[check].answers
    key = (key or "").strip()
    if len(key) == 1 and key.isdigit() and 1 <= int(key) <= len(answers):
        return answers[int(key) - 1]
    return None


def _kind_code(kind: PassKind | int | str | None) -> str:
    if kind is None:
        return ""
    if isinstance(kind, str):
        return kind
    return PassKind(kind).code


def required_checks(policy: Policy, direction: str, kind: PassKind | int | str | None) -> list[str]:
    """The checks this policy requires of a person of `kind` going `direction`, in CHECKS order."""
    wanted = set(policy.health_checks.get(f"{direction}.{_kind_code(kind)}", ()))
    return [check for check in CHECKS if check in wanted]


def rule(policy: Policy, check: str, answer: str) -> str:
    """allow | refer | deny: what one answer means under this policy."""
    return str(policy.health_rules.get(f"{check}.{answer}") or DEFAULT_RULES.get(f"{check}.{answer}", REFER))


def check_reasons(policy: Policy, answers: Mapping[str, str]) -> list[Reason]:
    """The reasons the answers give (none for an answer that allows), in CHECKS order."""
    from models.verdict import Reason

    reasons = []
    for check in CHECKS:
        answer = answers.get(check)
        if answer is None:
            continue
        level = rule(policy, check, answer)
        if level in (REFER, DENY):
            info = _answers(check).get(answer)
            params = {"answer_zh": info.name.zh if info else answer, "answer_en": info.name.en if info else answer}
            reasons.append(Reason(f"{check}_{level}", params))
    return reasons


def apply_answers(policy: Policy, verdict: Verdict, answers: Mapping[str, str]) -> Verdict:
    """The verdict with what the answers mean added: a red code turns an allow into a deny."""
    from dataclasses import replace

    from models.verdict import outcome_of

    extra = check_reasons(policy, answers)
    if not extra:
        return verdict
    reasons = (*verdict.reasons, *extra)
    return replace(verdict, reasons=reasons, outcome=outcome_of(reasons))


# -- the counts ---------------------------------------------------------------------------------
def count_checks(rows: Iterable[tuple[Any, int]]) -> dict[str, dict[str, int]]:
    """{check: {answer: n}} from (answers of one passage, how many such passages) pairs, checks
    and answers in CHECKS order; an answer this version does not know (a newer kiosk's) is
    counted as it is, never dropped. Every report counts with this."""
    seen: dict[str, dict[str, int]] = {}
    for answers, n in rows:
        if not isinstance(answers, Mapping):
            continue
        for check, answer in answers.items():
            per = seen.setdefault(str(check), {})
            per[str(answer)] = per.get(str(answer), 0) + int(n)
    order = list(CHECKS)

    def answer_order(check: str, answer: str) -> tuple[int, str]:
        codes = [a.code for a in CHECKS[check].answers] if check in CHECKS else []
        return (codes.index(answer) if answer in codes else len(codes), answer)

    return {
        check: dict(sorted(seen[check].items(), key=lambda item: answer_order(check, item[0])))
        for check in sorted(seen, key=lambda c: (order.index(c) if c in order else len(order), c))
    }


# The office's day counts group passages by a short `detail` (at most 32 characters): the answers
# in CHECKS order, "hc=green nt=48h" (sync/office/ingest.py). Only known checks and answers: a
# payload is the kiosk's word, and a long or odd one must not make a new counter per passage.
_SHORT = {"health_code": "hc", "nucleic_test": "nt", "itinerary": "it"}
_LONG = {v: k for k, v in _SHORT.items()}


def checks_detail(answers: Any) -> str:
    """A passage's answers as the office's day-count `detail` ("" for none or unreadable)."""
    if not isinstance(answers, Mapping):
        return ""
    parts = []
    for check in CHECKS:
        answer = answers.get(check)
        if isinstance(answer, str) and answer in _answers(check):
            parts.append(f"{_SHORT[check]}={answer}")
    return " ".join(parts)[:32]


def detail_checks(detail: str) -> dict[str, str]:
    """The answers back from a day-count `detail` (what checks_detail wrote)."""
    out = {}
    for part in (detail or "").split():
        short, _eq, answer = part.partition("=")
        check = _LONG.get(short)
        if check is not None and answer in _answers(check):
            out[check] = answer
    return out


def answer_label(check: str, answer: str, lang: str = "zh") -> str:
    info = CHECKS.get(check)
    found = next((a for a in info.answers if a.code == answer), None) if info else None
    return found.name.text(lang) if found else answer


def check_label(check: str, lang: str = "zh") -> str:
    info = CHECKS.get(check)
    return info.name.text(lang) if info else check


def checks_words(seen: Mapping[str, Mapping[str, int]], lang: str = "zh") -> str:
    """ "健康码 绿码 3，红码 1；核酸 48小时内 2": the counts of what was seen, in words."""
    comma, semicolon = ("，", "；") if lang == "zh" else (", ", "; ")
    return semicolon.join(
        f"{check_label(check, lang)} "
        + comma.join(f"{answer_label(check, answer, lang)} {n}" for answer, n in answers.items())
        for check, answers in seen.items()
    )


# -- the policy's two keys, checked where they are typed ---------------------------------------
def kind_codes() -> list[str]:
    """Every kind a `health_checks` key can name: the kinds of pass (models/kinds.py PassKind),
    then the kinds of registration not already among them (courier, medical, worker: people
    registered at the gate without a pass; "visitor" and "returnee" name both)."""
    from models.kinds import REGISTRATION_KINDS

    codes = [k.code for k in PassKind]
    return codes + [code for code in REGISTRATION_KINDS if code not in codes]


def _kind_word(word: str) -> str:
    kind = pass_kind_by_code(word)
    if kind is not None:
        return kind.code
    code = word.strip().lower()
    if code in kind_codes():
        return code
    raise ValueError(f"health_checks: unknown kind {word!r} (one of: {', '.join(kind_codes())})")


def _check_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        items: Iterable[Any] = [w for w in value.replace("，", ",").split(",") if w.strip()]
    elif isinstance(value, Sequence):
        items = value
    else:
        raise ValueError(f"health_checks.{where}: expected a list of checks, got {value!r}")
    out = []
    for item in items:
        word = str(item).strip()
        if word in ("", "none"):
            continue
        if word not in CHECKS:
            raise ValueError(f"health_checks.{where}: unknown check {word!r} (one of: {', '.join(CHECKS)})")
        if word not in out:
            out.append(word)
    return out


def coerce_health_checks(value: Any, base: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[str]]:
    """{"direction.kind": [check, ...]} over `base`: each direction in/out, each kind known,
    each check known. "in" alone (or "in.*") sets every kind going in; an empty list clears."""
    if not isinstance(value, Mapping):
        raise ValueError(f"health_checks: expected {{direction.kind: [checks]}}, got {value!r}")
    clean = {k: list(v) for k, v in (base or {}).items()}
    for key, checks in value.items():
        direction, _dot, kind = str(key).strip().partition(".")
        if direction not in DIRECTIONS:
            raise ValueError(f"health_checks: direction must be in or out, got {key!r}")
        kinds = kind_codes() if kind in ("", "*") else [_kind_word(kind)]
        wanted = _check_list(checks, str(key))
        for code in kinds:
            if wanted:
                clean[f"{direction}.{code}"] = wanted
            else:
                clean.pop(f"{direction}.{code}", None)
    return dict(sorted(clean.items()))


def coerce_health_rules(value: Any, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """{"check.answer": allow|refer|deny} over `base` (the defaults): each check and answer known."""
    if not isinstance(value, Mapping):
        raise ValueError(f"health_rules: expected {{check.answer: level}}, got {value!r}")
    clean = dict(DEFAULT_RULES if base is None else base)
    for key, level in value.items():
        check, _dot, answer = str(key).strip().partition(".")
        if check not in CHECKS:
            raise ValueError(f"health_rules: unknown check {check!r} (one of: {', '.join(CHECKS)})")
        if answer not in _answers(check):
            raise ValueError(f"health_rules.{check}: unknown answer {answer!r} (one of: {', '.join(_answers(check))})")
        word = str(level).strip().lower()
        if word not in LEVELS:
            raise ValueError(f"health_rules.{key}: expected allow, refer or deny, got {level!r}")
        clean[f"{check}.{answer}"] = word
    return clean
