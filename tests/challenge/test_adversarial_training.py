"""Adversarial training on the embeddings (challenge.adversarial): the direction, the batch
layout it reads, the two losses and their gradients, and its use by train_spam."""

from __future__ import annotations

import pytest
import torch
from test_spam_task import SMALL, TINY, make_toy_dir
from torch import nn

from challenge.adversarial import adversarial_loss, batch_dim, per_row_direction
from challenge.checkpoint import load_checkpoint
from challenge.errors import ChallengeError
from challenge.tasks.config import SpamTraining, override
from challenge.tasks.spam import train_spam
from challenge.training import TrainConfig, Trainer


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return make_toy_dir(tmp_path_factory.mktemp("toy-data"))


class BagModel(nn.Module):
    """Embedding -> tanh -> mean over time -> linear: small, smooth, either layout."""

    def __init__(self, time_major: bool, vocab: int = 12, dim: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.time_major = time_major
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.head = nn.Linear(dim, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.time_major:
            x = torch.tanh(self.embedding(ids.t())).mean(dim=0)      # (T, B, E) -> (B, E)
        else:
            x = torch.tanh(self.embedding(ids)).mean(dim=1)          # (B, T, E) -> (B, E)
        return self.head(x).squeeze(-1)                              # (B,)


def _batch(b: int = 3, t: int = 5):
    g = torch.Generator().manual_seed(1)
    return torch.randint(1, 12, (b, t), generator=g), torch.tensor([1.0, 0.0, 1.0][:b])


def test_batch_dim_reads_the_layout_the_model_embedded():
    ids = torch.zeros(3, 5, dtype=torch.long)
    assert batch_dim((3, 5), ids) == 0
    assert batch_dim((3, 5), ids.t()) == 1
    square = torch.zeros(4, 4, dtype=torch.long)
    assert batch_dim((4, 4), square) == 0
    assert batch_dim((4, 4), square.t()) == 1            # a transposed view is not contiguous
    assert batch_dim((3, 5), torch.zeros(15, dtype=torch.long)) is None


@pytest.mark.parametrize("batch", [0, 1])
def test_the_direction_has_unit_norm_per_message(batch):
    grad = torch.randn(3, 5, 4) if batch == 0 else torch.randn(5, 3, 4)
    grad.select(batch, 2).zero_()                         # a message without gradient
    r = per_row_direction(grad, batch)
    norms = r.pow(2).sum(dim=[d for d in range(3) if d != batch]).sqrt()
    assert torch.allclose(norms, torch.tensor([1.0, 1.0, 0.0]), atol=1e-6)
    # the same direction as the gradient, message by message
    assert torch.allclose(r.select(batch, 0) * grad.select(batch, 0).norm(), grad.select(batch, 0),
                          atol=1e-5)


def test_without_a_batch_dimension_each_token_vector_is_scaled():
    r = per_row_direction(torch.randn(7, 4), None)
    assert torch.allclose(r.norm(dim=-1), torch.ones(7), atol=1e-6)


@pytest.mark.parametrize("time_major", [False, True])
def test_adversarial_loss_and_gradients_match_the_definition(time_major):
    ids, y = _batch()
    eps = 0.5
    model = BagModel(time_major)

    def bce() -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(model(ids), y)

    # By hand: the gradient at the embedded tokens, its per-message unit direction, and the
    # parameters' gradients of L(v) + L(v + r) with r held constant.
    emb = model.embedding(ids)                                       # (B, T, E)
    emb.retain_grad()
    clean_by_hand = nn.functional.binary_cross_entropy_with_logits(
        model.head(torch.tanh(emb).mean(dim=1)).squeeze(-1), y)
    clean_by_hand.backward()
    g = emb.grad                                                     # (B, T, E)
    r = eps * g / g.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
    model.zero_grad()
    pushed = model.embedding(ids) + r
    total = clean_by_hand.detach() + nn.functional.binary_cross_entropy_with_logits(
        model.head(torch.tanh(pushed).mean(dim=1)).squeeze(-1), y)
    both = (nn.functional.binary_cross_entropy_with_logits(model(ids), y)
            + nn.functional.binary_cross_entropy_with_logits(
                model.head(torch.tanh(model.embedding(ids) + r).mean(dim=1)).squeeze(-1), y))
    expected = torch.autograd.grad(both, list(model.parameters()))
    model.zero_grad()

    loss = adversarial_loss(model.embedding, bce, eps, tuple(ids.shape))
    loss.backward()
    assert float(loss.detach()) == pytest.approx(float(total.detach()), rel=1e-6)
    for p, want in zip(model.parameters(), expected):
        assert torch.allclose(p.grad, want, atol=1e-6)
    # pushing along the gradient raises the loss (first order, small eps)
    assert float(loss.detach()) - float(clean_by_hand.detach()) > float(clean_by_hand.detach())


def test_a_loss_that_never_reaches_the_embedding_is_only_the_clean_loss():
    model = BagModel(False)
    other = nn.Linear(3, 1)
    x = torch.randn(4, 3)

    def loss_fn() -> torch.Tensor:
        return other(x).pow(2).mean()

    loss = adversarial_loss(model.embedding, loss_fn, 1.0, (4, 3))
    loss.backward()                                      # no graph left, and no error
    assert loss.item() == pytest.approx(loss_fn().item())
    assert other.weight.grad is not None and torch.any(other.weight.grad != 0)


def test_the_trainer_keeps_gradients_a_loss_fn_back_propagated_itself():
    # zero_grad comes before loss_fn: a loss_fn that back-propagates part of its loss (as
    # adversarial_loss does) must see that part in the step.
    model = nn.Linear(1, 1, bias=False)
    nn.init.constant_(model.weight, 1.0)

    def loss_fn(m: nn.Module, batch) -> torch.Tensor:
        (m.weight.sum() * 3.0).backward()               # gradient 3 from a part done here
        return m.weight.sum() * 0.0                     # the rest adds nothing

    config = TrainConfig(epochs=1, lr=0.1, weight_decay=0.0, grad_clip=0.0, patience=None,
                         schedule="constant")
    Trainer(model, config, loss_fn=loss_fn).fit([None])
    # One AdamW step moves a weight by lr against the sign of its gradient.
    assert model.weight.item() == pytest.approx(0.9, abs=1e-4)


def test_train_spam_trains_adversarially_and_records_it(toy_dir, tmp_path):
    runs = {}
    for eps in (0.0, 1.0):
        config = override(SpamTraining(), epochs=3, data=SMALL, lr=1e-2, warmup_steps=0,
                          patience=None, adversarial=eps, **TINY)
        runs[eps] = train_spam(config, data_dir=toy_dir, out=tmp_path / f"adv{eps}.pt",
                               progress=False)
    assert runs[1.0].metrics["f1"] == 1.0
    assert load_checkpoint(runs[1.0].path)["config"]["train"]["adversarial"] == 1.0
    assert load_checkpoint(runs[0.0].path)["config"]["train"]["adversarial"] == 0.0
    # the adversarial run took other steps: its weights differ from the plain run's
    a = load_checkpoint(runs[0.0].path)["state_dict"]
    b = load_checkpoint(runs[1.0].path)["state_dict"]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_a_negative_adversarial_step_is_refused(toy_dir, tmp_path):
    out = tmp_path / "bad.pt"
    with pytest.raises(ChallengeError, match=r"adversarial \(--adversarial\) must be a number "
                                             r">= 0 \(0: off\), got -1.0"):
        train_spam(override(SpamTraining(), adversarial=-1.0), data_dir=toy_dir, out=out,
                   progress=False)
    assert not out.exists()


def test_cli_train_spam_takes_the_adversarial_step(toy_dir, tmp_path):
    from click.testing import CliRunner

    from challenge.cli import main

    out = tmp_path / "cli.pt"
    result = CliRunner().invoke(main, ["train", "spam", "--epochs", "1", "--data-dir", str(toy_dir),
                                       "--out", str(out), "--adversarial", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out)["config"]["train"]["adversarial"] == 0.5


def test_a_model_without_one_embedding_of_the_vocabulary_trains_without_it(toy_dir, tmp_path):
    # Two embeddings of the vocabulary's size: neither is "the" embedding to push, so the run
    # trains plainly and its checkpoint says so.
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    impl = tmp_path / "impl"
    impl.mkdir()
    for name in ("tokenizer", "batching", "spam_model"):
        text = (root / "solutions" / f"{name}.py").read_text()
        if name == "spam_model":
            anchor = ("        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim, "
                      "padding_idx=c.pad_id)\n")
            assert anchor in text
            text = text.replace(anchor,
                                anchor + "        self.unused = nn.Embedding(c.vocab_size, 2)\n")
        (impl / f"{name}.py").write_text(text)
    config = override(SpamTraining(), impl=str(impl), epochs=1, data=SMALL, **TINY)
    run = train_spam(config, data_dir=toy_dir, out=tmp_path / "two.pt", progress=False)
    train = load_checkpoint(run.path)["config"]["train"]
    assert train["adversarial"] == 0.0 and train["embedding_init"] == "random"
