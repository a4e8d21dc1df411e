"""How much of a linear baseline's lead lives in what the tokenizer throws away; prints one JSON
object.

    python bench/token_view.py --corpus sms --seeds 0,1,2 [--data min_frequency=1 ...]

The reference LSTM never reads a message's characters: it reads the tokenizer's ids (numbers
become ``<num>``, amounts ``<money>``, links ``<url>``, words seen fewer than ``min_frequency``
times in the training part ``<unk>``, and the message is cut to ``max_length`` tokens). Here
each baseline of bench/spam.py is fitted twice on every split: on the raw text, as bench/spam.py
does, and on the *token view*: each message replaced by its token ids decoded back to words
(``Tokenizer.decode``, ``<unk>`` kept), with the reference's tokenizer settings
(challenge.tasks.config.SpamDataConfig; ``--data KEY=VALUE`` changes one of its fields, e.g.
``min_frequency=1`` or ``lowercase=false``, to ask what another vocabulary would keep). Per baseline and split: F1 on both, and the paired
difference raw - token view with its standard error (bench/compare.py). A baseline that loses
its lead over the LSTM on the token view shows the lead comes from information no model of the
token ids can have, whatever its architecture.

Splits are made as bench/spam.py makes them (challenge.data.split.make_split, in a temporary
folder; the split on disk is untouched); C and the threshold are chosen on dev as there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import spam_training, split_folder  # noqa: E402  (bench/common.py)
from compare import paired, sample_sd  # noqa: E402  (bench/compare.py, beside this file)

BASELINES = ("tfidf_logreg", "tfidf_wordchar_lr")


def token_view(tokenizer, texts: list[str], data) -> list[str]:
    """Each text as the reference model reads it: cut to ``data.max_chars`` characters,
    encoded to at most ``data.max_length`` ids, decoded back to space-separated tokens."""
    ids = tokenizer.encode_batch([t[:data.max_chars] for t in texts], max_length=data.max_length)
    return [tokenizer.decode(row) for row in ids]


def _baseline(name: str, seed: int):
    from challenge.baseline import TfidfBaseline

    if name == "tfidf_wordchar_lr":
        from linear import WordCharBaseline  # bench/linear.py
        return WordCharBaseline(random_state=seed)
    return TfidfBaseline(name.split("_")[1], random_state=seed)


def data_config(pairs: list[str]):
    """``["min_frequency=1", "lowercase=false"]`` -> the reference's SpamDataConfig with those
    fields changed; exits with a message naming the pair on anything else."""
    from dataclasses import fields

    from challenge.tasks.config import SpamDataConfig

    return spam_training(pairs, script="bench/token_view.py", option="--data",
                         only={f.name for f in fields(SpamDataConfig)}).data


def one_split(corpus: str, seed: int, data_dir: str, names: list[str], data=None) -> dict:
    """Every baseline's test F1 on the raw text and on the token view of one split
    (``data``: the SpamDataConfig of the token view; default the reference's)."""
    from challenge.impl import default_impl, load_module
    from challenge.metrics import binary_metrics
    from challenge.tasks.config import SpamDataConfig
    from challenge.tasks.spam import load_texts

    data = SpamDataConfig() if data is None else data
    with split_folder(data_dir, corpus, seed) as (tmp, _):
        parts = {p: load_texts(corpus, p, data_dir=tmp) for p in ("train", "dev", "test")}
    Tokenizer = load_module(default_impl(), "tokenizer").Tokenizer
    tokenizer = Tokenizer.train_from_iterator(
        (t[:data.max_chars] for t in parts["train"][0]), vocab_size=data.vocab_size,
        min_frequency=data.min_frequency, lowercase=data.lowercase)
    views = {"raw": parts,
             "tokens": {p: (token_view(tokenizer, texts, data), labels)
                        for p, (texts, labels) in parts.items()}}
    out: dict = {"vocab_size": tokenizer.get_vocab_size()}
    for name in names:
        out[name] = {}
        for view, p in views.items():
            model = _baseline(name, seed).fit(*p["train"], *p["dev"])
            m = binary_metrics(p["test"][1], model.predict_proba(p["test"][0])[:, 1],
                               model.threshold_)
            out[name][view] = {"f1": round(m.f1, 4), "roc_auc": round(m.roc_auc, 4)}
        print(f"bench/token_view.py: split {seed} {name}: raw f1 {out[name]['raw']['f1']}, "
              f"token view f1 {out[name]['tokens']['f1']}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="spam", help="the corpus (default: spam)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated split seeds")
    parser.add_argument("--data-dir", default=None,
                        help="data folder holding the corpus (default: $CHALLENGE_DATA_DIR or data)")
    parser.add_argument("--models", default=",".join(BASELINES),
                        help=f"comma-separated subset of {','.join(BASELINES)}")
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE",
                        help="change one field of the token view's SpamDataConfig (repeatable)")
    args = parser.parse_args()
    data = data_config(args.data)
    from challenge import paths
    from challenge.data.corpus import check_name, load_meta
    from challenge.errors import ChallengeError

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names or any(m not in BASELINES for m in names):
        sys.exit(f"bench/token_view.py: --models takes a subset of {','.join(BASELINES)}, "
                 f"got {args.models!r}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        sys.exit(f"bench/token_view.py: --seeds takes distinct comma-separated whole numbers, "
                 f"got {args.seeds!r}")
    data_dir = os.path.abspath(paths.data_dir(args.data_dir))
    try:
        check_name(args.corpus)
        load_meta(args.corpus, data_dir)
    except ChallengeError as e:
        sys.exit(f"bench/token_view.py: {e}")
    runs = {seed: one_split(args.corpus, seed, data_dir, names, data) for seed in seeds}
    summary = {}
    for name in names:
        raw = [runs[s][name]["raw"]["f1"] for s in seeds]
        tokens = [runs[s][name]["tokens"]["f1"] for s in seeds]
        sd_raw, sd_tok = sample_sd(raw), sample_sd(tokens)
        summary[name] = {
            "raw_f1": raw, "token_view_f1": tokens,
            "raw_sd": None if sd_raw is None else round(sd_raw, 4),
            "token_view_sd": None if sd_tok is None else round(sd_tok, 4),
            "raw_minus_token_view": paired(raw, tokens)}
    print(json.dumps({"corpus": args.corpus, "seeds": seeds, "data": args.data, "runs": runs,
                      "summary": summary}))


if __name__ == "__main__":
    main()
