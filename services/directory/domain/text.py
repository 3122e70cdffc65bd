"""How a citizen's words find an agency: search keys built once per agency, and queries over them.

Each agency gets three search keys, kept in its row:
- `keywords`: its name, address, the names of its county, prefecture and province, the words for
  its kind (律师事务所, 律所, 律师) and its services, and place-plus-kind phrases (广州律师);
- `pinyin`: the same names, kind words and phrases in toneless pinyin syllables (guang zhou lv shi);
- `initials`: their pinyin initials (gzls, thls, gzzxlssws).

A search is one or more terms separated by spaces, each of at least two characters; every term
must match (AND). A Chinese term matches a substring of the keywords; a Latin term matches whole
pinyin syllables in sequence, or the start of a name's or place's pinyin when its last syllable is
unfinished ("guangzh"), or a substring of the initials; digits match the start of a number. So
"广州", "广州律师", "gzls", "guangzhou" and "天河 公证" all find what people expect.

On SQLite the keys are indexed by FTS5 as overlapping character pairs (so two-character words such
as 广州 or 公证 use the index too), pinyin syllables and whole values, and initials trigrams and
pairs. Queries never expand a prefix over syllables or initials: those terms are few and huge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from pypinyin import Style, lazy_pinyin

from contracts.vocabulary import ServiceType
from pls import divisions
from services.directory.domain.profile import kind_of

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_HAN}]+|[a-z]+|[0-9]+")
_HAN_RUN = re.compile(rf"^[{_HAN}]+$")
VALUE_SEPARATOR = "|"
INDEX_SEPARATOR = "0"  # a token no query produces, between values, so phrases never span two

ETHNIC_GROUPS = [
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
]
_AUTONOMOUS = re.compile(
    "^(.{2,}?)(?:(?:"
    + "|".join(sorted(ETHNIC_GROUPS, key=len, reverse=True))
    + ")族)+自治(?:州|县|旗)$"
)
_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "地区",
    "林区",
    "新区",
    "省",
    "市",
    "区",
    "县",
    "旗",
    "盟",
)
SYNTHETIC_PREFECTURES = {"市辖区县", "省直辖县级行政区划", "兵团师市"}


def short_place_name(name: str) -> str:
    """The name people say: 广州市 → 广州, 甘孜藏族自治州 → 甘孜, 天河区 → 天河."""
    match = _AUTONOMOUS.match(name)
    if match:
        return match.group(1)
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@lru_cache(maxsize=200_000)
def syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin of the Chinese in `text`, one syllable per character (ü written v)."""
    result = []
    for part in lazy_pinyin(text, style=Style.NORMAL, errors="ignore", v_to_u=False):
        part = part.lower()
        if part.isalpha() and part.isascii():
            result.append(part)
    return tuple(result)


@cache
def _readings() -> dict[str, str]:
    """The commonest toneless reading of every character pypinyin knows."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    return {
        chr(code): to_normal(readings.split(",")[0], v_to_u=False)
        for code, readings in pinyin_dict.items()
    }


@lru_cache(maxsize=10_000)
def _words_pattern(places: tuple[str, ...]) -> re.Pattern[str] | None:
    words = sorted({p for p in places if p}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, words))) if words else None


def name_syllables(name: str, places: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Pinyin of an agency's name, fast: place names in it read as places (长沙 chang sha), other
    characters by their commonest reading. Names are unique, so phrase lookups would not cache."""
    readings = _readings()
    pattern = _words_pattern(places)
    result: list[str] = []
    i = 0
    while i < len(name):
        found = pattern.match(name, i) if pattern is not None else None
        if found is not None:
            result.extend(syllables(found.group()))
            i = found.end()
            continue
        reading = readings.get(name[i])
        if reading is not None and reading.isascii() and reading.isalpha():
            result.append(reading)
        i += 1
    return tuple(result)


def initials_of(text: str) -> str:
    return "".join(s[0] for s in syllables(text))


@cache
def _place_words(county: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(full names, short names) of a county, its prefecture and its province, nearest first."""
    gazetteer = divisions.gazetteer()
    codes = [county, divisions.prefecture_of(county), divisions.province_of(county)]
    full: list[str] = []
    short: list[str] = []
    for code in codes:
        if code is None:
            continue
        name = gazetteer.name(code)
        if name in SYNTHETIC_PREFECTURES or name == code or name in full:
            continue
        full.append(name)
        short.append(short_place_name(name))
    return tuple(full), tuple(short)


@dataclass(frozen=True)
class SearchKeys:
    keywords: str
    pinyin: str
    initials: str
    tags: str  # the words of its place and kind alone, in the three forms, tab-separated


def search_keys(
    name: str, address: str, county: str, agency_type: str, services: Iterable[str]
) -> SearchKeys:
    kind = kind_of(agency_type)
    full_places, short_places = _place_words(county)
    service_words = [ServiceType(s).label for s in services]
    kind_words = list(dict.fromkeys(kind.words))
    phrases = [f"{place}{kind.keyword}" for place in short_places[:2]]
    chinese = [name, address, *full_places, *kind_words, *service_words, *phrases]
    spoken = [
        name_syllables(name, (*full_places, *short_places)),
        *(syllables(v) for v in (*short_places, *kind_words, *phrases)),
    ]
    tag_words = list(dict.fromkeys(v for v in (*short_places, *kind_words, *phrases) if v))
    tag_spoken = [syllables(v) for v in tag_words]
    return SearchKeys(
        keywords=VALUE_SEPARATOR.join(dict.fromkeys(v for v in chinese if v)),
        pinyin=VALUE_SEPARATOR.join(dict.fromkeys(" ".join(s) for s in spoken if s)),
        initials=_initials(spoken),
        tags="\t".join(
            (
                VALUE_SEPARATOR.join(tag_words),
                VALUE_SEPARATOR.join(dict.fromkeys(" ".join(s) for s in tag_spoken if s)),
                _initials(tag_spoken),
            )
        ),
    )


def _initials(spoken: Iterable[tuple[str, ...]]) -> str:
    return " ".join(dict.fromkeys("".join(x[0] for x in s) for s in spoken if len(s) > 1))


# -- the index's tokens (SQLite FTS5, unicode61 over pre-split text) -------------------------------


def chinese_tokens(keywords: str) -> str:
    """Overlapping character pairs of each Chinese run plus its last character; other runs whole."""
    tokens: list[str] = []
    for value in keywords.lower().split(VALUE_SEPARATOR):
        for run in _RUN.findall(value):
            if _HAN_RUN.match(run):
                tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
                tokens.append(run[-1])
            else:
                tokens.append(run)
    return " ".join(tokens)


WHOLE = "v"  # marks a whole value's pinyin: no syllable starts with v, so prefixes stay apart


def pinyin_tokens(pinyin: str) -> str:
    """Each value's syllables, then each value whole (vguangzhou), for unfinished last syllables."""
    values = pinyin.split(VALUE_SEPARATOR)
    whole = " ".join(WHOLE + value.replace(" ", "") for value in values)
    return f" {INDEX_SEPARATOR} ".join([*values, whole])


def tag_tokens(tags: str) -> str:
    """The tag column: a place's and kind's words as Chinese pairs, syllables and initials."""
    chinese, pinyin, initials = [*tags.split("\t"), "", "", ""][:3]
    return f" {INDEX_SEPARATOR} ".join(
        (chinese_tokens(chinese), pinyin_tokens(pinyin), initials_tokens(initials))
    )


def initials_tokens(initials: str) -> str:
    """Each value's initials as trigrams in order, then all its pairs (for two-letter searches)."""
    values = []
    pairs: list[str] = []
    for value in initials.split():
        if len(value) >= 3:
            values.append(" ".join(value[i : i + 3] for i in range(len(value) - 2)))
        pairs.extend(value[i : i + 2] for i in range(len(value) - 1))
    return f" {INDEX_SEPARATOR} ".join([*values, " ".join(dict.fromkeys(pairs))])


# -- queries -------------------------------------------------------------------------------------


@cache
def _pinyin_syllables() -> frozenset[str]:
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    found: set[str] = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            plain = to_normal(reading, v_to_u=False)
            if plain.isascii() and plain.isalpha():
                found.add(plain.lower())
    return frozenset(found)


@cache
def _syllable_prefixes() -> frozenset[str]:
    return frozenset(s[:i] for s in _pinyin_syllables() for i in range(1, len(s) + 1))


def segment_pinyin(text: str) -> tuple[list[str], bool] | None:
    """Split Latin letters into the fewest pinyin syllables; the last may be the start of one.

    Returns (syllables, last_is_partial), or None when the letters are not pinyin.
    """
    whole, prefixes = _pinyin_syllables(), _syllable_prefixes()
    n = len(text)
    best: list[tuple[int, list[str], bool] | None] = [None] * (n + 1)
    best[n] = (0, [], False)
    for i in range(n - 1, -1, -1):
        options = []
        for j in range(i + 1, min(n, i + 6) + 1):
            piece = text[i:j]
            rest = best[j]
            if piece in whole and rest is not None:
                options.append((rest[0] + 1, [piece, *rest[1]], rest[2]))
            elif j == n and piece in prefixes:
                options.append((1, [piece], True))
        if options:
            best[i] = min(options, key=lambda o: (o[0], o[2]))
    found = best[0]
    return (found[1], found[2]) if found else None


def warm_up() -> None:
    """Build the pinyin tables now rather than on the first search or event."""
    _kind_suffixes()
    _pinyin_syllables()
    _syllable_prefixes()
    _readings()


class EmptySearch(ValueError):
    """The search text has nothing in it that can be searched for."""


@dataclass(frozen=True)
class Term:
    """One run of a search: Chinese characters, Latin letters or digits."""

    text: str

    @property
    def is_chinese(self) -> bool:
        return bool(_HAN_RUN.match(self.text))

    @property
    def is_digits(self) -> bool:
        return self.text.isdigit()


def terms(search: str) -> list[Term]:
    """The runs of a search; each must be at least two characters (a single one matches
    nearly everything and tells nothing)."""
    found = [Term(run) for run in _RUN.findall(search.lower())]
    if not found:
        raise EmptySearch("search: give Chinese characters, pinyin or digits to search for")
    short = [t.text for t in found if len(t.text) < 2]
    if short:
        raise EmptySearch(f"search: {short[0]!r} is too short; give at least two characters")
    return list(dict.fromkeys(found))


def fts_expression(term: Term, *, tags_only: bool = False) -> str | None:
    """The FTS5 query for one term against the `zh`, `py` and `ini` columns, or against the
    `tag` column only (the words of an agency's place and kind: None when it cannot be there)."""
    zh, py, ini = ("tag", "tag", "tag") if tags_only else ("zh", "py", "ini")
    text = term.text
    if term.is_chinese:
        pairs = " ".join(text[i : i + 2] for i in range(len(text) - 1))
        return f'{{{zh}}}: "{pairs}"'
    if term.is_digits:
        return None if tags_only else f"{{zh}}: {text}*"
    # Latin letters: a word in a name, initials, or pinyin. No prefix search over syllables or
    # initials: their index terms are few and huge, and expanding them is what would be slow.
    options = [] if tags_only else [f"{{zh}}: {text}"]
    if len(text) == 2:
        options.append(f"{{{ini}}}: {text}")
    else:
        trigrams = " ".join(text[i : i + 3] for i in range(len(text) - 2))
        options.append(f'{{{ini}}}: "{trigrams}"')
    segmented = segment_pinyin(text)
    if segmented is not None:
        pieces, partial = segmented
        if not partial:
            options.append(f'{{{py}}}: "{" ".join(pieces)}"')
        elif len(text) >= 3:
            options.append(f"{{{py}}}: {WHOLE}{text}*")  # a name or place that starts so
    return "(" + " OR ".join(options) + ")"


@cache
def _kind_suffixes() -> dict[str, frozenset[str]]:
    """Each kind's words as people end a search with them: 律师, lvshi, ls; 公证, gongzheng, gz."""
    from services.directory.domain.profile import KINDS

    found: dict[str, set[str]] = {}
    for agency_type, kind in KINDS.items():
        for word in (kind.keyword, *kind.synonyms):
            spoken = syllables(word)
            for form in (word, "".join(spoken), "".join(s[0] for s in spoken)):
                found.setdefault(form, set()).add(agency_type)
    return {form: frozenset(kinds) for form, kinds in found.items()}


def implied_kinds(found: Iterable[Term]) -> tuple[str, ...]:
    """The kinds of agency a search names (广州律师, gzls, 天河 公证), which come first."""
    kinds: set[str] = set()
    for term in found:
        for form, named in _kind_suffixes().items():
            if term.text.endswith(form) if not term.is_chinese else form in term.text:
                kinds |= named
    return tuple(sorted(kinds))
