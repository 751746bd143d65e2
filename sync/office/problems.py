"""Every error the office's API answers with: one catalogue of problems (code, HTTP status, zh, en).

An error answer is always the JSON `Problem` {code, zh, en}; its status comes from here and
nowhere else. A route raises `ApiProblem(ENTRY, **fields)`; a domain error (`KakouError`) that
reaches the API keeps its own words and gets its status from `status_for(code)`. Words may hold
`{fields}`, filled in when raised. This module is plain data (no FastAPI), so the domain and the
command line can use the same words (see `sealed.lookup`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    zh: str
    en: str
    retry: bool = False  # the answer carries Retry-After: the kiosk waits and sends again
    challenge: str | None = None  # WWW-Authenticate: how to authenticate instead


class ApiProblem(Exception):
    """Raised anywhere under a route; answered as the JSON `Problem` of its catalogue entry."""

    def __init__(self, problem: ProblemType, *, headers: dict[str, str] | None = None, **fields: object):
        self.problem = problem
        self.code, self.status = problem.code, problem.status
        self.zh, self.en = problem.zh.format(**fields), problem.en.format(**fields)
        self.headers = headers or {}
        super().__init__(self.en)


# -- the signed request ------------------------------------------------------------------------
UNSIGNED = ProblemType("unsigned", 401, "请求没有签名。", "the request is not signed.")
SIGNATURE_HEADERS = ProblemType(
    "unsigned", 401, "请求签名信息不完整。", "the request's signature headers are malformed."
)
BAD_SIGNATURE = ProblemType(
    "bad_signature",
    401,
    "签名不符：请求被改动或不是这台设备发的。",
    "signature does not match: the request was altered or not sent by this kiosk.",
)
UNKNOWN_KIOSK = ProblemType(
    "unknown_kiosk", 403, "街道办不认识这台设备，请先登记。", "the office does not know this kiosk; enrol it first."
)
KIOSK_REVOKED = ProblemType(
    "kiosk_revoked",
    403,
    "这台设备已被街道办注销，不能再上传。请联系街道办。",
    "this kiosk was revoked by the street office and may not push. Call the office.",
)
KIOSK_CHANGED = ProblemType(
    "kiosk_changed",
    503,
    "这台设备的登记刚刚变了，稍后自动重试。",
    "this kiosk's enrolment changed just now; the kiosk will retry.",
    retry=True,
)
# A signed request the office already took a newer one of (a replay, or one that arrived late):
# refused with nothing done (sync/office/replay.py); the answer names the stamp it would take.
STALE_REQUEST = ProblemType(
    "stale_request",
    409,
    "这个请求已经处理过或来得太晚（可能是重放），未办理；本机会换新的请求重试。",
    "this request was already taken or came after a newer one (a replay?); nothing was done. "
    "The kiosk retries with a new one.",
)
REQUEST_AHEAD = ProblemType(
    "stale_request",
    409,
    "请求的次序号超前于街道服务器的时间太多，未办理；本机会按服务器时间重试。",
    "the request's stamp is too far ahead of the office's clock; nothing was done. "
    "The kiosk retries by the office's time.",
)

# -- the body ----------------------------------------------------------------------------------
TOO_LARGE = ProblemType(
    "too_large",
    413,
    "一次上传的数据太多，本机会自动分小批。",
    "the batch is too large; the kiosk will send smaller ones.",
)
INFLATES_TOO_LARGE = ProblemType("too_large", 413, "解压后的数据太大。", "the batch inflates beyond the limit.")
DAMAGED = ProblemType(
    "malformed",
    400,
    "上传的数据不完整或已损坏，本机会重新发送。",
    "the body is truncated or damaged; the kiosk will send it again.",
)
MALFORMED_MESSAGE = ProblemType(
    "malformed",
    422,
    "数据格式不对（{where}）。请升级本机软件。",
    "malformed message ({where}: {detail}). Update the kiosk's software.",
)
MALFORMED_ADMIN = ProblemType(
    "malformed",
    422,
    "请求内容不对（{where}）。请对照 /v1/docs 检查。",
    "malformed request ({where}: {detail}). See /v1/docs.",
)
MALFORMED_REQUEST = ProblemType("malformed", 422, "请求格式不对。", "malformed request: {detail}")
EPOCH_MISMATCH = ProblemType(
    "epoch_mismatch", 400, "批次与签名的轮次不一致。", "the batch's epoch differs from the signed one."
)

BODY_TIMEOUT = ProblemType(
    "body_timeout",
    408,
    "上传的数据在 {seconds} 秒内没有传完，连接已断开。本机会重新发送。",
    "the body did not arrive within {seconds} s; the connection is closed. The kiosk will send it again.",
)

# -- capacity and the database -----------------------------------------------------------------
BUSY = ProblemType(
    "busy", 429, "街道服务器正忙，稍后自动重试。", "the office is busy; the kiosk will retry.", retry=True
)
BUSY_KIOSK = ProblemType(
    "busy",
    429,
    "这台设备已有上传正在处理，稍后自动重试。",
    "this kiosk already has pushes in progress; the kiosk will retry.",
    retry=True,
)
DB_UNAVAILABLE = ProblemType(
    "db_unavailable",
    503,
    "街道数据库暂时不可用，稍后自动重试。",
    "the office database is unavailable; the kiosk will retry.",
    retry=True,
)
DB_ERROR = ProblemType(
    "db_error", 503, "街道数据库出错，稍后自动重试。", "office database error; the kiosk will retry.", retry=True
)

# -- addresses ---------------------------------------------------------------------------------
NOT_FOUND = ProblemType("not_found", 404, "没有这个地址。", "no such address.")
METHOD_NOT_ALLOWED = ProblemType(
    "method_not_allowed", 405, "这个地址不接受这种请求方法。", "this address does not accept this method."
)
BAD_REQUEST = ProblemType("bad_request", 400, "请求不对。", "bad request.")
INTERNAL = ProblemType(
    "internal",
    500,
    "街道服务器出了意外的错误，已记入日志。请告诉街道办。",
    "the office hit an unexpected error; it is in the office's log. Tell the street office.",
)
UNKNOWN_LIST = ProblemType("unknown_list", 404, "没有这个名单：{name}", "no such list: {name}")

# -- the admin API -----------------------------------------------------------------------------
ADMIN_TOKEN = ProblemType(
    "admin_token",
    401,
    "需要有效的管理员令牌（Authorization: Bearer ...）。请向街道办负责人要一个。",
    "a valid admin token is needed (Authorization: Bearer ...). Ask the office's head for one.",
    challenge="Bearer",
)

# -- guessing codes and tokens (`tries`): Retry-After says when the next try is answered ---------
TOO_MANY_ENROL_TRIES = ProblemType(
    "too_many_tries",
    429,
    "登记码输错太多次，请 {minutes} 分钟后再试。",
    "too many wrong enrolment codes from here; try again in {minutes} min.",
    retry=True,
)
TOO_MANY_LOGIN_TRIES = ProblemType(
    "too_many_tries",
    429,
    "登录失败太多次，请 {minutes} 分钟后再试。",
    "too many failed logins; try again in {minutes} min.",
    retry=True,
)
TOO_MANY_ADMIN_TRIES = ProblemType(
    "too_many_tries",
    429,
    "管理员令牌错误太多次，请 {minutes} 分钟后再试。",
    "too many wrong admin tokens from here; try again in {minutes} min.",
    retry=True,
)
ENROL_BUDGET_SPENT = ProblemType(
    "too_many_tries",
    429,
    "街道办这一小时收到的错误登记码太多，登记暂停，请 {minutes} 分钟后再试。",
    "the office got too many wrong enrolment codes this hour; enrolment is paused, try again in {minutes} min.",
    retry=True,
)

# -- domain errors: their words come from the domain, their status from here -------------------
BAD_CODE = ProblemType("bad_code", 403, "登记码不对、已用过或已过期。", "the enrolment code is wrong, used or expired.")
CODE_LOCKED = ProblemType(
    "code_locked", 403, "这个登记码因多次输错已锁定。", "this enrolment code is locked after too many wrong tries."
)
ALREADY_ENROLLED = ProblemType("already_enrolled", 403, "这台设备已经登记过了。", "this kiosk is already enrolled.")
NOT_LISTED = ProblemType("not_listed", 404, "名单上没有这一项。", "no such entry on the list.")
DOMAIN_ERROR = ProblemType("error", 400, "请求不能办理。", "the request cannot be done.")  # any other code

# A sealed lookup that opens nothing (`sealed.lookup`; the clerk's command prints the same words).
LOOKUP_NOT_FOUND = ProblemType(
    "not_found", 404, "没有这条记录（请核对记录编号）。", "no such record (check the record id)."
)
LOOKUP_NOT_REGISTRATION = ProblemType(
    "not_registration",
    404,
    "这条记录不是登记记录，没有身份证号或电话。",
    "this record is not a registration; it holds no ID number or phone.",
)
LOOKUP_PURGED = ProblemType(
    "purged",
    410,
    "这条记录的个人信息已按保存期限删除。",
    "this record's personal data was deleted at the end of its retention period.",
)
LOOKUP_NOTHING_SEALED = ProblemType(
    "nothing_sealed",
    404,
    "这条登记没有加密保存的号码（登记时设备尚未接入街道，只存了打码号码）。",
    "this registration has no sealed numbers (the kiosk was not enrolled then; only masked numbers were kept).",
)
LOOKUP_UNREADABLE = ProblemType(
    "unreadable",
    409,
    "加密的号码无法用本街道的密钥打开（可能来自别的街道或已损坏）。",
    "the sealed numbers cannot be opened with this office's key (another office's, or damaged).",
)
LOOKUP_REFUSALS = {
    p.code: p
    for p in (LOOKUP_NOT_FOUND, LOOKUP_NOT_REGISTRATION, LOOKUP_PURGED, LOOKUP_NOTHING_SEALED, LOOKUP_UNREADABLE)
}

CATALOGUE: tuple[ProblemType, ...] = tuple(v for v in list(globals().values()) if isinstance(v, ProblemType))

# The domain codes whose status is not DOMAIN_ERROR's 400.
_DOMAIN = {p.code: p for p in (BAD_CODE, CODE_LOCKED, ALREADY_ENROLLED, NOT_LISTED, *LOOKUP_REFUSALS.values())}


def for_domain(code: str) -> ProblemType:
    """The catalogue entry of a domain error's code (`KakouError.code`)."""
    return _DOMAIN.get(code, DOMAIN_ERROR)


def for_http_status(status: int) -> ProblemType:
    """The entry for Starlette's own refusals (no such path, wrong method, ...)."""
    return {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 413: TOO_LARGE, 429: BUSY}.get(
        status, INTERNAL if status >= 500 else BAD_REQUEST
    )
