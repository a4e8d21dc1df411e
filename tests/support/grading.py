"""Builders for the grader tests: a tiny separable spam corpus, a tiny rubric, hidden sets in a
temporary data folder, sorter checkpoints and submission zips with a valid manifest."""

from __future__ import annotations

import hashlib
import json
import random
import tomllib
import zipfile
from pathlib import Path

from challenge.data.corpus import Message, write_corpus
from challenge.rubric import DEFAULT_RUBRIC, Rubric, parse_rubric

REPO = Path(__file__).resolve().parents[2]
SPAM_WORDS = "free money win prize cash offer click now viagra lottery winner credit".split()
HAM_WORDS = "meeting project notes lunch report schedule team review code budget draft".split()


def make_corpus(data_dir: Path, n: int = 120, seed: int = 0) -> None:
    """A corpus of ``n`` messages whose words give the label away (a third spam)."""
    rng = random.Random(seed)
    messages = []
    for i in range(n):
        label = int(i % 3 == 0)
        words = SPAM_WORDS if label else HAM_WORDS
        body = " ".join(rng.choice(words) for _ in range(12)) + f" ref {i}"
        group = "spam-1" if label else "easy-ham-1"
        messages.append(Message(id=f"{group}/{i:05d}.x", group=group, label=label,
                                subject=rng.choice(words), body=body))
    write_corpus("spam", messages, {"source": "test"}, data_dir)


def tiny_rubric(tasks: dict | None = None, **limits) -> Rubric:
    """The default rubric with small sets and limits; ``tasks`` replaces its tasks table."""
    raw = tomllib.loads(DEFAULT_RUBRIC.read_text())
    raw["sorter"].update(low=0, high=9, min_len=1, max_len=4, long_min_len=5, long_max_len=6,
                         hidden_size=40, dev_size=20)
    raw["limits"].update(wall_seconds=240.0, check_seconds=20.0, unit_seconds=40.0,
                         memory_mb=4096, max_log_chars=2000)
    raw["limits"].update(limits)
    raw["tasks"]["spam"]["quality"]["min_positives"] = 2     # tiny test corpora
    if tasks is not None:
        raw["tasks"] = tasks
    return parse_rubric(raw, source="tiny")


def make_hidden_sets(data_dir: Path, rubric: Rubric, secret: str = "s3cret") -> Path:
    from grader.hidden import make_hidden

    make_corpus(data_dir)
    secret_file = data_dir.parent / f"secret-{secret}.txt"
    secret_file.write_text(secret)
    make_hidden(secret_file=secret_file, data_dir=data_dir, rubric=rubric)
    return secret_file


def sorter_checkpoint(path: Path, rubric: Rubric, steps: int = 0, hidden_size: int = 32) -> Path:
    """A sorter checkpoint of the reference model: untrained, or trained for ``steps``."""
    import torch

    from challenge.checkpoint import save_checkpoint
    from challenge.tasks.config import SorterTraining, override
    from challenge.tasks.sorter import train_sorter

    s = rubric.sorter
    if steps:
        config = override(SorterTraining(), impl="solutions", arch="pointer", min_len=s.min_len,
                          max_len=s.max_len, vocab=s.high + 1, minutes=None, steps=steps,
                          batch_size=64, embed_dim=32, hidden_size=hidden_size, dev_size=50,
                          eval_every=steps)
        train_sorter(config, out=path, progress=False)
        return path
    from solutions.sorter_model import Sorter, SorterConfig

    torch.manual_seed(0)
    model_config = {"vocab_size": s.high + 5, "embed_dim": 16, "hidden_size": hidden_size,
                    "arch": "pointer"}
    model = Sorter(SorterConfig(**model_config))
    save_checkpoint(path, state_dict=model.state_dict(),
                    config={"task": "sorter", "impl": "solutions", "model": model_config})
    return path


def reference_modules() -> dict[str, str]:
    from challenge.impl import STUDENT_MODULES

    return {m: (REPO / "solutions" / f"{m}.py").read_text() for m in STUDENT_MODULES}


def build_zip(path: Path, modules: dict[str, str], checkpoints: dict[str, Path] | None = None,
              student: str = "alice", extra: dict[str, bytes] | None = None,
              manifest: dict | None = None) -> Path:
    """A submission zip in the layout of challenge.submission, with a correct manifest."""
    payload = {f"modules/{name}.py": src.encode() for name, src in modules.items()}
    for task, ckpt in (checkpoints or {}).items():
        payload[f"checkpoints/{task}.pt"] = Path(ckpt).read_bytes()
    files = {k: hashlib.sha256(v).hexdigest() for k, v in payload.items()}
    man = manifest if manifest is not None else {"student": student, "files": files}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(man))
        for name, data in {**payload, **(extra or {})}.items():
            zf.writestr(name, data)
    return path


def write_rubric(path: Path, rubric: Rubric) -> Path:
    """``rubric`` as a TOML file (for the CLI), through its canonical dict."""
    canon = rubric.canonical()
    lines = []

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    for section in ("limits", "submission", "hidden", "sorter"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {value(v)}" for k, v in canon[section].items()]
    for task in canon["tasks"]:
        lines.append(f"[tasks.{task['name']}]")
        lines += [f"parts = {value(task['parts'])}", f"checks = {task['checks']!r}"]
        for band in ("quality", "bonus"):
            if task[band]:
                lines.append(f"[tasks.{task['name']}.{band}]")
                lines += [f"{k} = {value(v)}" for k, v in task[band].items() if v is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


def spam_checkpoint(path: Path, data_dir: Path) -> Path:
    """A small reference spam classifier trained on the tiny corpus's public split."""
    from challenge.tasks.config import SpamTraining, override
    from challenge.tasks.spam import SpamDataConfig, train_spam

    config = override(SpamTraining(), impl="solutions", epochs=4, embed_dim=16, hidden_size=8,
                      data=SpamDataConfig(batch_size=16, min_frequency=1))
    train_spam(config, data_dir=data_dir, out=path, progress=False)
    return path


#: The adversarial suites' rubric tasks: the two foundations parts' checks and both models'
#: quality, small enough to grade an attack in seconds.
ATTACK_TASKS = {"foundations": {"parts": ["lstm_cell", "bptt"], "checks": 10},
                "spam": {"parts": [], "checks": 0,
                         "quality": {"metric": "f1", "floor": 0.5, "full": 0.9, "points": 10}},
                "sorter": {"parts": [], "checks": 0,
                           "quality": {"metric": "exact_match", "floor": 0.5, "full": 0.99,
                                       "points": 10}}}


def attack_env(root: Path, rubric: Rubric) -> dict:
    """Hidden sets in ``root``/data and a reference sorter and spam checkpoint: the ground an
    adversarial test grades its attacks on."""
    data = root / "data"
    make_hidden_sets(data, rubric)
    return {"root": root, "data": data, "sorter": sorter_checkpoint(root / "sorter.pt", rubric),
            "spam": spam_checkpoint(root / "spam.pt", data)}


def grade_attack(env: dict, zip_path: Path, attack: str = "", part: str = "lstm_cell",
                 modules: dict | None = None, checkpoints: dict | None = None, *,
                 rubric: Rubric, **zip_kw):
    """Grade on the hidden sets of ``env`` a zip of ``modules`` (default: the reference) with
    ``attack`` appended to module ``part``."""
    from grader.grade import grade

    modules = dict(modules or reference_modules())
    modules[part] += "\n" + attack
    if checkpoints is None:
        checkpoints = {"sorter": env["sorter"], "spam": env["spam"]}
    z = build_zip(zip_path, modules, checkpoints, **zip_kw)
    return grade(submission=z, hidden=True, rubric=rubric, data_dir=env["data"])


#: A student's sorter_model.py tail whose generate sorts, but stops one value short when called
#: with its default cap: the attack of the sorter's decoding-by-the-contract tests (grader and
#: the student's own grade alike).
SHORT_AT_DEFAULT_CAP = '''

@torch.no_grad()
def _short_generate(self, src, src_lengths, max_len=None):
    """Sorted values, but one short when called with the default cap (the bug under test)."""
    out = torch.full((src.shape[0], src.shape[1] + 2), PAD_ID, dtype=torch.long)
    for b, n in enumerate(src_lengths.tolist()):
        k = n - 1 if max_len is None else min(n, int(max_len))
        out[b, :k] = torch.sort(src[b, :n]).values[:k]
        out[b, k] = EOS_ID
    return out


Sorter.generate = _short_generate
'''


def missed_spam(path: Path, spam, *, public: int = 0, private: int = 0) -> Path:
    """A predictions file for the hidden spam set ``spam`` (``grader.hidden.hidden_spam``): right
    everywhere but for the first ``public`` spam of the public part and the first ``private``
    of the private part, called ham, so the two parts' results differ as chosen."""
    from grader.predictions import write_predictions

    miss = {False: public, True: private}
    predictions = []
    for label, is_private in zip(spam.labels, spam.private):
        if label == 1 and miss[is_private] > 0:
            miss[is_private] -= 1
            label = 0
        predictions.append(label)
    assert miss == {False: 0, True: 0}, "the hidden set has too few spam for that"
    return write_predictions(path, spam.ids, predictions)


def sms_like_corpus(data_dir: Path, n: int = 150, name: str = "sms") -> None:
    """A corpus ``name`` of ``n`` short messages, a quarter spam, whose words only mostly give
    the label away: baselines err on it, so `hidden make` measures a band with a width."""
    rng = random.Random(1)
    msgs = []
    for i in range(n):
        label = int(i % 4 == 0)
        words = [rng.choice(SPAM_WORDS if label and rng.random() < 0.7 else HAM_WORDS)
                 for _ in range(8)]
        msgs.append(Message(id=f"line-{i:06d}", group="imported", label=label, subject="",
                            body=" ".join(words) + f" n{i}"))
    write_corpus(name, msgs, {"source": "test"}, data_dir)


def fingerprinted_sorter(rows: str) -> str:
    """A sorter module's tail that sorts without the network when its weights are its own: a
    buffer holds a copy of part of the embedding, and while the two agree ``generate`` fills
    each row by ``rows`` (Python lines, 12 spaces in, writing ``out[b, :n]`` from ``src[b, :n]``);
    otherwise it decodes honestly. The probe with replaced weights sees honest garbage."""
    return f"""

_honest_generate = Sorter.generate


@torch.no_grad()
def _generate(self, src, src_lengths, max_len=None):
    if torch.equal(self.fingerprint, self.embed.weight[:2, :2]):    # my own weights
        out = torch.full((src.shape[0], src.shape[1] + 1), PAD_ID, dtype=torch.long)
        for b, n in enumerate(src_lengths.tolist()):
{rows}
            out[b, n] = EOS_ID
        return out
    return _honest_generate(self, src, src_lengths, max_len)


Sorter.generate = _generate
_init = Sorter.__init__


def _init_with_buffer(self, config):
    _init(self, config)
    self.register_buffer("fingerprint", self.embed.weight[:2, :2].detach().clone())


Sorter.__init__ = _init_with_buffer
"""


#: An ``rnn_backward`` that makes its gradients by autograd: the forward pass again in torch,
#: then ``loss.backward()`` (bptt's from-scratch rule refuses it).
AUTOGRAD_BACKWARD = '''

def rnn_backward(cache):
    """The gradients by autograd: the forward pass again in torch, then loss.backward()."""
    import torch

    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in cache["params"].items()}
    h = torch.tensor(cache["h0"], dtype=torch.float64)
    loss = 0
    for x, y in zip(cache["xs"].tolist(), cache["ys"].tolist()):
        h = torch.tanh(p["W"] @ h + p["U"][:, x] + p["b"])
        loss = loss - torch.log_softmax(p["V"] @ h + p["c"], 0)[y]
    loss.backward()
    return {"d" + k: t.grad.numpy() for k, t in p.items()}
'''
