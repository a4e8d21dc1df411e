"""The similarity report: copies rank first, renamed and reordered copies next, the given stubs
count for nothing, everything shown is escaped; identical modules are flagged at grade time."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.board import RUBRIC, fake_grade

from challenge.cli import main
from challenge.errors import ChallengeError
from grader.batch import grade_many
from grader.similarity import K, W, compare, identical_modules, tokens
from grader.similarity_report import similarity

ROOT = Path(__file__).resolve().parents[2]
STUB = (ROOT / "challenge" / "lstm_cell.py").read_text()

# alice's own helpers; bob wrote his independently; dave renamed alice's variables and put
# her functions in another order.
ALICE = '''

def gate_split(pre, hidden):
    """Split pre-activations into four gates."""
    chunks = []
    for index in range(4):
        chunks.append(pre[:, index * hidden:(index + 1) * hidden])
    return chunks


def cell_update(forget, cell, inp, cand):
    new_cell = forget * cell + inp * cand
    if new_cell.abs().max() > 1e6:
        raise ValueError("cell state exploded: " + str(new_cell.abs().max()))
    return new_cell


def unroll(cell, xs, state):
    outputs = []
    for t in range(xs.shape[1]):
        h, c = cell.step(xs[:, t], state)
        state = (h, c)
        outputs.append(h)
    return torch.stack(outputs, dim=1), state
'''
DAVE = '''

def unroll(lstm, inputs, st):
    outs = []
    for step in range(inputs.shape[1]):
        hid, mem = lstm.step(inputs[:, step], st)
        st = (hid, mem)
        outs.append(hid)
    return torch.stack(outs, dim=1), st


def cell_update(f_gate, c_prev, i_gate, g_gate):
    c_next = f_gate * c_prev + i_gate * g_gate
    if c_next.abs().max() > 1e6:
        raise ValueError("cell state exploded: " + str(c_next.abs().max()))
    return c_next


def gate_split(z, size):
    """Split pre-activations into four gates."""
    parts = []
    for j in range(4):
        parts.append(z[:, j * size:(j + 1) * size])
    return parts
'''
BOB = '''

def gates(z):
    i, f, g, o = z.chunk(4, dim=1)
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def run_sequence(module, sequence, hc=None):
    if hc is None:
        zeros = sequence.new_zeros(sequence.size(0), module.hidden_size)
        hc = (zeros, zeros.clone())
    collected = [None] * sequence.size(1)
    t = 0
    while t < sequence.size(1):
        hc = module.step(sequence[:, t, :], hc)
        collected[t] = hc[0]
        t += 1
    return torch.stack(collected, 1), hc
'''


def _zip(path: Path, source: str, part: str = "lstm_cell") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"student": path.stem, "files": {}}))
        zf.writestr(f"modules/{part}.py", source)
    return path


@pytest.fixture
def subs(tmp_path) -> Path:
    folder = tmp_path / "subs"
    folder.mkdir()
    _zip(folder / "alice.zip", STUB + ALICE)
    _zip(folder / "carol.zip", STUB + ALICE)           # a byte-identical copy of alice's
    _zip(folder / "dave.zip", STUB + DAVE)             # renamed and reordered
    _zip(folder / "bob.zip", STUB + BOB)               # written independently
    _zip(folder / "erin.zip", STUB)                    # the stub, untouched
    (folder / "frank.csv").write_text("id,label\n")     # predictions: no code to compare
    return folder


def test_both_copies_of_alice_rank_above_the_independent_solution(subs, tmp_path):
    result = similarity(subs, out=tmp_path / "report")
    ranked = [(p.a, p.b) for p in result.pairs]
    assert ranked[0] == ("alice", "carol") and result.pairs[0].overlap == 1.0
    assert set(ranked[1:3]) == {("alice", "dave"), ("carol", "dave")}
    copies = min(p.overlap for p in result.pairs[:3])
    others = [p.overlap for p in result.pairs[3:]]
    assert copies > 0.5 and max(others) < 0.2
    assert [m.identical for m in result.pairs[0].parts] == [True]
    rows = list(csv.DictReader(result.csv.open()))
    assert (rows[0]["student_a"], rows[0]["student_b"], rows[0]["identical"]) == \
        ("alice", "carol", "lstm_cell")
    assert len(rows) == 10                     # every pair of the five code submissions


def test_the_given_stub_counts_for_nothing(subs):
    pairs = compare({"erin": {"lstm_cell": STUB}, "zed": {"lstm_cell": STUB},
                     "bob": {"lstm_cell": STUB + BOB}})
    assert all(p.overlap == 0.0 for p in pairs)
    assert all(m.shared == 0 for p in pairs for m in p.parts)


def test_renaming_and_layout_do_not_change_the_tokens():
    a = "def f(x, y):\n    # add them\n    return x + y * 2\n"
    b = "def total(first,second):  return first+second*3   # renamed\n"
    assert [t for t, _ in tokens(a)] == [t for t, _ in tokens(b)]
    broken = tokens("def f(:\n  x = 'unclosed\n")          # a syntax error is still compared
    assert broken and all(isinstance(t, str) for t, _ in broken)


def test_any_shared_run_of_k_plus_w_minus_1_tokens_is_found():
    shared = "".join(f"v{i} = w{i} + {i} * (u{i} - q{i})\n" for i in range(6))
    one = "x = 1\n" * 3 + shared + "print(x)\n"
    two = "if y:\n    pass\n" + shared
    assert len(tokens(shared)) >= K + W - 1
    [pair] = compare({"a": {"bptt": one}, "b": {"bptt": two}})
    assert pair.parts[0].shared > 0


def test_the_page_escapes_what_students_wrote(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    evil = STUB + ALICE + '\nNOTE = "</pre><script>alert(1)</script>"\n'
    _zip(folder / "alice.zip", evil)
    _zip(folder / "mallory.zip", evil)
    page = similarity(folder, out=tmp_path / "r").html.read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<mark>" in page


def test_the_cli_writes_the_report_and_refuses_a_lone_student(subs, tmp_path):
    out = CliRunner().invoke(main, ["similarity", str(subs), "--out", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert "alice ~ carol" in out.output and (tmp_path / "r" / "similarity.html").is_file()
    lone = tmp_path / "lone"
    lone.mkdir()
    _zip(lone / "alice.zip", STUB)
    with pytest.raises(ChallengeError, match="at least two"):
        similarity(lone, out=tmp_path / "r2")


def test_identical_modules_are_flagged_at_grade_time_never_the_stub(subs, tmp_path):
    notes = identical_modules(sorted(subs.iterdir()))
    assert notes == [notes[0]] and notes[0].startswith("alice, carol: byte-identical "
                                                       "modules/lstm_cell.py")
    _zip(subs / "zoe.zip", STUB)                # a second untouched stub: not evidence
    result = grade_many(subs, workers=1, db=tmp_path / "lb.sqlite", grade_fn=fake_grade,
                        rubric_hash=RUBRIC)
    assert len(result.review) == 1 and "alice, carol" in result.review[0]
    assert "REVIEW alice, carol" in result.summary()
    assert "erin" not in result.review[0]


def test_a_broken_zip_is_no_evidence_and_never_stops_the_grade(subs, tmp_path):
    (subs / "garbage.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    whole = (subs / "alice.zip").read_bytes()
    (subs / "trunc.zip").write_bytes(whole[: len(whole) // 2])
    notes = identical_modules(sorted(subs.iterdir()))
    assert len(notes) == 1 and "garbage" not in notes[0] and "trunc" not in notes[0]
