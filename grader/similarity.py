"""Similarity of students' code, part by part: fingerprints of normalised tokens, selected by
winnowing (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003; the method of MOSS and Dolos), for the instructor to judge.

Each module is tokenised with :mod:`tokenize`; names become ``V``, strings ``S`` and numbers
``N``, and comments and layout are dropped, so renaming variables or reformatting changes
nothing. Every k-gram of tokens is hashed and winnowing keeps the smallest hash of each window
of ``w`` hashes: any match of at least ``k + w - 1`` tokens is found, whatever its place in the
file, so reordered functions still match. Every k-gram of the generated stub of the part
(:func:`grader.stubs.generate_stub` of ``solutions/``) is subtracted first: the code every
student was given is never evidence. A pair's overlap is the share of the two students'
fingerprints they have in common (Jaccard); :mod:`grader.similarity_report` writes the ranked
pairs as HTML (matched lines side by side) and CSV. Evidence for a person, never a grade.
"""

from __future__ import annotations

import functools
import hashlib
import io
import keyword
import re
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from challenge.errors import ChallengeError
from challenge.impl import STUDENT_MODULES
from challenge.safezip import UnsafeZip, list_entries
from grader.board.names import student_from_filename

K = 12                    # tokens per k-gram (noise threshold: shorter matches are ignored)
W = 8                     # winnowing window: every match of K + W - 1 tokens is caught
MAX_MODULE_BYTES = 1 << 20
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
         tokenize.ENDMARKER, tokenize.NEWLINE}
_FALLBACK = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\"[^\"\n]*\"|'[^'\n]*'|\S")


def tokens(source: str) -> list[tuple[str, int]]:
    """``(normalised token, line)`` of a module; a file :mod:`tokenize` refuses (a syntax
    error) is split by a plain pattern instead, so broken code is still compared."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in _SKIP:
                continue
            out.append((_normal(tok.type, tok.string), tok.start[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = []
        for number, line in enumerate(source.splitlines(), 1):
            code = line.split("#", 1)[0]
            out += [(_normal(None, m.group()), number) for m in _FALLBACK.finditer(code)]
    return out


def _normal(kind, text: str) -> str:
    if kind == tokenize.STRING or text[:1] in "\"'":
        return "S"
    if kind == tokenize.NUMBER or text[:1].isdigit():
        return "N"
    if (kind == tokenize.NAME or text[:1].isalpha() or text[:1] == "_") \
            and not keyword.iskeyword(text):
        return "V"
    return text


def _kgram_hashes(toks: list[tuple[str, int]], k: int = K) -> list[tuple[int, int, int]]:
    """``(hash, first line, last line)`` of every k-gram."""
    out = []
    for i in range(len(toks) - k + 1):
        text = "\x1f".join(t for t, _ in toks[i:i + k])
        h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
        out.append((h, toks[i][1], toks[i + k - 1][1]))
    return out


def winnow(grams: list[tuple[int, int, int]], w: int = W) -> list[tuple[int, int, int]]:
    """The fingerprints of ``grams``: the minimum of each window of ``w`` (the rightmost on a
    tie), each position once (Schleimer et al. 2003, section 3)."""
    if len(grams) <= w:
        return [min(grams, key=lambda g: g[0])] if grams else []
    chosen: dict[int, tuple[int, int, int]] = {}
    for start in range(len(grams) - w + 1):
        window = grams[start:start + w]
        low = min(g[0] for g in window)
        pos = start + max(i for i, g in enumerate(window) if g[0] == low)
        chosen[pos] = grams[pos]
    return [chosen[p] for p in sorted(chosen)]


@dataclass
class Fingerprints:
    """One module's fingerprints: hash -> the line ranges where it occurs."""

    source: str
    where: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, source: str, boilerplate: set[int] = frozenset()) -> "Fingerprints":
        fp = cls(source)
        for h, first, last in winnow(_kgram_hashes(tokens(source))):
            if h not in boilerplate:
                fp.where.setdefault(h, []).append((first, last))
        return fp


def boilerplate(part: str, root: Path | None = None) -> set[int]:
    """Every k-gram hash of the stub students were given for ``part``: generated from
    ``solutions/`` where the kit has it, else the kit's own stub in ``challenge/``."""
    from grader.stubs import generate_stub, repo_root

    root = root or repo_root()
    reference = root / "solutions" / f"{part}.py"
    if reference.is_file():
        stub = generate_stub(reference.read_text(encoding="utf-8"), str(reference))
    else:
        given = root / "challenge" / f"{part}.py"
        stub = given.read_text(encoding="utf-8") if given.is_file() else ""
    return {h for h, _, _ in _kgram_hashes(tokens(stub))}


def read_modules(path: Path) -> dict[str, str]:
    """The student modules (``modules/<part>.py``) of one submission zip, read with the
    submission limits (:mod:`challenge.safezip`); a zip that cannot be read gives none."""
    try:
        infos = list_entries(path, max_files=64, max_bytes=512 << 20)
    except UnsafeZip:
        return {}
    wanted = {f"modules/{m}.py": m for m in STUDENT_MODULES}
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in infos:
                part = wanted.get(info.filename)
                if part is None or info.file_size > MAX_MODULE_BYTES:
                    continue
                with zf.open(info) as f:
                    out[part] = f.read(MAX_MODULE_BYTES).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
            RuntimeError, ValueError):
        return {}   # a broken zip is the grade's to report; it is no evidence of anything
    return out


def newest_per_student(folder: str | Path) -> dict[str, Path]:
    """Each student's newest ``*.zip`` of ``folder`` (by file time, then name); predictions
    files and names that are not a safe student id are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ChallengeError(f"submissions folder {folder} does not exist: pass a folder of "
                             "*.zip submissions")
    best: dict[str, Path] = {}
    for p in sorted(folder.glob("*.zip")):
        try:
            student = student_from_filename(p)
        except ChallengeError:
            continue
        if student not in best or (p.stat().st_mtime, p.name) > (best[student].stat().st_mtime,
                                                                  best[student].name):
            best[student] = p
    if len(best) < 2:
        raise ChallengeError(f"{folder} holds code submissions (*.zip) of {len(best)} "
                             "student(s); similarity needs at least two")
    return best


@dataclass(frozen=True)
class PartMatch:
    """One part of one pair: the fingerprints in common and where they lie on each side."""

    part: str
    shared: int
    union: int
    lines_a: tuple[tuple[int, int], ...]
    lines_b: tuple[tuple[int, int], ...]
    identical: bool

    @property
    def overlap(self) -> float:
        return self.shared / self.union if self.union else 0.0


@dataclass(frozen=True)
class Pair:
    """Two students, their parts compared; ``overlap``: shared fingerprints over all those of
    the two, every part together (0: nothing in common beyond the stubs, 1: the same code)."""

    a: str
    b: str
    parts: tuple[PartMatch, ...]

    @property
    def overlap(self) -> float:
        union = sum(p.union for p in self.parts)
        return sum(p.shared for p in self.parts) / union if union else 0.0


def compare(modules: dict[str, dict[str, str]], root: Path | None = None) -> list[Pair]:
    """Every pair of students of ``modules`` (student -> part -> source), ranked by overlap,
    the highest first (ties by name)."""
    parts = sorted({part for m in modules.values() for part in m})
    common = {part: boilerplate(part, root) for part in parts}
    prints = {s: {part: Fingerprints.of(src, common[part]) for part, src in m.items()}
              for s, m in modules.items()}
    students = sorted(modules)
    pairs = []
    for i, a in enumerate(students):
        for b in students[i + 1:]:
            matches = tuple(_match(part, prints[a].get(part), prints[b].get(part))
                            for part in parts if part in prints[a] or part in prints[b])
            pairs.append(Pair(a, b, matches))
    return sorted(pairs, key=lambda p: (-p.overlap, p.a, p.b))


def _match(part: str, fa: Fingerprints | None, fb: Fingerprints | None) -> PartMatch:
    ha, hb = set(fa.where) if fa else set(), set(fb.where) if fb else set()
    shared = ha & hb
    identical = bool(fa and fb and shared and fa.source == fb.source)
    return PartMatch(part, len(shared), len(ha | hb),
                     _ranges(fa, shared), _ranges(fb, shared), identical)


def _ranges(fp: Fingerprints | None, hashes: set[int]) -> tuple[tuple[int, int], ...]:
    """The line ranges of ``hashes`` in ``fp``, merged where they touch."""
    spans = sorted(span for h in hashes for span in (fp.where.get(h, []) if fp else []))
    merged: list[list[int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return tuple((a, b) for a, b in merged)


def identical_modules(paths: list[Path]) -> list[str]:
    """For the folder grade's review: students whose zips hold a byte-identical module that
    is not the untouched stub (a stub is identical for everyone and proves nothing); each
    student is named by the file's name."""
    found = []
    for path in paths:
        if path.suffix.lower() != ".zip":
            continue
        try:
            student = student_from_filename(path)
        except ChallengeError:
            continue
        found.append((student, module_digests(path)))
    return identical_notes(found)


def module_digests(path: Path) -> dict[str, str]:
    """The sha256 of each student module in the zip at ``path`` that is not the untouched
    stub ({} for a zip that cannot be read: no evidence of anything)."""
    out = {}
    for part, source in read_modules(path).items():
        digest = hashlib.sha256(source.encode()).hexdigest()
        if digest not in _stub_hashes(part):
            out[part] = digest
    return out


def identical_notes(found: Iterable[tuple[str, dict[str, str]]]) -> list[str]:
    """One note per module that two or more students share byte for byte, from each
    student's :func:`module_digests` (a student may come with several files)."""
    seen: dict[tuple[str, str], set[str]] = {}
    for student, digests in found:
        for part, digest in digests.items():
            seen.setdefault((part, digest), set()).add(student)
    return [f"{', '.join(sorted(who))}: byte-identical modules/{part}.py (evidence for you to "
            f"judge: `challenge similarity` ranks near copies too)"
            for (part, _), who in sorted(seen.items()) if len(who) > 1]


@functools.lru_cache(maxsize=None)
def _stub_hashes(part: str) -> frozenset[str]:
    from grader.stubs import generate_stub, repo_root

    root = repo_root()
    out = set()
    given = root / "challenge" / f"{part}.py"
    if given.is_file():
        out.add(hashlib.sha256(given.read_bytes()).hexdigest())
    reference = root / "solutions" / f"{part}.py"
    if reference.is_file():
        stub = generate_stub(reference.read_text(encoding="utf-8"), str(reference))
        out.add(hashlib.sha256(stub.encode()).hexdigest())
    return frozenset(out)
