"""CLI: ``challenge train spam`` and ``challenge baseline spam``, thin layers over
:func:`challenge.tasks.spam.train_spam` and :func:`challenge.baseline.run_baselines`."""

from __future__ import annotations

import json

import click

from challenge.cli.trace import DEVICE, TRACEBACK, full_trace
from challenge.cli.train_threads import THREADS, choose_threads
from challenge.tasks.config import (  # noqa: F401 (torch-free)
    EMBEDDING_INITS,
    PRECISIONS,
    SCHEMES,
    STUDENT_MINUTES,
    SpamTraining,
)

_DEFAULT = SpamTraining()
CORPUS_HELP = ("The corpus whose split to use: 'spam' (SpamAssassin) or one imported with "
               "`challenge data import` [default: the rubric's [hidden] spam_corpus, 'spam' "
               "unless the instructor changed it].")
SCHEME_HELP = ("Which split the model must be trained on: random or temporal. The split on disk "
               "is used as it is; this only checks that it has this scheme [default: whatever "
               "`challenge data split` made].")


@click.command("spam")
@click.option("--impl", default=None,
              help="Whose modules to train: 'solutions' (reference), 'challenge' (yours) or a "
                   "folder holding tokenizer.py, batching.py and spam_model.py [default: "
                   "'solutions' in the instructor's kit, 'challenge' in the student bundle].")
@click.option("--corpus", default=None, help=CORPUS_HELP)
@click.option("--scheme", type=click.Choice(SCHEMES), default=None, help=SCHEME_HELP)
@click.option("--epochs", type=int, default=None,
              help="Most passes over the training split (early stopping may end sooner) "
                   f"[default: {_DEFAULT.loop.epochs}].")
@click.option("--minutes", type=float, default=STUDENT_MINUTES, show_default=True,
              help="Training time budget in minutes: training stops then, keeping the best "
                   "weights so far; 0: no budget, the epochs decide.")
@click.option("--seed", type=int, default=None,
              help=f"Seed for initialisation and batch order [default: {_DEFAULT.seed}].")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint path [default: runs/spam/<impl>-<scheme>.pt].")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Data folder holding the split [default: $CHALLENGE_DATA_DIR or ./data].")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="How the checkpoint scores messages (dev, grading, prediction). bfloat16 is "
                   "faster on CPUs with bfloat16 instructions and slower on others "
                   f"[default: {_DEFAULT.precision}].")
@click.option("--embedding-init", type=click.Choice(EMBEDDING_INITS), default=None,
              help="Start the embedding from word vectors learnt from the training messages "
                   "(word co-occurrence, nothing downloaded), or keep the model's random init. "
                   "Needs one nn.Embedding of the vocabulary's size; else the model's own init "
                   f"stays [default: {_DEFAULT.embedding_init}].")
@click.option("--adversarial", type=click.FloatRange(min=0.0), default=None, metavar="EPS",
              help="Adversarial training on the embeddings: each step also fits every message "
                   "with its embedded tokens pushed EPS (L2 norm, whole message) the way that "
                   f"raises its loss most; 0 turns it off [default: {_DEFAULT.adversarial:g}].")
@THREADS
@DEVICE
@TRACEBACK
@click.option("--json", "as_json", is_flag=True,
              help="Print the run (dev metrics, checkpoint path, threads) as one JSON object.")
def spam(minutes: float, out: str | None, data_dir: str | None, as_json: bool, device: str,
         show_traceback: bool, threads: int | None, **settings: object) -> None:
    """Train the spam classifier on the train split, select it on dev, save a checkpoint.

    Prints the dev metrics at the decision threshold chosen on dev (stored in the checkpoint).
    """
    choice = choose_threads(threads, cap=_DEFAULT.loop.threads)   # before torch loads
    from challenge.progress import enabled as progress_enabled
    from challenge.tasks.config import override
    from challenge.tasks.spam import train_spam

    budget = (f"time budget {minutes:g} min (--minutes; 0 for none)" if minutes
              else "no time budget (--minutes 0)")
    if progress_enabled():   # with the progress bar, on stderr; CHALLENGE_QUIET=1 silences both
        click.echo(f"train spam: {budget}; it stops sooner when dev stops improving, and keeps "
                   f"the weights best on dev", err=True)
        click.echo(f"train spam: {choice.summary()}", err=True)
    # --impl, --corpus, --scheme, --epochs, --seed, --precision, --embedding-init,
    # --adversarial: fields of SpamTraining, changed only where given
    given = {name: value for name, value in settings.items() if value is not None}
    with full_trace(show_traceback):
        config = override(SpamTraining(), minutes=minutes or None, threads=choice.threads,
                          **{k: v for k, v in given.items() if v is not None})
        run = train_spam(config, out=out, data_dir=data_dir, device=device)
    click.echo(json.dumps({**run.to_dict(), "threads": choice.to_dict()}) if as_json
               else run.summary())


@click.group("baseline")
def baseline() -> None:
    """Train the scikit-learn baselines the LSTM must beat."""


@baseline.command("spam")
@click.option("--corpus", default=None, help=CORPUS_HELP)
@click.option("--scheme", type=click.Choice(["random", "temporal"]), default=None,
              help=SCHEME_HELP)
@click.option("--seed", type=int, default=0, show_default=True,
              help="random_state of the estimators.")
@click.option("--test", "with_test", is_flag=True,
              help="Also score the hidden test part (instructors: needs data/hidden/).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Data folder holding the split [default: $CHALLENGE_DATA_DIR or ./data].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of lines.")
def baseline_spam(corpus: str | None, scheme: str | None, seed: int, with_test: bool,
                  data_dir: str | None, as_json: bool) -> None:
    """TF-IDF (word 1-2 grams) + LogisticRegression and + ComplementNB on the same split.

    Metrics are on dev (and test with --test) at a threshold chosen on dev, as for the LSTM.
    """
    from challenge.baseline import run_baselines
    from challenge.tasks.spam import check_scheme, course_corpus

    corpus = corpus or course_corpus(data_dir)
    used = check_scheme(scheme, corpus, data_dir=data_dir)
    results = run_baselines(corpus, seed=seed, with_test=with_test, data_dir=data_dir)
    if as_json:
        click.echo(json.dumps({"corpus": corpus, "scheme": used,
                               "models": [r.to_dict() for r in results]}))
    else:
        click.echo(f"split: {corpus} ({used})")
        for r in results:
            click.echo(r.summary())


@click.command("evaluate")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--corpus", default=None,
              help="The corpus to score on (default: the course corpus); any imported one works, "
                   "which measures transfer from the corpus the checkpoint was trained on.")
@click.option("--part", default="dev", show_default=True,
              help="dev (public), test (the hidden test part: instructors only) or all (every "
                   "message of the corpus; no split needed).")
@click.option("--threshold", default="stored", show_default=True,
              help="stored (the checkpoint's), best (the best F1 on this part: an upper bound, "
                   "chosen on its labels) or a spam probability such as 0.5. The best "
                   "threshold's F1 is printed beside the stored one's either way.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Data folder (default: $CHALLENGE_DATA_DIR or ./data).")
def evaluate(checkpoint: str, corpus: str | None, part: str, threshold: str, as_json: bool,
             data_dir: str | None) -> None:
    """Score a spam CHECKPOINT on a corpus part: F1, precision, recall, ROC-AUC, threshold,
    and the messages it shares with the checkpoint's training data."""
    from challenge.evaluate import evaluate_spam

    result = evaluate_spam(checkpoint, corpus=corpus, part=part, data_dir=data_dir,
                           threshold=threshold)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())


SPAM_COMMANDS: list = [spam]
BASELINE_COMMANDS: list = [baseline, evaluate]
