"""Normalising names for comparison: accents folded, case folded, nicknames to one given name,
organisations' legal suffixes dropped."""

from __future__ import annotations

import re
import unicodedata

# Each line: the given name first, then the nicknames and short forms that stand for it. A name on
# several lines (Ally: Alexandra, Alison) keeps the first; both still compare as similar by spelling.
_NICKNAMES = """
abigail abby abbie gail
albert al bert bertie
alexander alex alec sandy xander
alexandra alex alexa sandra sasha lexi
alfred alf alfie fred
alison ali allie
andrew andy drew
angela angie
anthony tony ant
barbara barb barbie babs
benjamin ben benny benji
bradley brad
catherine cathy cath kate katie kat
charles charlie chuck chas chaz
christine chris chrissy tina
christopher chris kit topher
cynthia cindy
daniel dan danny
david dave davey
deborah debbie deb debra
dominic dom
donald don donnie
dorothy dot dottie
douglas doug
edward ed eddie ted teddy ned
elizabeth liz lizzie beth betty betsy eliza libby lisa elise
eleanor ellie nora elly
emily em emmy
eugene gene
frances fran fanny
francis frank frankie
frederick fred freddie freddy
gabriel gabe
gerald gerry jerry
gregory greg
harold harry hal
henry hank harry
isabella bella izzy isabel
jacob jake
james jim jimmy jamie
jeffrey jeff
jennifer jen jenny jenn
jessica jess jessie
john jack johnny jon
jonathan jon jonny
joseph joe joey
joshua josh
judith judy
katherine kate kathy katie kat kathryn kathleen
kenneth ken kenny
lawrence larry laurie
leonard leo len lenny
louis lou louie
lucas luke
margaret maggie meg peggy marge madge greta
matthew matt
michael mike mick mikey mickey
nathaniel nate nat nathan
nicholas nick nicky
nicole nikki
pamela pam
patricia pat patty trish tricia
patrick pat paddy
peter pete
philip phil
rebecca becky becca
richard rick rich dick ricky
robert bob rob bobby robbie bert
ronald ron ronnie
samantha sam sammy
samuel sam sammy
stephen steve stevie steven
susan sue susie suzy
theodore theo ted teddy
thomas tom tommy
timothy tim timmy
victoria vicky tori
vincent vince vinny
walter walt wally
william bill will billy willy liam
zachary zach zack
"""

NICKNAMES: dict[str, str] = {}
for _line in _NICKNAMES.strip().splitlines():
    _canonical, *_others = _line.split()
    NICKNAMES.setdefault(_canonical, _canonical)
    for _other in _others:
        NICKNAMES.setdefault(_other, _canonical)

# Legal forms dropped from organisations' names before comparing ("Acme Inc." = "ACME, Ltd").
LEGAL_SUFFIXES = frozenset(
    """inc incorporated corp corporation co company ltd limited llc llp lp plc gmbh ag kg ohg ug mbh sa sas sarl
    sl srl spa bv nv oy ab as aps asa pty pte kk kft sro zoo sp the and et""".split()
)

_GIVEN_FORMS: dict[str, set[str]] = {}
for _name, _canonical in NICKNAMES.items():
    _GIVEN_FORMS.setdefault(_canonical, {_canonical}).add(_name)

_NOT_WORD = re.compile(r"[^\w]+")
_DIGITS_ONLY = re.compile(r"\W+")


def fold(value: str) -> str:
    """Lower case, accents removed, punctuation as single spaces: ``"  Zoë  O'Brien"`` → ``"zoe o brien"``."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = plain.replace("ß", "ss").replace("æ", "ae").replace("ø", "o").replace("œ", "oe").replace("ł", "l")
    return _NOT_WORD.sub(" ", plain).replace("_", " ").strip()


def given_name(value: str) -> str:
    """The first given name, folded and read through the nickname table: ``"Bob"`` → ``"robert"``."""
    folded = fold(value)
    if not folded:
        return ""
    first = folded.split()[0]
    return NICKNAMES.get(first, first)


def given_names(value: str) -> list[str]:
    """The spellings a given name is known by: ``"Bob"`` → Bob, robert, bob, bobby, rob, robbie…"""
    typed = value.strip()
    forms = sorted(_GIVEN_FORMS.get(given_name(typed), set()))
    return [typed, *forms]


def family_name(value: str) -> str:
    """A family name folded with its parts joined: ``"van der Berg"`` → ``"vanderberg"``."""
    return fold(value).replace(" ", "")


def organisation_name(value: str) -> str:
    """An organisation's name folded, without legal forms: ``"Acme Widgets GmbH & Co. KG"`` → ``"acme widgets"``."""
    words = [w for w in fold(value.replace("&", " and ")).split() if w not in LEGAL_SUFFIXES]
    return " ".join(words)


def identifier(value: object) -> str:
    """An identifier compared exactly: case, spaces and punctuation ignored (``"AB-12 34"`` = ``"ab1234"``)."""
    return _DIGITS_ONLY.sub("", fold(str(value))).replace("_", "") if value not in (None, "") else ""


def email_key(value: str) -> str:
    """An email address as one mailbox: lower case, ``+tags`` dropped, dots ignored at Gmail."""
    value = value.strip().lower()
    local, _, domain = value.rpartition("@")
    if not local:
        return value
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def street_key(value: str) -> str:
    """A street folded with common abbreviations spelled out (``"12 Main St."`` = ``"12 main street"``)."""
    words = fold(value).split()
    return " ".join(_STREET_WORDS.get(w, w) for w in words)


_STREET_WORDS = {
    "st": "street",
    "str": "strasse",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "blvd": "boulevard",
    "dr": "drive",
    "ln": "lane",
    "pl": "place",
    "sq": "square",
    "ct": "court",
    "cres": "crescent",
    "hwy": "highway",
    "pde": "parade",
    "tce": "terrace",
    "cl": "close",
}
