"""Synthetic people: names, phone numbers and valid-looking resident ID numbers for test traffic."""

from __future__ import annotations

import random
from datetime import date, timedelta

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强文杰晓明海燕红梅玉兰春梅德明"
)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    return rng.choice(SURNAMES) + given


def phone(rng: random.Random) -> str:
    return rng.choice(("138", "139", "150", "186", "177", "135")) + f"{rng.randrange(10**8):08d}"


def id_number(rng: random.Random, county: str) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
    body = f"{county}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def licence_number(rng: random.Random, province: str, kind: int) -> str:
    return f"{province[:2]}{rng.randrange(10**4):04d}{kind}{rng.randrange(10**8):08d}"
