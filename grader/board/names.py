"""Student names: the ids a folder grade and a roster accept (:func:`student_id`), which names
are safe to store and show, and which pass for another student's.

A name comes from a submission's file name, so it is checked before it reaches the leaderboard,
a report or a spreadsheet export; :func:`lookalike_problem` keeps one student from posing as
another on the board with a name drawn the same way.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata

from challenge.errors import ChallengeError

MAX_NAME = 64


def check_student_name(name: str) -> str:
    """Return ``name`` if it is safe as a student identity, else raise :class:`ChallengeError`.

    Rejected: empty, longer than 64 characters, path separators or ``:``, control/format
    characters or line breaks, leading or trailing spaces, a leading ``.`` or a leading
    ``= + - @`` (spreadsheet formula triggers in an LMS import), names starting with ``__``
    (reserved for ``__baseline__`` / ``__reference__``), compatibility forms (fullwidth
    letters, ligatures, superscripts) and letters of two look-alike scripts in one name (a
    Cyrillic ``а`` inside a Latin name). Accented letters and any single script are fine.
    The name comes back in Unicode NFC form, so a composed and a decomposed ``é`` (macOS file
    names) are one student.
    """
    problem = _name_problem(name)
    if problem:
        raise ChallengeError(f"unsafe student name {name!r}: {problem}; rename the submission "
                             "to letters, digits, '.', '_' or '-' (e.g. alice.zip)")
    return unicodedata.normalize("NFC", name)


def _name_problem(name: str) -> str:
    if not isinstance(name, str) or not name:
        return "empty"
    if len(name) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if any(c in "/\\:" for c in name):
        return "contains a path separator"
    if any(unicodedata.category(c)[0] == "C" or (c.isspace() and c != " ") for c in name):
        return "contains a control character"
    if name != name.strip():
        return "starts or ends with a space"
    if name[0] in ".=+-@":
        return f"starts with {name[0]!r}"
    if name.startswith("__"):
        return "names starting with '__' are reserved for the baseline and reference rows"
    if unicodedata.normalize("NFKC", name) != unicodedata.normalize("NFC", name):
        return "contains compatibility characters (fullwidth letters, ligatures or superscripts)"
    mixed = sorted(_scripts(name) & _LOOKALIKE_SCRIPTS)
    if len(mixed) > 1:
        scripts = " and ".join(s.title() for s in mixed)
        return f"mixes {scripts} letters (a look-alike of another name)"
    return ""


_SAFE = re.compile(r"[a-z0-9][a-z0-9._-]*")


def student_id(name: str) -> str:
    """The student identity ``name`` stands for: NFKC-normalised and case-folded, so ``Alice``
    and ``ALICE`` are one student; :class:`ChallengeError` unless it is then made of ASCII
    letters, digits, ``.``, ``_`` and ``-`` only, starts with a letter or digit, and has at most
    64 characters. Anything else (accents, other scripts, joiners, variation selectors, fillers,
    blanks that print as nothing, look-alike letters such as a dotless ``ı``) could pass for
    another student's name on a board; the message says how to rename. A roster
    (:mod:`grader.board.roster`) gives each id a display name of any script."""
    problem = id_problem(name)
    if problem:
        raise ChallengeError(f"unsafe student name {name!r}: {problem}; rename the submission "
                             "to ASCII letters, digits, '.', '_' or '-' (e.g. alice.zip); a "
                             "roster (--roster) can show the full name, under `name`")
    return unicodedata.normalize("NFKC", name).casefold()


def id_problem(name: str) -> str:
    """Why ``name`` is no student id (:func:`student_id`'s rules), or ``""`` when it is one."""
    if not isinstance(name, str) or not name:
        return "empty"
    if name.startswith("__"):
        return "names starting with '__' are reserved for the baseline and reference rows"
    folded = unicodedata.normalize("NFKC", name).casefold()
    if len(folded) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if any(c in "/\\:" for c in folded):
        return "contains a path separator"
    if any(unicodedata.category(c)[0] == "C" or c.isspace() for c in name):
        return "contains a control character or a space"
    bad = sorted({c for c in folded if not (c.isascii() and (c.isalnum() or c in "._-"))})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in bad[:3])
        return f"contains characters outside ASCII letters, digits, '.', '_', '-' ({shown})"
    if not _SAFE.fullmatch(folded):
        return f"starts with {folded[0]!r}"
    return ""


# Scripts whose letters pass for one another (Unicode TR 39, "mixed-script confusables").
_LOOKALIKE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})
# Cyrillic and Greek letters drawn like a Latin one: the same name in another script.
_LOOKALIKES = str.maketrans("АВЕЅІЈКМНОРСТУХԚԜӀаеѕіјорсухԁһԛԝӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧαοριυνχκ",
                            "ABESIJKMHOPCTYXQWIaesijopcyxdhqwlABEZHIKMNOPTYXaopiuvxk")


# ASCII punctuation, dropped from a skeleton: a dot, a dash or an underscore is easily missed
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _scripts(name: str) -> set[str]:
    """The scripts of the letters of ``name`` (the first word of each letter's Unicode name)."""
    return {unicodedata.name(c, "UNKNOWN").split()[0] for c in name if c.isalpha()}


@functools.lru_cache(maxsize=4096)   # a batch compares every new name with every name on the board
def name_skeletons(name: str) -> frozenset[str]:
    """What ``name`` looks like: Cyrillic/Greek look-alikes read as Latin, case ignored, the
    digit ``0`` read as ``o`` (Unicode TR 39 lists it as confusable). A capital ``I`` is drawn
    like ``l`` in many fonts and is ``i`` by case, and the digit ``1`` passes for ``l`` or for
    a capital ``I``, so a name has one skeleton for each reading of those. Two students who
    share a skeleton (``alice``, ``Alice``, ``a1ice``, ``aIice``, ``AL1CE``, an all-Cyrillic
    ``аlісе``) cannot be told apart on the board. ASCII punctuation is dropped, as a reader
    skips it (``al-ice``, ``alice.``, ``b.o.b``, ``bob_``, ``rn.allory``), unless the name is
    nothing else. Accents are not folded: ``jose`` and ``josé`` stay two names."""
    latin = unicodedata.normalize("NFKC", name).translate(_LOOKALIKES)
    latin = latin.translate(_PUNCTUATION) or latin   # "al-ice", "b.o.b", "bob_" read as letters
    latin = latin.replace("0", "o").replace("rn", "m").replace("vv", "w")   # drawn alike
    return frozenset(latin.replace("I", capital_i).replace("1", one).casefold()
                     for capital_i in "il" for one in "il")


def lookalike_problem(name: str, others, where: str = "already on the leaderboard",
                      fix: str | None = None) -> str:
    """A reason when ``name`` looks like (but is not) one of ``others`` (``where`` they are);
    else ``""``. ``fix`` says what to do about it ("{other}" stands for the look-alike); by
    default, rename this file. A name already among ``others`` passes (a board from before this
    rule may hold look-alikes)."""
    others = set(others)
    if name in others:
        return ""
    skeletons = name_skeletons(name)
    fix = fix or ("if it is the same student, name the file {other!r}, else choose a name that "
                  "cannot be mistaken for it")
    for other in sorted(others):
        if other != name and name_skeletons(other) & skeletons:
            return f"student name {name!r} looks like {other!r}, {where}; " + fix.format(
                other=other)
    return ""


SUFFIXES = (".zip", ".csv")


def student_from_filename(path) -> str:
    """``alice.zip`` -> ``alice``; ``alice__2.csv`` -> ``alice``; unsafe -> ChallengeError: a
    folder of submissions names each student by everything before the first double
    underscore (the manifest's own name is not trusted)."""
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return student_id(name.split("__", 1)[0] if not name.startswith("__") else name)


def is_plain(name: str) -> bool:
    """Whether ``name`` is made of ASCII letters alone (``alice``, ``bob``): no digit drawn
    like a letter, no punctuation, no other script, so when it shares a skeleton with a name
    that is not plain, that other name imitates it. (``arnold`` and ``amold`` are both plain:
    neither imitates the other.)"""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return folded.isascii() and folded.isalpha()


def imitators(names) -> dict[str, str]:
    """Among ``names`` (new in one batch), each name that looks like another of them, with the
    reason. A look-alike of a plain name (:func:`is_plain`: ``a1ice``, ``alice.`` beside
    ``alice``) is held back alone and the plain name is graded; two look-alikes with no plain
    name between them (``a1ice`` and ``al1ce``) are both held back, since nothing says which one
    is the real student."""
    names = set(names)
    out: dict[str, str] = {}
    for name in sorted(names):
        others = {o for o in names - {name} if name_skeletons(o) & name_skeletons(name)}
        if not others:
            continue
        plain = sorted(o for o in others if is_plain(o))
        if is_plain(name) and not plain:
            continue                                  # the others imitate this one
        if plain and not is_plain(name):
            out[name] = (f"student name {name!r} looks like {plain[0]!r}, also in this batch, "
                         f"so it is held back and {plain[0]!r} is graded; if it is the same "
                         f"student, name the file {plain[0]!r}, else choose a name that cannot "
                         f"be mistaken for it")
        else:
            other = sorted(others)[0]
            out[name] = (f"student name {name!r} looks like {other!r}, also in this batch, so "
                         f"neither is graded; rename one of the two files (to the same name if "
                         f"they are one student)")
    return out
