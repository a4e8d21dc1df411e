"""``challenge data import NAME --format tsv|csv|maildir|mbox PATH[:LABEL]...``: an
instructor's own labelled mail, stored exactly like the built-in corpus (``corpora/NAME/``) so
that stats, split, train and grade treat it the same way.

* ``tsv``: ``label<TAB>text`` per line, no header (the SMS Spam Collection layout).
* ``csv``: a header row; label and text columns found by name (``--label-col``/``--text-col``
  override); any encoding (``--encoding``, else UTF-8, cp1252, latin-1 in turn). Unreadable
  rows are skipped and reported with their line numbers (as an editor counts them).
* ``maildir``: a folder tree with ``ham/`` and ``spam/`` folders (Enron style), one message
  per file, parsed like the SpamAssassin mail; symbolic links are followed. With ``--label``
  (or a ``:LABEL`` suffix) every file gets that label; with ``--label-from-name`` each file
  gets the label of the first rule its name matches (``'spmsg*=spam'``, Ling-Spam style),
  else ``--default-label``.
* ``mbox``: one mbox file per source; its messages get the source's ``:LABEL``, ``--label``
  or the label of a rule matching the file name.

Several sources go into one corpus (``ham.mbox:ham spam.mbox:spam``), and ``--append`` adds
them to the corpus already stored. A corpus with splits or hidden sets is changed only with
``--force``, which removes them (and says so). Labels may be ham/spam, 0/1 or legit/spam in
any case. When every file name carries the MD5 of its content (SpamAssassin-derived copies),
each is checked and the corpus is recorded ``verified``. Copies of one text are counted
(extra copies, distinct texts) and reported at import.
"""

from __future__ import annotations

import hashlib
import mailbox
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from challenge.data.corpus import (
    Message,
    check_name,
    corpus_dir,
    duplicate_groups,
    load_corpus,
    load_meta,
    write_corpus,
)
from challenge.data.lineage import guard_replace, invalidate
from challenge.data.parse import parse_fallback, parse_message
from challenge.data.sources import (
    Labeller,
    Source,
    md5_mismatches,
    md5_named,
    message_files,
    parse_rules,
    parse_source,
    walk_dirs,
)
from challenge.data.tabular import csv_rows, label_or_error, read_text, tsv_rows
from challenge.errors import ChallengeError
from challenge.progress import bar

FORMATS = ("tsv", "csv", "maildir", "mbox")
_SHOW = 10


@dataclass
class ImportResult:
    """What an import stored, every row it could not read, and what it replaced."""

    corpus: str
    format: str
    source: str
    messages: int
    ham: int
    spam: int
    groups: dict[str, int]
    encoding: str
    parse_failures: int
    skipped: list[dict] = field(default_factory=list)
    added: int = 0
    verified: bool = False
    md5_mismatches: list[str] = field(default_factory=list)
    duplicates: dict = field(default_factory=dict)
    replaced: int = 0
    invalidated: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        verb = f"added {self.added:,} messages to" if self.added != self.messages else "imported"
        text = (f"{verb} {self.corpus} from {self.source} ({self.format}): {self.messages:,} "
                f"messages ({self.ham:,} ham, {self.spam:,} spam)")
        if self.skipped:
            lines = ", ".join(str(s["line"]) for s in self.skipped[:_SHOW])
            more = f" and {len(self.skipped) - _SHOW} more" if len(self.skipped) > _SHOW else ""
            text += (f"; {len(self.skipped)} unreadable rows skipped, at lines {lines}{more} "
                     f"(first: {self.skipped[0]['reason']}); all are listed in meta.json")
        if self.verified:
            text += "; every file matches the MD5 in its name (verified)"
        elif self.md5_mismatches:
            text += (f"; {len(self.md5_mismatches)} files do not match the MD5 in their name "
                     f"(first: {self.md5_mismatches[0]}), so the corpus is not verified")
        d = self.duplicates
        if d.get("extra_copies"):
            text += (f"; duplicates: {d['extra_copies']:,} extra copies of {d['groups']:,} "
                     f"distinct texts ({d['messages']:,} messages; a split keeps each text's "
                     f"copies on one side)")
        if self.replaced:
            text += f"; replaced the {self.replaced:,} messages stored before"
        if self.invalidated:
            text += (f"; removed the splits and hidden sets made from the old corpus "
                     f"({', '.join(self.invalidated)}): run `challenge data split "
                     f"{self.corpus} --seed S` and `challenge hidden make` again")
        return text


def _parsed(mid: str, group: str, label: int, raw: bytes, failed: list[str]) -> Message:
    try:
        p = parse_message(raw)
    except Exception:  # noqa: BLE001 - counted as a parse failure, the text is still kept
        p = parse_fallback(raw)
        failed.append(mid)
    return Message(id=mid, group=group, label=label, subject=p.subject, body=p.body,
                   headers=p.headers)


@dataclass
class _Found:
    """Messages of one source and what reading it found."""

    messages: list[Message]
    skipped: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    encoding: str = ""
    md5_files: list[Path] | None = None       # every file MD5-named: these
    md5_bad: list[str] = field(default_factory=list)


def _label_roots(path: Path, label: int | None) -> list[tuple[Path, int]]:
    if label is not None:
        return [(path, label)]
    roots = []
    for folder, dirs, _ in walk_dirs(path):
        for d in list(dirs):
            if d.lower() in ("ham", "spam"):
                roots.append((folder / d, int(d.lower() == "spam")))
                dirs.remove(d)
    if not roots:
        raise ChallengeError(f"no ham/ or spam/ folder under {path}; arrange the messages as "
                             "ham/ and spam/ subfolders, pass --label for all of them, or "
                             "label them by file name with --label-from-name 'PATTERN=spam' "
                             "--default-label ham")
    return roots


def _maildir(path: Path, label: int | None, labeller: Labeller) -> _Found:
    if not path.is_dir():
        raise ChallengeError(f"{path} is not a folder; --format maildir needs a folder with "
                             "ham/ and spam/ subfolders")
    if label is None and labeller:
        files = message_files(path)
        labels = labeller.labels(path, [f.relative_to(path).as_posix() for f in files])
        jobs = [(path, lab, f) for f, lab in zip(files, labels)]
    else:
        jobs = [(root, lab, f) for root, lab in _label_roots(path, label)
                for f in message_files(root)]
    found = _Found([])
    contents = []
    for root, lab, file in bar(jobs, desc="parse", unit="msg"):
        parent = root.parent.relative_to(path) if root != path else Path(".")
        group = "imported" if str(parent) == "." else parent.as_posix()
        raw = file.read_bytes()
        contents.append(raw)
        found.messages.append(_parsed(file.relative_to(path).as_posix(), group, lab, raw,
                                      found.failed))
    files = [f for _, _, f in jobs]
    if md5_named(files):
        found.md5_files, found.md5_bad = files, md5_mismatches(files, contents)
    return found


def _mbox(path: Path, label: int | None, labeller: Labeller) -> _Found:
    if not path.is_file():
        raise ChallengeError(f"{path} is not a file; --format mbox needs one mbox file")
    if label is None:
        label = labeller.label(path.name) if labeller else None
    if label is None:
        raise ChallengeError(f"an mbox carries no labels; write {path}:ham or {path}:spam, "
                             f"pass --label ham or --label spam, or a --label-from-name rule "
                             f"matching {path.name}")
    box = mailbox.mbox(path, create=False)
    found = _Found([])
    try:
        keys = list(box.keys())
        found.messages = [_parsed(f"mbox/{n:06d}", "imported", label, box.get_bytes(k),
                                  found.failed)
                          for n, k in enumerate(bar(keys, desc="parse", unit="msg"), 1)]
    finally:
        box.close()
    return found


def _table(path: Path, fmt: str, label_col, text_col, encoding) -> _Found:
    if not path.is_file():
        raise ChallengeError(f"{path} is not a file; --format {fmt} needs one table file")
    text, used = read_text(path, encoding)
    found = _Found([], encoding=used)
    rows = tsv_rows(path, text, found.skipped) if fmt == "tsv" else \
        csv_rows(path, text, label_col, text_col, found.skipped)
    found.messages = [Message(id=f"line-{r.line:06d}", group="imported", label=r.label,
                              subject="", body=r.text) for r in rows]
    return found


def _sha256(path: Path) -> str:
    """The source file's sha256, recorded in meta.json ("" for a folder)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _check_options(fmt: str, label_col, text_col, encoding, label, rules, default,
                   sources: list[Source]) -> None:
    if fmt not in FORMATS:
        raise ChallengeError(f"unknown import format {fmt!r}; use one of {', '.join(FORMATS)}")
    wrong = [opt for opt, value, ok in (("--label-col", label_col, ("csv",)),
                                        ("--text-col", text_col, ("csv",)),
                                        ("--encoding", encoding, ("csv", "tsv")),
                                        ("--label", label, ("mbox", "maildir")),
                                        ("--label-from-name", rules or None, ("mbox", "maildir")),
                                        ("--default-label", default, ("mbox", "maildir")))
             if value is not None and fmt not in ok]
    if any(s.label is not None for s in sources) and fmt in ("csv", "tsv"):
        wrong.append("a :LABEL suffix on the path")
    if wrong:
        raise ChallengeError(f"{', '.join(wrong)} does not apply to --format {fmt}; drop it")
    if default is not None and not rules:
        raise ChallengeError("--default-label labels the files no --label-from-name rule "
                             "matches; add a rule such as --label-from-name 'spmsg*=spam'")


def _tag(path: Path, taken: set[str]) -> str:
    """A short, unique name for one source, the prefix of its message ids in a combined corpus."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name) or "source"
    tag, n = base, 2
    while tag in taken:
        tag, n = f"{base}-{n}", n + 1
    taken.add(tag)
    return tag


def _read_sources(fmt: str, sources: list[Source], label: int | None, labeller: Labeller,
                  options: tuple, prefix: bool, taken: set[str]) -> tuple[list[_Found], list[dict]]:
    found, described = [], []
    for source in sources:
        lab = source.label if source.label is not None else label
        if fmt in ("tsv", "csv"):
            one = _table(source.path, fmt, *options)
        elif fmt == "maildir":
            one = _maildir(source.path, lab, labeller)
        else:
            one = _mbox(source.path, lab, labeller)
        if prefix:  # several sources, or an append: ids and groups say which source
            tag = _tag(source.path, taken)
            one.messages = [Message(id=f"{tag}/{m.id}", label=m.label, subject=m.subject,
                                    body=m.body, headers=m.headers,
                                    group=tag if m.group == "imported" else f"{tag}/{m.group}")
                            for m in one.messages]
            one.failed = [f"{tag}/{mid}" for mid in one.failed]
            for row in one.skipped:
                row["source"] = str(source.path)
        found.append(one)
        described.append({"path": str(source.path.resolve()), "sha256": _sha256(source.path),
                          "messages": len(one.messages), "label": lab})
    return found, described


@dataclass(frozen=True)
class Reading:
    """How to read and label the sources of an import (each field is the CLI option of the
    same name): the CSV columns, the text encoding, one label for every message, rules that
    label files by name, and the label of the files no rule matches."""

    label_col: str | None = None
    text_col: str | None = None
    encoding: str | None = None
    label: str | None = None
    label_from_name: list[str] | tuple[str, ...] = ()
    default_label: str | None = None


def import_corpus(name: str, format: str, path: str | os.PathLike | list, *,
                  append: bool = False, force: bool = False,
                  data_dir: str | os.PathLike | None = None, **reading) -> ImportResult:
    """Import the labelled mail at ``path`` (one path, ``PATH:LABEL``, or a list of them) as
    corpus ``name``, or add it to that corpus (``append``); ``reading``: the fields of
    :class:`Reading`. See the module docstring."""
    unknown = sorted(set(reading) - set(Reading.__dataclass_fields__))
    if unknown:
        raise TypeError(f"import_corpus() got unexpected options {', '.join(unknown)}")
    how = Reading(**reading)
    label_col, text_col, encoding, label = how.label_col, how.text_col, how.encoding, how.label
    label_from_name, default_label = how.label_from_name, how.default_label
    check_name(name, allow_builtin=False)
    sources = [parse_source(str(p)) for p in (path if isinstance(path, (list, tuple)) else [path])]
    if not sources:
        raise ChallengeError("no import path given; pass one or more PATH[:LABEL]")
    _check_options(format, label_col, text_col, encoding, label, label_from_name, default_label,
                   sources)
    for source in sources:
        if not source.path.exists():
            raise ChallengeError(f"import path {source.path} does not exist; check the path")
    forced = label_or_error(label, "--label") if label is not None else None
    labeller = Labeller(parse_rules(label_from_name),
                        label_or_error(default_label, "--default-label")
                        if default_label is not None else None)
    stored = corpus_dir(name, data_dir) / "messages.jsonl"
    if append and not stored.is_file():
        raise ChallengeError(f"there is no corpus {name!r} to append to; drop --append to "
                             f"create it")
    before = load_corpus(name, data_dir) if stored.is_file() else []
    old_meta = load_meta(name, data_dir) if before else {}
    kept = before if append else []
    taken = {m.id.split("/", 1)[0] for m in kept}
    found, described = _read_sources(format, sources, forced, labeller,
                                     (label_col, text_col, encoding),
                                     len(sources) > 1 or append, taken)
    new = [m for f in found for m in f.messages]
    skipped = [row for f in found for row in f.skipped]
    if not new:
        lines = f" ({len(skipped)} unreadable rows, first at line {skipped[0]['line']})" \
            if skipped else ""
        where = ", ".join(str(s.path) for s in sources)
        raise ChallengeError(f"no messages found in {where}{lines}; check the path and --format")
    messages = kept + new
    if len({m.id for m in messages}) != len(messages):
        raise AssertionError("message ids of an import must be unique")
    to_remove = guard_replace(name, data_dir, force) if before else []
    failed = [mid for f in found for mid in f.failed]
    md5_bad = [b for f in found for b in f.md5_bad]
    verified = (all(f.md5_files is not None for f in found) and not md5_bad
                and (not append or bool(old_meta.get("verified"))))
    spam = sum(m.label for m in messages)
    groups: dict[str, int] = {}
    for m in messages:
        groups[m.group] = groups.get(m.group, 0) + 1
    dups = duplicate_groups(messages)
    duplicates = {"groups": len(dups), "messages": sum(len(g) for g in dups),
                  "extra_copies": sum(len(g) - 1 for g in dups)}
    source_text = " ".join(str(s.path) for s in sources)
    meta = {"name": name, "source": source_text if not append
            else f"{old_meta.get('source', '')} {source_text}".strip(), "format": format,
            "sources": old_meta.get("sources", []) * append + described,
            "licence": "unknown (imported by the instructor)",
            "encoding": ",".join(sorted({f.encoding for f in found if f.encoding})),
            "messages": len(messages), "ham": len(messages) - spam, "spam": spam,
            "groups": groups, "verified": verified, "md5_mismatches": md5_bad,
            "source_sha256": described[0]["sha256"] if len(described) == 1 and not append else "",
            "skipped_rows": old_meta.get("skipped_rows", []) * append + skipped,
            "parse_failures": len(failed) + old_meta.get("parse_failures", 0) * append,
            "parse_failed": old_meta.get("parse_failed", []) * append + failed,
            "duplicates": duplicates,
            "empty_body": sum(1 for m in messages if not m.body)}
    write_corpus(name, messages, meta, data_dir)
    removed = invalidate(name, data_dir) if to_remove else []
    return ImportResult(corpus=name, format=format, source=source_text, messages=len(messages),
                        ham=meta["ham"], spam=spam, groups=groups, encoding=meta["encoding"],
                        parse_failures=len(failed), skipped=skipped, added=len(new),
                        verified=verified, md5_mismatches=md5_bad, duplicates=duplicates,
                        replaced=0 if append else len(before), invalidated=removed)
