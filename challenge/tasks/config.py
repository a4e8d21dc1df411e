"""What a training run is, as frozen dataclasses: :class:`SpamTraining` and
:class:`SorterTraining`, each nesting its data, model and training-loop settings, with the
defaults in one place. Imports neither torch nor the tasks, so the CLI reads its defaults here
and still starts fast; :func:`override` applies a command's options by field name.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any, TypeVar

from challenge.errors import ChallengeError

ARCHS = ("seq2seq", "attention", "pointer")
SCHEMES = ("random", "temporal")
SELECT_METRICS = ("f1", "roc_auc", "loss")
#: How train_spam may start the embedding (see :mod:`challenge.embeddings`).
EMBEDDING_INITS = ("cooccurrence", "random")
PRECISIONS = ("float32", "bfloat16")
#: Text views of a message (challenge.data.corpus.VIEWS; tests keep the two equal).
VIEWS = ("subject_body", "body", "full")

#: Minutes `challenge train spam` trains for at most unless told otherwise: the reference's
#: 8 epochs took 162-296 s on 2-core machines (docs/experiments.md), so a busy laptop still
#: gets a good model, and never an hour-long run by surprise.
STUDENT_MINUTES = 10.0
#: The graded sorter lengths when no rubric can be read (challenge/rubric.toml's [sorter]).
GRADED_LENGTHS = (1, 20)

C = TypeVar("C")


def _fail(name: str, value: Any, wanted: str) -> None:
    raise ChallengeError(f"{name} must be {wanted}, got {value!r}")


def _int_at_least(name: str, value: Any, low: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        _fail(name, value, f"an integer >= {low}" + (" or None" if optional else ""))


def _number_in(name: str, value: Any, low: float, high: float = math.inf, *,
               open_low: bool = False, optional: bool = False) -> None:
    if optional and value is None:
        return
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and value <= high and (value > low if open_low else value >= low))
    if not ok:
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        _fail(name, value, f"a number {bound}" + (f" and <= {high:g}" if high < math.inf else "")
              + (" or None" if optional else ""))


def _check_seed(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail("seed (--seed)", value, "an integer")


def _choice(name: str, value: Any, choices: tuple, optional: bool = False) -> None:
    if not (optional and value is None) and value not in choices:
        _fail(name, value, f"one of {', '.join(choices)}")


# --- spam -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpamDataConfig:
    """How messages become token ids: the text view, the vocabulary and the truncation."""

    view: str = "subject_body"
    vocab_size: int = 30000
    min_frequency: int = 2
    lowercase: bool = True
    max_length: int = 1000         # tokens kept in all: the first ones (the subject comes first)
    tail_length: int = 0           # ... of which this many are the message's last tokens
    chars_per_token: int = 12      # text is cut to max_length * this before tokenizing (speed)
    batch_size: int = 16
    token_dropout: float = 0.25    # training only: this share of real tokens becomes <unk>

    @property
    def max_chars(self) -> int:
        return self.max_length * self.chars_per_token

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SpamModelSettings:
    """The reference classifier's settings (README: the figures they reach); the vocabulary's
    size and pad id come from the tokenizer when training starts."""

    embed_dim: int = 64
    hidden_size: int = 32
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.2
    pooling: str = "attention"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SpamLoop:
    """How the spam model is fitted: budgets, optimiser, early stopping and selection."""

    epochs: int = 10
    minutes: float | None = None   # wall-clock budget; None: the epochs decide
    max_steps: int | None = None
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    patience: int | None = 3       # evaluations without improvement before stopping
    select: str = "roc_auc"        # the dev metric that keeps the best weights
    ema_decay: float | None = None
    threads: int | None = 1        # torch threads (None: leave torch's setting)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SpamTraining:
    """One spam training run: whose modules, on which corpus and split, and how.

    ``impl`` None: :func:`challenge.impl.default_impl`; ``corpus`` None: the course's;
    ``scheme`` None: whatever split is on disk (given, it must match). ``adversarial``: the
    L2 push of the embedded tokens for adversarial training (0: off)."""

    impl: str | None = None
    corpus: str | None = None
    scheme: str | None = None
    seed: int = 0
    precision: str = "float32"
    embedding_init: str = "cooccurrence"
    adversarial: float = 3.0
    data: SpamDataConfig = field(default_factory=SpamDataConfig)
    model: SpamModelSettings = field(default_factory=SpamModelSettings)
    loop: SpamLoop = field(default_factory=SpamLoop)

    def __post_init__(self) -> None:
        _choice("scheme", self.scheme, SCHEMES, optional=True)
        _check_seed(self.seed)
        _choice("precision", self.precision, PRECISIONS)
        _choice("embedding_init", self.embedding_init, EMBEDDING_INITS)
        if not (isinstance(self.adversarial, (int, float)) and not isinstance(self.adversarial, bool)
                and 0 <= self.adversarial < math.inf):
            _fail("adversarial (--adversarial)", self.adversarial, "a number >= 0 (0: off)")
        _check_spam_data(self.data)
        _check_spam_loop(self.loop)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_spam_data(data: SpamDataConfig) -> None:
    _choice("data.view", data.view, VIEWS)
    _int_at_least("data.vocab_size", data.vocab_size, 5)
    _int_at_least("data.max_length", data.max_length, 1)
    _int_at_least("data.batch_size", data.batch_size, 1)
    _int_at_least("data.min_frequency", data.min_frequency, 1)
    _int_at_least("data.chars_per_token", data.chars_per_token, 1)
    if not (isinstance(data.tail_length, int) and 0 <= data.tail_length < data.max_length):
        _fail("data.tail_length", data.tail_length,
              f"an integer >= 0 and below data.max_length ({data.max_length})")
    if not (isinstance(data.token_dropout, (int, float)) and 0.0 <= data.token_dropout < 1.0):
        _fail("data.token_dropout", data.token_dropout, "a number in [0, 1)")


def _check_spam_loop(loop: SpamLoop) -> None:
    _int_at_least("loop.epochs (--epochs)", loop.epochs, 1)
    _number_in("loop.minutes (--minutes)", loop.minutes, 0.0, open_low=True, optional=True)
    _int_at_least("loop.max_steps", loop.max_steps, 1, optional=True)
    _number_in("loop.lr", loop.lr, 0.0, open_low=True)
    _number_in("loop.weight_decay", loop.weight_decay, 0.0)
    _int_at_least("loop.warmup_steps", loop.warmup_steps, 0)
    _int_at_least("loop.patience", loop.patience, 1, optional=True)
    _choice("loop.select", loop.select, SELECT_METRICS)
    if loop.ema_decay is not None and not (isinstance(loop.ema_decay, (int, float))
                                           and 0.0 < loop.ema_decay < 1.0):
        _fail("loop.ema_decay", loop.ema_decay, "a number in (0, 1) or None")
    _int_at_least("loop.threads", loop.threads, 1, optional=True)


# --- sorter -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SorterData:
    """The training sequences: lengths ``min_len..max_len``, values ``0..vocab-1``, a length L
    drawn in proportion to ``L ** length_power``; ``dev_size`` sequences track progress."""

    min_len: int = GRADED_LENGTHS[0]
    max_len: int = GRADED_LENGTHS[1]
    vocab: int = 100
    length_power: float = 1.0
    dev_size: int = 500

    def __post_init__(self) -> None:
        _int_at_least("data.min_len", self.min_len, 1)
        if isinstance(self.max_len, bool) or not isinstance(self.max_len, int) \
                or self.max_len < self.min_len:
            _fail("data.max_len (--max-len)", self.max_len,
                  f"an integer at least data.min_len ({self.min_len}): the longest training "
                  f"sequence")
        _int_at_least("data.vocab (--vocab)", self.vocab, 2)
        _number_in("data.length_power", self.length_power, -math.inf)
        _int_at_least("data.dev_size", self.dev_size, 1)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SorterModelSettings:
    """The sorter's architecture and sizes; its vocabulary size comes from the data."""

    arch: str = "pointer"
    embed_dim: int = 64
    hidden_size: int = 128

    def __post_init__(self) -> None:
        _choice("model.arch (--arch)", self.arch, ARCHS)
        _int_at_least("model.embed_dim", self.embed_dim, 1)
        _int_at_least("model.hidden_size", self.hidden_size, 1)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SorterLoop:
    """How the sorter is fitted: a time or step budget (at least one), batches, optimiser."""

    minutes: float | None = 5.0
    steps: int | None = None
    batch_size: int = 256
    lr: float = 3e-3
    eval_every: int = 200

    def __post_init__(self) -> None:
        _number_in("loop.minutes (--minutes)", self.minutes, 0.0, open_low=True, optional=True)
        _int_at_least("loop.steps", self.steps, 1, optional=True)
        if self.minutes is None and self.steps is None:
            raise ChallengeError("loop.minutes and loop.steps are both None; give a training "
                                 "budget: minutes or steps")
        _int_at_least("loop.batch_size", self.batch_size, 1)
        _number_in("loop.lr", self.lr, 0.0, open_low=True)
        _int_at_least("loop.eval_every", self.eval_every, 1)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SorterTraining:
    """One sorter training run: whose sorter_model (None: :func:`challenge.impl.default_impl`),
    the seed, and the data, model and loop settings."""

    impl: str | None = None
    seed: int = 0
    data: SorterData = field(default_factory=SorterData)
    model: SorterModelSettings = field(default_factory=SorterModelSettings)
    loop: SorterLoop = field(default_factory=SorterLoop)

    def __post_init__(self) -> None:
        _check_seed(self.seed)

    def to_dict(self) -> dict:
        return asdict(self)


# --- changing a config ------------------------------------------------------------------------

def override(config: C, **changes: Any) -> C:
    """``config`` with ``changes`` applied, each by its field name to the part that holds it
    (``epochs=3`` sets ``config.loop.epochs``); a field not given keeps its value. An unknown
    name is a ChallengeError that lists the known ones; a bad value, the field's own error."""
    parts = {f.name: getattr(config, f.name) for f in fields(config)}    # type: ignore[arg-type]
    owner = {name: None for name in parts}
    for part, value in parts.items():
        if is_dataclass(value):
            owner.update({f.name: part for f in fields(value) if f.name not in owner})
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        if name not in owner:
            raise ChallengeError(f"unknown setting {name!r} of {type(config).__name__}; use one "
                                 f"of {', '.join(sorted(owner))}")
        if owner[name] is None:
            top[name] = value
        else:
            nested.setdefault(owner[name], {})[name] = value
    for part, sub in nested.items():
        top[part] = replace(top.get(part, parts[part]), **sub)
    return replace(config, **top)    # type: ignore[type-var]


def course_sorter_training(data_dir: str | os.PathLike | None = None) -> SorterTraining:
    """The sorter run on the graded lengths: the course rubric's ``[sorter]`` ``min_len`` and
    ``max_len`` (read lazily), or :data:`GRADED_LENGTHS` where no rubric can be read."""
    low, high = GRADED_LENGTHS
    try:
        from challenge.rubric import load_rubric
        s = load_rubric(data_dir=data_dir).sorter
        low, high = int(s.min_len), int(s.max_len)
    except (ChallengeError, AttributeError, ValueError):
        pass
    return override(SorterTraining(), min_len=low, max_len=high)
