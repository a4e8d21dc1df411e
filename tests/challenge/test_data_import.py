"""Importing instructors' own corpora: TSV, CSV (broken quoting, latin-1), folders, mbox."""

from __future__ import annotations

import json
import mailbox

import pytest
from click.testing import CliRunner
from support.spam_mail import sample_messages

from challenge.cli import main
from challenge.data.corpus import load_corpus
from challenge.data.importers import import_corpus
from challenge.data.split import make_split
from challenge.data.stats import corpus_stats
from challenge.errors import ChallengeError

SMS = "ham\tGo until jurong point, crazy..\nspam\tFree entry in 2 a wkly comp\tto win\nHAM\tOk lar...\n"


def test_tsv_sms_collection_layout(tmp_path):
    (tmp_path / "SMSSpamCollection").write_text(SMS, encoding="utf-8")
    result = import_corpus("sms", "tsv", tmp_path / "SMSSpamCollection", data_dir=tmp_path / "d")
    assert (result.messages, result.ham, result.spam, result.skipped) == (3, 2, 1, [])
    messages = load_corpus("sms", tmp_path / "d")
    assert [m.label for m in messages] == [0, 1, 0]
    assert messages[1].body == "Free entry in 2 a wkly comp\tto win" and messages[1].subject == ""
    assert messages[1].id == "line-000002" and messages[1].group == "imported"


def test_tsv_line_without_tab_is_reported_not_dropped(tmp_path):
    (tmp_path / "sms.tsv").write_text("label\ttext\nham\tfine\nthis line has no tab\nspam\twin\n")
    result = import_corpus("sms", "tsv", tmp_path / "sms.tsv", data_dir=tmp_path / "d")
    assert result.messages == 2  # the header line is recognised and skipped
    assert result.skipped == [{"line": 3, "reason": "no tab between label and text"}]
    assert "unreadable rows skipped, at lines 3" in result.summary()


def test_csv_latin1_with_broken_quoting_reports_line_numbers(tmp_path):
    rows = ['v1,v2,,,', 'ham,"Caf\xe9 later, ok?",,,', 'spam,"unterminated quote starts here',
            'ham,next row is fine', 'spam,Win a prize,,,', 'ham,too,many,fields,here,really',
            'spam,"multi-line', 'but properly quoted"', 'ham,spills over, into, spare columns']
    (tmp_path / "spam.csv").write_bytes("\n".join(rows).encode("latin-1") + b"\n")
    result = import_corpus("kaggle", "csv", tmp_path / "spam.csv", data_dir=tmp_path / "d")
    assert result.encoding == "cp1252"
    assert [s["line"] for s in result.skipped] == [3, 6]
    assert "unbalanced quote" in result.skipped[0]["reason"]
    bodies = [m.body for m in load_corpus("kaggle", tmp_path / "d")]
    assert bodies == ["Café later, ok?", "next row is fine", "Win a prize",
                      "multi-line\nbut properly quoted", "spills over, into, spare columns"]
    meta = json.loads((tmp_path / "d/corpora/kaggle/meta.json").read_text())
    assert meta["skipped_rows"] == result.skipped and meta["verified"] is False


def test_csv_named_columns_and_encoding(tmp_path):
    (tmp_path / "m.csv").write_bytes("id,kind,content\n1,Spam,na\xefve\n".encode("latin-1"))
    result = import_corpus("m", "csv", tmp_path / "m.csv", label_col="kind", text_col="2",
                           encoding="latin-1", data_dir=tmp_path)
    assert result.spam == 1 and load_corpus("m", tmp_path)[0].body == "naïve"
    with pytest.raises(ChallengeError, match=r"line 2: not valid utf-8.*--encoding"):
        import_corpus("m", "csv", tmp_path / "m.csv", label_col="kind", text_col="content",
                      encoding="utf-8", data_dir=tmp_path)


def test_csv_without_label_column(tmp_path):
    (tmp_path / "x.csv").write_text("id,content\n1,hello\n")
    with pytest.raises(ChallengeError, match=r"no label column found \(columns: id, content\); pass --label-col"):
        import_corpus("x", "csv", tmp_path / "x.csv", data_dir=tmp_path)
    with pytest.raises(ChallengeError, match="no column 'tag'"):
        import_corpus("x", "csv", tmp_path / "x.csv", label_col="tag", data_dir=tmp_path)
    assert not (tmp_path / "corpora").exists()


def test_unknown_label_names_value_and_line(tmp_path):
    (tmp_path / "x.csv").write_text("label,text\nspam,a\nLegit,b\nmaybe,c\n")
    with pytest.raises(ChallengeError, match=r"x.csv, line 4: label 'maybe' is not ham/spam"):
        import_corpus("x", "csv", tmp_path / "x.csv", data_dir=tmp_path)
    assert not (tmp_path / "corpora").exists()


def test_maildir_tree_with_ham_and_spam_folders(tmp_path):
    mails = sample_messages(6)
    for i, raw in enumerate(mails):
        folder = tmp_path / "enron" / ("enron1" if i < 4 else "enron2") / ("spam" if i % 2 else "ham")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:04d}.txt").write_bytes(raw)
    (tmp_path / "enron" / "enron1" / "ham" / ".DS_Store").write_bytes(b"\x00")
    result = import_corpus("enron", "maildir", tmp_path / "enron", data_dir=tmp_path / "d")
    assert (result.messages, result.spam) == (6, 3)
    assert result.groups == {"enron1": 4, "enron2": 2}
    messages = {m.id: m for m in load_corpus("enron", tmp_path / "d")}
    m = messages["enron1/spam/0001.txt"]
    assert (m.label, m.subject) == (1, "html offer 1") and "click here" in m.body and "<" not in m.body
    assert messages["enron1/ham/0002.txt"].subject == "café 2"


def test_maildir_without_label_folders(tmp_path):
    (tmp_path / "box" / "cur").mkdir(parents=True)
    (tmp_path / "box" / "cur" / "1").write_bytes(sample_messages(1)[0])
    with pytest.raises(ChallengeError, match="no ham/ or spam/ folder"):
        import_corpus("box", "maildir", tmp_path / "box", data_dir=tmp_path)
    result = import_corpus("box", "maildir", tmp_path / "box", label="Spam", data_dir=tmp_path)
    assert result.spam == 1


def test_mbox_with_label(tmp_path):
    box = mailbox.mbox(tmp_path / "in.mbox")
    for raw in sample_messages(3):
        box.add(raw)
    box.close()
    result = import_corpus("inbox", "mbox", tmp_path / "in.mbox", label="ham", data_dir=tmp_path)
    assert (result.messages, result.ham) == (3, 3)
    assert [m.subject for m in load_corpus("inbox", tmp_path)] == ["plain note 0", "html offer 1", "café 2"]
    with pytest.raises(ChallengeError, match="pass --label ham or --label spam"):
        import_corpus("inbox", "mbox", tmp_path / "in.mbox", data_dir=tmp_path)
    with pytest.raises(ChallengeError, match="label 'junk' is not"):
        import_corpus("inbox", "mbox", tmp_path / "in.mbox", label="junk", data_dir=tmp_path)


@pytest.mark.parametrize("kwargs, expected", [
    ({"name": "spam"}, "reserved for the built-in"),
    ({"name": "Bad Name"}, "not a safe identifier"),
    ({"format": "xls"}, "unknown import format 'xls'; use one of tsv, csv, maildir, mbox"),
    ({"format": "tsv", "label_col": "x"}, "--label-col does not apply to --format tsv"),
    ({"path": "missing.tsv"}, "does not exist"),
])
def test_bad_arguments(tmp_path, kwargs, expected):
    (tmp_path / "ok.tsv").write_text("ham\thello\n")
    args = {"name": "sms", "format": "tsv", "path": tmp_path / "ok.tsv", **kwargs}
    args["path"] = tmp_path / args["path"]
    with pytest.raises(ChallengeError, match=expected):
        import_corpus(args.pop("name"), args.pop("format"), args.pop("path"), data_dir=tmp_path, **args)


def test_empty_corpus_is_an_error_and_writes_nothing(tmp_path):
    (tmp_path / "empty.tsv").write_text("\n\n")
    with pytest.raises(ChallengeError, match="no messages found"):
        import_corpus("e", "tsv", tmp_path / "empty.tsv", data_dir=tmp_path)
    (tmp_path / "bad.tsv").write_text("no tabs at all\n")
    with pytest.raises(ChallengeError, match=r"1 unreadable rows, first at line 1"):
        import_corpus("e", "tsv", tmp_path / "bad.tsv", data_dir=tmp_path)
    assert not (tmp_path / "corpora").exists()


def test_imported_corpus_works_with_stats_and_split(tmp_path):
    lines = [f"{'spam' if i % 3 == 0 else 'ham'}\tmessage number {i} " + "word " * i for i in range(40)]
    lines.append("ham\tmessage number 1 " + "word ")  # a duplicate of line 2
    (tmp_path / "s.tsv").write_text("\n".join(lines) + "\n")
    import_corpus("sms", "tsv", tmp_path / "s.tsv", data_dir=tmp_path)
    stats = corpus_stats("sms", tmp_path)
    assert (stats.messages, stats.spam, stats.verified) == (41, 14, False)
    assert stats.duplicate_bodies == {"messages": 2, "groups": 1}
    split = make_split("sms", seed=0, data_dir=tmp_path)
    assert sum(c["messages"] for c in split.counts.values()) == 41


def test_cli_import(tmp_path):
    (tmp_path / "s.tsv").write_text(SMS)
    runner = CliRunner()
    ok = runner.invoke(main, ["data", "import", "sms", "--format", "tsv", str(tmp_path / "s.tsv"),
                              "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0 and "imported sms" in ok.output and "3 messages" in ok.output
    bad = runner.invoke(main, ["data", "import", "sms", "--format", "pdf", str(tmp_path / "s.tsv"),
                               "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "unknown import format 'pdf'" in bad.output
