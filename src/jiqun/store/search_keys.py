"""Search keys of a customer (客户检索键): what a search for a name fragment, pinyin initials (拼音首字母),
full pinyin, a code or a phone is matched against.

Two keys are stored with every customer, kept in step by the model (``jiqun.store.models``) on
every insert and every change of name, code or phone:

* :func:`fragment_key` — the name and its pinyin initials, every character written three times
  (``虞城`` → ``虞虞虞城城城``). A search of one or two characters (``服装``, ``hf``) has no trigram
  of its own, so PostgreSQL's trigram index could not narrow it down; widened the same way
  (:func:`widen`) it has, and a widened fragment occurs in a widened key exactly where the
  fragment occurs in the name (the words are separated by a space, which a search never holds).
* :func:`words_key` — full pinyin, code and phone as they are (lower case), matched from three
  characters on: a fragment of a phone or code shorter than that finds half the archive.

Both are plain text and matched with ``LIKE``: on PostgreSQL with trigram (pg_trgm) indexes, on
SQLite by a scan, which is right for the small deployments SQLite serves. pypinyin is imported on
first use: loading its dictionaries takes 0.3 s, which a command that never writes a customer
should not pay.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

# A name whose characters have several readings (长葛: chang/zhang) gets the initials of each
# combination, up to this many, so a merchant's own way of reading it finds the shop too.
MAX_INITIALS_VARIANTS = 4
WORDS_MIN_LENGTH = 3  # a search this long is also matched against full pinyin, code and phone
_SPACE = re.compile(r"\s+")
_LATIN = re.compile(r"[^a-z0-9]")


def normalize(text: str | None) -> str:
    """What both a key and a search are written in: NFKC (full-width ``ＡＢ１`` → ``ab1``), lower
    case, no white space."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or "")).lower()


def widen(text: str) -> str:
    """Every character three times (see the module's docstring)."""
    return "".join(c * 3 for c in text)


@cache
def _pypinyin():
    import pypinyin

    return pypinyin


_OTHER = "\x00"  # marks what pypinyin hands back as it is (Latin letters, digits, punctuation)


@lru_cache(maxsize=256)  # a write asks for both keys of one name: one pypinyin call
def _readings(text: str) -> tuple[tuple[bool, tuple[str, ...]], ...]:
    """Per Chinese character ``(True, its readings)``, the usual one first (a phrase's own
    reading alone); per run of other characters ``(False, (the run,))``, letters and digits
    only."""
    pypinyin = _pypinyin()
    found = []
    for readings in pypinyin.pinyin(text, style=pypinyin.Style.NORMAL, heteronym=True,
                                    errors=lambda other: _OTHER + other):
        chinese = not readings[0].startswith(_OTHER)
        latin = tuple(dict.fromkeys(_LATIN.sub("", r) for r in readings))
        if latin[0]:
            found.append((chinese, latin))
    return tuple(found)


def full_pinyin(name: str | None) -> str:
    """``虞城服装`` → ``yuchengfuzhuang`` (the usual reading; letters and digits kept)."""
    return "".join(readings[0] for _, readings in _readings(normalize(name)))


def initials(name: str | None) -> list[str]:
    """Pinyin initials (拼音首字母): ``虞城服装`` → ``["ycfz"]``; the usual reading first, then each
    other reading of one character (``长葛`` → ``["zg", "cg"]``), at most
    :data:`MAX_INITIALS_VARIANTS`. Letters and digits among the characters are kept whole."""
    letters = [tuple(dict.fromkeys(r[0] for r in readings)) if chinese else readings
               for chinese, readings in _readings(normalize(name))]
    usual = [first[0] for first in letters]
    found = ["".join(usual)]
    for i, others in enumerate(letters):
        for other in others[1:]:
            found.append("".join([*usual[:i], other, *usual[i + 1:]]))
            if len(found) >= MAX_INITIALS_VARIANTS:
                return found
    return found


def fragment_key(name: str | None) -> str:
    """The widened name and initials, one word each."""
    return " ".join(widen(w) for w in (normalize(name), *initials(name)) if w)


def words_key(name: str | None, code: str | None, phone: str | None) -> str:
    """Full pinyin, code and phone, one word each."""
    return " ".join(w for w in (full_pinyin(name), normalize(code), normalize(phone)) if w)


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern whose escape character is ``\\``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
