"""Origins, NATS subjects and JetStream stream names: the fixed public naming of the federation."""

from __future__ import annotations

import re
from typing import Final

# The 32 provincial-level platforms: 31 provinces, autonomous regions and municipalities by their
# GB/T 2260 codes, and the Xinjiang Production and Construction Corps, which uses 660000.
PROVINCES: Final[dict[str, str]] = {
    "110000": "北京市",
    "120000": "天津市",
    "130000": "河北省",
    "140000": "山西省",
    "150000": "内蒙古自治区",
    "210000": "辽宁省",
    "220000": "吉林省",
    "230000": "黑龙江省",
    "310000": "上海市",
    "320000": "江苏省",
    "330000": "浙江省",
    "340000": "安徽省",
    "350000": "福建省",
    "360000": "江西省",
    "370000": "山东省",
    "410000": "河南省",
    "420000": "湖北省",
    "430000": "湖南省",
    "440000": "广东省",
    "450000": "广西壮族自治区",
    "460000": "海南省",
    "500000": "重庆市",
    "510000": "四川省",
    "520000": "贵州省",
    "530000": "云南省",
    "540000": "西藏自治区",
    "610000": "陕西省",
    "620000": "甘肃省",
    "630000": "青海省",
    "640000": "宁夏回族自治区",
    "650000": "新疆维吾尔自治区",
    "660000": "新疆生产建设兵团",
}

MINISTRY: Final = "moj"
ORIGINS: Final[tuple[str, ...]] = (*PROVINCES, MINISTRY)

SUBJECT_ROOT: Final = "pls"
_TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")


def is_origin(origin: str) -> bool:
    """Whether `origin` names a province (six-digit code) or the ministry."""
    return origin in PROVINCES or origin == MINISTRY


def subject_for(origin: str, aggregate: str, event: str) -> str:
    """`pls.<origin>.<aggregate>.<event>`, e.g. `pls.440000.case.opened`."""
    if not is_origin(origin):
        raise ValueError(f"unknown origin {origin!r}")
    for token in (aggregate, event):
        if not _TOKEN.match(token):
            raise ValueError(f"subject token {token!r} must be lower case letters, digits, '_'")
    return f"{SUBJECT_ROOT}.{origin}.{aggregate}.{event}"


def parse_subject(subject: str) -> tuple[str, str, str]:
    """Split a subject into (origin, aggregate, event); ValueError if it is not one of ours."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[0] != SUBJECT_ROOT or not is_origin(parts[1]):
        raise ValueError(f"{subject!r} is not a pls.<origin>.<aggregate>.<event> subject")
    return parts[1], parts[2], parts[3]


def origin_subjects(origin: str) -> str:
    """The wildcard covering everything one origin publishes: `pls.<origin>.>`."""
    if not is_origin(origin):
        raise ValueError(f"unknown origin {origin!r}")
    return f"{SUBJECT_ROOT}.{origin}.>"


def stream_name(origin: str) -> str:
    """The JetStream stream holding one origin's subjects, e.g. `PLS_440000`, `PLS_MOJ`."""
    if not is_origin(origin):
        raise ValueError(f"unknown origin {origin!r}")
    return f"PLS_{origin.upper()}"


def source_for(origin: str, service: str) -> str:
    """The CloudEvents `source` of a service, e.g. `/pls/440000/province-node`."""
    if not is_origin(origin):
        raise ValueError(f"unknown origin {origin!r}")
    return f"/{SUBJECT_ROOT}/{origin}/{service}"


def origin_of_source(source: str) -> str:
    """The origin named by a CloudEvents `source`; ValueError if it names none."""
    parts = source.split("/")
    if len(parts) != 4 or parts[0] != "" or parts[1] != SUBJECT_ROOT or not is_origin(parts[2]):
        raise ValueError(f"source {source!r} is not /pls/<origin>/<service>")
    return parts[2]
