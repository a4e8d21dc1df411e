"""Importing as instructors' corpora come: labels in file names, several sources in one corpus,
folders of links, bare CRs in a CSV, MD5-named files, duplicates, and re-imports over splits
and hidden sets."""

from __future__ import annotations

import hashlib
import json
import mailbox

import pytest
from click.testing import CliRunner
from support.grading import tiny_rubric
from support.spam_mail import sample_messages

from challenge.cli import main
from challenge.data.corpus import Message, duplicate_groups, load_corpus, load_split
from challenge.data.importers import import_corpus
from challenge.data.split import make_split
from challenge.errors import ChallengeError
from grader.hidden import hidden_spam, make_hidden


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    """hidden make may look for a reference checkpoint: never in the checkout's runs/."""
    monkeypatch.setenv("CHALLENGE_RUNS_DIR", str(tmp_path / "runs"))


def _lingspam(folder, n=8):
    """A flat Ling-Spam-style folder: spam files named spmsg*.txt, the rest legitimate."""
    folder.mkdir(parents=True)
    for i, raw in enumerate(sample_messages(n)):
        name = f"spmsga{i}.txt" if i % 2 else f"3-{i}msg{i}.txt"
        (folder / name).write_bytes(raw)
    return folder


def test_labels_from_file_names_glob_and_regex(tmp_path):
    flat = _lingspam(tmp_path / "lingspam")
    result = import_corpus("ling", "maildir", flat, label_from_name=["spmsg*=spam"],
                           default_label="ham", data_dir=tmp_path / "d")
    assert (result.messages, result.spam, result.ham) == (8, 4, 4)
    labels = {m.id: m.label for m in load_corpus("ling", tmp_path / "d")}
    assert labels["spmsga1.txt"] == 1 and labels["3-0msg0.txt"] == 0
    again = import_corpus("ling2", "maildir", flat, label_from_name=["re:^spm=spam", "*=ham"],
                          data_dir=tmp_path / "d")
    assert (again.spam, again.ham) == (4, 4)
    with pytest.raises(ChallengeError, match=r"4 files under .* match no --label-from-name rule "
                                             r"\(first: 3-0msg0.txt\).*--default-label"):
        import_corpus("ling3", "maildir", flat, label_from_name=["spmsg*=spam"],
                      data_dir=tmp_path / "d")
    with pytest.raises(ChallengeError, match="is not PATTERN=LABEL"):
        import_corpus("ling3", "maildir", flat, label_from_name=["spmsg*"], data_dir=tmp_path)
    with pytest.raises(ChallengeError, match="does not apply to --format tsv"):
        import_corpus("ling3", "tsv", flat, label_from_name=["x=spam"], data_dir=tmp_path)
    assert not (tmp_path / "d" / "corpora" / "ling3").exists()


def _mbox(path, raws):
    box = mailbox.mbox(path)
    for raw in raws:
        box.add(raw)
    box.close()
    return path


def test_two_mboxes_with_a_label_each_make_one_corpus(tmp_path):
    raws = sample_messages(5)
    ham = _mbox(tmp_path / "ham.mbox", raws[:3])
    spam = _mbox(tmp_path / "spam.mbox", raws[3:])
    result = import_corpus("mine", "mbox", [f"{ham}:ham", f"{spam}:spam"], data_dir=tmp_path)
    assert (result.messages, result.ham, result.spam) == (5, 3, 2)
    ids = [m.id for m in load_corpus("mine", tmp_path)]
    assert ids[0] == "ham.mbox/mbox/000001" and ids[-1] == "spam.mbox/mbox/000002"
    assert result.groups == {"ham.mbox": 3, "spam.mbox": 2}
    # a label per file by rule works too
    both = import_corpus("mine2", "mbox", [ham, spam], label_from_name=["spam*=spam", "ham*=ham"],
                         data_dir=tmp_path)
    assert (both.ham, both.spam) == (3, 2)


def test_append_adds_a_source_instead_of_replacing(tmp_path):
    raws = sample_messages(5)
    _mbox(tmp_path / "ham.mbox", raws[:3])
    _mbox(tmp_path / "spam.mbox", raws[3:])
    import_corpus("mine", "mbox", tmp_path / "ham.mbox", label="ham", data_dir=tmp_path)
    with pytest.raises(ChallengeError, match="no corpus 'other' to append to"):
        import_corpus("other", "mbox", tmp_path / "spam.mbox", label="spam", append=True,
                      data_dir=tmp_path)
    result = import_corpus("mine", "mbox", tmp_path / "spam.mbox", label="spam", append=True,
                           data_dir=tmp_path)
    assert (result.messages, result.added, result.ham, result.spam) == (5, 2, 3, 2)
    assert result.summary().startswith("added 2 messages to mine")
    messages = load_corpus("mine", tmp_path)
    assert messages[0].id == "mbox/000001" and messages[-1].id == "spam.mbox/mbox/000002"
    meta = json.loads((tmp_path / "corpora/mine/meta.json").read_text())
    assert [s["messages"] for s in meta["sources"]] == [3, 2]
    # without --append a second import replaces, and says so
    again = import_corpus("mine", "mbox", tmp_path / "spam.mbox", label="spam", data_dir=tmp_path)
    assert again.messages == 2 and "replaced the 5 messages stored before" in again.summary()


def test_a_folder_of_links_to_two_enron_folders(tmp_path):
    raws = sample_messages(6)
    for k in (1, 2):
        for i in range(3):
            folder = tmp_path / f"enron{k}" / ("spam" if i == 2 else "ham")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.txt").write_bytes(raws[3 * (k - 1) + i])
    links = tmp_path / "both"
    links.mkdir()
    for k in (1, 2):
        (links / f"enron{k}").symlink_to(tmp_path / f"enron{k}", target_is_directory=True)
    (links / "loop").symlink_to(links, target_is_directory=True)   # a loop ends, not hangs
    result = import_corpus("both", "maildir", links, data_dir=tmp_path / "d")
    assert (result.messages, result.spam) == (6, 2)
    assert result.groups == {"enron1": 3, "enron2": 3}


def test_bare_cr_in_a_csv_never_makes_a_fragment_message(tmp_path):
    rows = (b'label,text\r\nspam,"win\rnow"\r\nham,plain\rcarriage return\r\n'
            b'ham,"unterminated\r\nspam,last one\r\n')
    (tmp_path / "sms.csv").write_bytes(rows)
    result = import_corpus("sms", "csv", tmp_path / "sms.csv", data_dir=tmp_path)
    messages = load_corpus("sms", tmp_path)
    assert [(m.label, m.body) for m in messages] == [
        (1, "win\nnow"), (0, "plain\ncarriage return"), (1, "last one")]
    # line numbers as `grep -n` counts them: the bare CRs start no line
    assert [m.id for m in messages] == ["line-000002", "line-000003", "line-000005"]
    assert [s["line"] for s in result.skipped] == [4]


def test_md5_named_files_are_verified(tmp_path):
    folder = tmp_path / "sa"
    for i, raw in enumerate(sample_messages(4)):
        sub = folder / ("spam" if i % 2 else "ham")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:05d}.{hashlib.md5(raw).hexdigest()}").write_bytes(raw)
    result = import_corpus("sa", "maildir", folder, data_dir=tmp_path / "d")
    assert result.verified and "(verified)" in result.summary()
    assert json.loads((tmp_path / "d/corpora/sa/meta.json").read_text())["verified"] is True
    bad = next((folder / "ham").iterdir())
    bad.write_bytes(bad.read_bytes() + b"tampered\n")
    again = import_corpus("sa2", "maildir", folder, data_dir=tmp_path / "d")
    assert not again.verified and again.md5_mismatches == [str(bad)]
    assert "1 files do not match the MD5 in their name" in again.summary()
    plain = import_corpus("sa3", "maildir", _lingspam(tmp_path / "flat"), label="ham",
                          data_dir=tmp_path / "d")
    assert not plain.verified and plain.md5_mismatches == []


def test_duplicates_reported_at_import(tmp_path):
    lines = ["ham\tsame text", "ham\tSame   text", "spam\tsame text", "ham\tother", "spam\tx",
             "spam\tx", "ham\tunique"]
    (tmp_path / "s.tsv").write_text("\n".join(lines) + "\n")
    result = import_corpus("s", "tsv", tmp_path / "s.tsv", data_dir=tmp_path)
    assert result.duplicates == {"groups": 2, "messages": 5, "extra_copies": 3}
    assert "duplicates: 3 extra copies of 2 distinct texts (5 messages" in result.summary()


def test_subject_only_and_empty_messages_are_grouped_by_the_split(tmp_path):
    from challenge.data.corpus import write_corpus

    msgs = [Message(id=f"s{i}", group="imported", label=1, subject="Important", body="")
            for i in range(16)]
    msgs += [Message(id=f"e{i}", group="imported", label=0, subject="", body=" ") for i in range(4)]
    msgs += [Message(id=f"h{i}", group="imported", label=i % 2, subject="", body=f"text {i}")
             for i in range(60)]
    assert sorted(len(g) for g in duplicate_groups(msgs)) == [4, 16]
    write_corpus("subj", msgs, {"source": "test"}, tmp_path)
    for seed in range(5):
        make_split("subj", seed, data_dir=tmp_path)
        test = {m.id[0] for m in load_split("subj", "test", tmp_path) if m.id[0] in "se"}
        train = {m.id[0] for part in ("train", "dev") for m in load_split("subj", part, tmp_path)
                 if m.id[0] in "se"}
        assert not test & train


def _enron(tmp_path, n=40):
    raws = [f"From: a@b\nSubject: note {i}\n\n{'buy cheap pills now' if i % 3 == 0 else 'see you'}"
            f" number {i}\n".encode() for i in range(n)]
    for i, raw in enumerate(raws):
        folder = tmp_path / "enron" / ("spam" if i % 3 == 0 else "ham")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.txt").write_bytes(raw)
    return tmp_path / "enron"


def _course_on(corpus: str):
    """The tiny rubric with ``corpus`` as the course corpus (half of its hidden set public)."""
    rubric = tiny_rubric()
    return rubric.__class__(**{**rubric.__dict__, "hidden": rubric.hidden.__class__(
        public_fraction=0.5, spam_corpus=corpus, spam_scheme="random")})


def test_reimport_over_splits_and_hidden_sets_needs_force(tmp_path):
    data = tmp_path / "d"
    import_corpus("mine", "maildir", _enron(tmp_path), data_dir=data)
    rubric = _course_on("mine")
    make_hidden(secret_file=tmp_path / "secret", data_dir=data, rubric=rubric, new=True)
    hidden = json.loads((data / "hidden/hidden.json").read_text())
    split = json.loads((data / "splits/mine/split.json").read_text())
    assert hidden["spam"]["corpus_sha256"] == split["corpus_sha256"]
    before = (data / "corpora/mine/messages.jsonl").read_bytes()
    extra = tmp_path / "more.mbox"
    _mbox(extra, sample_messages(2))
    with pytest.raises(ChallengeError, match=r"corpus 'mine' has splits or hidden sets made "
                                             r"from it .*Add --force"):
        import_corpus("mine", "mbox", extra, label="spam", append=True, data_dir=data)
    assert (data / "corpora/mine/messages.jsonl").read_bytes() == before   # nothing changed
    result = import_corpus("mine", "mbox", extra, label="spam", append=True, force=True,
                           data_dir=data)
    assert not (data / "splits/mine").exists() and not (data / "hidden/mine").exists()
    assert not (data / "hidden/hidden.json").exists()
    assert "removed the splits and hidden sets" in result.summary()
    assert str(data / "splits" / "mine") in result.invalidated


def test_a_split_or_hidden_set_of_a_changed_corpus_is_refused(tmp_path):
    data = tmp_path / "d"
    import_corpus("mine", "maildir", _enron(tmp_path), data_dir=data)
    rubric = _course_on("mine")
    make_hidden(secret_file=tmp_path / "secret", data_dir=data, rubric=rubric, new=True)
    assert hidden_spam(data).messages
    # the corpus changed behind the kit's back (copied over, edited by hand)
    path = data / "corpora/mine/messages.jsonl"
    path.write_bytes(path.read_bytes().replace(b"number 3", b"number 33"))
    with pytest.raises(ChallengeError, match=r"made from another version of corpus 'mine'.*"
                                             r"challenge data split mine"):
        load_split("mine", "train", data)
    with pytest.raises(ChallengeError, match=r"hidden spam set was made from another version"):
        hidden_spam(data)


def test_cli_import_several_paths_and_rules(tmp_path):
    flat = _lingspam(tmp_path / "lingspam", n=40)
    runner = CliRunner()
    ok = runner.invoke(main, ["data", "import", "ling", str(flat), "--format", "maildir",
                              "--label-from-name", "spmsg*=spam", "--default-label", "ham",
                              "--data-dir", str(tmp_path / "d")])
    assert ok.exit_code == 0, ok.output
    assert "imported ling" in ok.output and "40 messages (20 ham, 20 spam)" in ok.output
    make_split("ling", 0, data_dir=tmp_path / "d")
    refused = runner.invoke(main, ["data", "import", "ling", str(flat), "--format", "maildir",
                                   "--label", "ham", "--data-dir", str(tmp_path / "d")])
    assert refused.exit_code == 1 and refused.output.count("\n") == 1
    assert "Add --force" in refused.output
