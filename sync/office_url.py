"""The street office's address, as typed at enrolment.

Enrolment pins the office's root key and receives the community's lookup key, so whoever can
read or change that one exchange could later sign lists for the kiosk or test ID numbers
against its hashes. Plain http is therefore accepted only to this machine (a tunnel or a
reverse proxy on the kiosk itself) or when the technician says so explicitly; everything
else must be https.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from models.errors import KakouError


class OfficeUrlError(KakouError):
    code = "office_url"


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_office_url(text: str, *, allow_http: bool = False) -> str:
    """The address to use (trailing slash dropped), or OfficeUrlError saying what to type."""
    url = text.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise OfficeUrlError(
            f"街道服务器地址写得不对：{url or '（空）'}。请写完整地址，以 https:// 开头"
            "（本机上的服务器可用 http://），例如 https://office.example.cn",
            f"that is not an office address: {url or '(empty)'}. Type the whole address starting with https:// "
            "(http:// for a server on this machine), e.g. https://office.example.cn",
            code="bad_url",
        )
    if parts.query or parts.fragment:
        raise OfficeUrlError(
            "街道服务器地址不应带 ? 或 # 部分。", "the office address must not have a ? or # part.", code="bad_url"
        )
    if parts.scheme.lower() == "http" and not allow_http and not is_loopback(parts.hostname):
        raise OfficeUrlError(
            "登记必须用 https:// 地址：登记时交换的密钥不能明文传送。请向街道办要 https 地址；"
            "局域网内确需 http 时，由技术人员用命令 kakou enroll --allow-http 登记。",
            "enrolment needs an https:// address: the keys exchanged at enrolment must not travel in clear. "
            "Ask the office for its https address; on a trusted LAN a technician can use "
            "`kakou enroll --allow-http`.",
            code="plain_http",
        )
    return url.rstrip("/")
