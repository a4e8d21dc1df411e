"""Public checks of the ``tokenizer`` part: reserved ids, the token pattern (lowercasing, words,
punctuation, class tokens, HTML remnants), the vocabulary's order and limits, ``<unk>``,
encode/decode with their options, and the JSON round trip.

Expected values are built from the inputs here, never from a reference implementation, so the
checks run in the student bundle too.
"""

from __future__ import annotations

import json
import os
import random
import tempfile

from challenge.checks.base import Check, CheckFailure, declare, expect_equal
from challenge.checks.outputs import (
    BOOL,
    INT,
    INTS,
    NAME,
    NONE,
    Map,
    OneOf,
    Seq,
    Tensor,
    Text,
    upto,
)

PART = "tokenizer"
SPECIAL = {"<pad>": 0, "<unk>": 1, "<sos>": 2, "<eos>": 3}
WORDS = ("money", "free", "offer", "meeting", "tomorrow", "click", "here", "please", "report",
         "cash", "winner", "project", "lunch", "urgent", "account", "review")
CASED = {"Hello": "hello", "WORLD": "world", "Don't": "don't", "O'Reilly": "o'reilly",
         "mp3": "mp3", "Viagra": "viagra", "2nd": "2nd"}
CLASS_CASES = [
    ("http://example.com/offer?id=7", ["<url>"]),
    ("www.cheap-pills.biz", ["<url>"]),
    ("jane.doe@example.co.uk", ["<email>"]),
    ("$1,000.00", ["<money>"]),
    ("42", ["<num>"]),
    ("3.14", ["<num>"]),
    ("2002-08-22", ["<num>"]),
    ("Win $500 now at http://x.com !", ["win", "<money>", "now", "at", "<url>", "!"]),
    ("Mail me@site.org or call 555-1234.", ["mail", "<email>", "or", "call", "<num>", "."]),
    ("see www.win.com, now", ["see", "<url>", ",", "now"]),
]
HTML_CASES = [
    ("<b>FREE</b> offer", ["free", "offer"]),
    ('<a href="http://x.com">Click</a> here<br>', ["click", "here"]),
    ("Fish &amp; chips&nbsp;now", ["fish", "&", "chips", "now"]),
    ("<!-- hidden text -->visible", ["visible"]),
    ("WOW!!!!! Only ----- today???", ["wow", "!!!", "only", "---", "today", "???"]),
]
PATTERN = "see the token pattern in the module docstring"


def _word_counts(rng: random.Random) -> dict[str, int]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < 14:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 7))))
    return {w: rng.randint(1, 6) for w in sorted(words)}


def _texts(counts: dict[str, int], rng: random.Random) -> list[str]:
    tokens = [w for w, c in counts.items() for _ in range(c)]
    rng.shuffle(tokens)
    return [" ".join(tokens[i:i + 7]) for i in range(0, len(tokens), 7)]


def make_inputs(seed: int) -> dict:
    rng = random.Random(7000 + seed)
    pieces, expected = [], []
    for _ in range(12):
        surface = rng.choice(list(CASED) + list(WORDS))
        token = CASED.get(surface, surface)
        if rng.random() < 0.3:
            surface, token = surface.upper(), token.upper().lower()
        mark = rng.choice(["", "", ",", "!", "?", "."])
        pieces.append(surface + mark)
        expected.extend([token, mark] if mark else [token])
    counts = _word_counts(rng)
    known = [w for w, c in counts.items() if c >= 2]
    sentence = [rng.choice(known) for _ in range(8)]
    unknown = ["unseenword", "neverseen"]     # longer than any generated word
    mixed = sentence[:3] + [unknown[0]] + sentence[3:6] + [unknown[1]] + sentence[6:]
    return {"text": " ".join(pieces), "tokens": expected, "counts": counts,
            "texts": _texts(counts, rng), "sentence": " ".join(sentence), "mixed": mixed,
            "unknown": unknown}


def _fmt(case: str) -> str:
    return repr(case) if len(case) < 80 else repr(case[:77] + "...")


def _short(items: list) -> str:
    text = repr(items)
    return text if len(text) <= 160 else text[:157] + "..."


def expect_seq(got, expected: list, what: str, hint: str = "") -> None:
    """Equal lists, else a message naming the first differing position (lists can be long)."""
    if hasattr(got, "tolist"):
        got = got.tolist()
    if got == expected:
        return
    tail = f". Hint: {hint}" if hint else ""
    if not isinstance(got, (list, tuple)):
        raise CheckFailure(f"{what}: expected a list, got {type(got).__name__} {got!r:.100}{tail}")
    got = list(got)
    i = next((k for k, (a, b) in enumerate(zip(got, expected)) if a != b),
             min(len(got), len(expected)))
    if i < len(got) and i < len(expected):
        where = f"first difference at position {i}: expected {expected[i]!r}, got {got[i]!r}"
    elif i < len(expected):
        where = f"{len(got)} items, {len(expected)} expected: {expected[i]!r} is missing at {i}"
    else:
        where = f"{len(got)} items, {len(expected)} expected: unexpected {got[i]!r} at {i}"
    raise CheckFailure(f"{what}: {where} (expected {_short(expected)}, got {_short(got)}){tail}")


def expect_vocab(got, expected: dict, what: str, hint: str) -> None:
    """A token -> id dict, compared as the list of tokens in id order."""
    if not isinstance(got, dict):
        raise CheckFailure(f"{what}: expected a dict token -> id, got {type(got).__name__}")
    if sorted(got.values()) != list(range(len(got))):
        raise CheckFailure(f"{what}: ids must be 0..{len(got) - 1}, each once; got "
                           f"{_short(sorted(got.values()))}. Hint: {hint}")
    expect_seq(sorted(got, key=got.__getitem__), sorted(expected, key=expected.__getitem__),
               f"{what} (tokens in id order)", hint)


# --- run side: calls student code, returns plain data ------------------------------------

def _train(module, data: dict, **kwargs):
    return module.Tokenizer.train_from_iterator(data["texts"], **kwargs)


def run_special(module, data):
    empty = module.Tokenizer()
    trained = _train(module, data, vocab_size=100, min_frequency=1)
    return {"empty": {t: empty.token_to_id(t) for t in SPECIAL},
            "empty_size": empty.get_vocab_size(),
            "trained": {t: trained.token_to_id(t) for t in SPECIAL},
            "properties": [trained.pad_id, trained.unk_id, trained.sos_id, trained.eos_id],
            "back": [trained.id_to_token(i) for i in range(4)]}


def run_tokenize(module, data):
    return {"lower": module.Tokenizer().tokenize(data["text"]),
            "cased": module.Tokenizer(lowercase=False).tokenize("Hello WORLD, Don't!")}


def run_cases(cases):
    def run(module, data):
        tok = module.Tokenizer()
        return [tok.tokenize(text) for text, _ in cases]
    return run


def run_train(module, data):
    cut = _train(module, data, vocab_size=9, min_frequency=2)
    full = _train(module, data, vocab_size=1000, min_frequency=1)
    again = module.Tokenizer.train_from_iterator(list(reversed(data["texts"])), vocab_size=9,
                                                 min_frequency=2)
    return {"cut": cut.get_vocab(), "cut_size": cut.get_vocab_size(), "full": full.get_vocab(),
            "again": again.get_vocab()}


def run_encode(module, data):
    tok = _train(module, data, vocab_size=1000, min_frequency=2)
    text = " ".join(data["mixed"])
    return {"vocab": tok.get_vocab(), "ids": tok.encode(text),
            "special": tok.encode(data["sentence"], add_special_tokens=True),
            "cut": tok.encode(data["sentence"], max_length=3),
            "cut_special": tok.encode(data["sentence"], max_length=4, add_special_tokens=True),
            "batch": tok.encode_batch([text, data["sentence"]])}


def run_decode(module, data):
    tok = _train(module, data, vocab_size=1000, min_frequency=2)
    ids = tok.encode(data["sentence"])
    wrapped = [2, *ids, 3, 0, 0]
    return {"round_trip": tok.decode(ids), "skip": tok.decode(wrapped),
            "keep": tok.decode(wrapped, skip_special_tokens=False),
            "unk": tok.decode([tok.token_to_id(data["sentence"].split()[0]), 1])}


def run_save_load(module, data):
    tok = module.Tokenizer.train_from_iterator(data["texts"] + ["Hello Hello"], vocab_size=1000,
                                               min_frequency=1, lowercase=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tokenizer.json")
        tok.save(path)
        with open(path, encoding="utf-8") as f:
            try:
                json.load(f)
                is_json = True
            except ValueError:
                is_json = False
        loaded = module.Tokenizer.from_file(path)
    via_dict = module.Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    probe = "Hello " + data["sentence"]
    return {"is_json": is_json, "vocab": tok.get_vocab(),
            "loaded": loaded.get_vocab(), "via_dict": via_dict.get_vocab(),
            "ids": [t.encode(probe) for t in (tok, loaded, via_dict)]}


# --- verify side: grader process ---------------------------------------------------------

def _expected_vocab(counts: dict[str, int], vocab_size: int, min_frequency: int) -> dict:
    kept = sorted((w for w, c in counts.items() if c >= min_frequency), key=lambda w: (-counts[w], w))
    vocab = dict(SPECIAL)
    vocab.update((w, i) for i, w in enumerate(kept[:vocab_size - 4], start=4))
    return vocab


def verify_special(data, out):
    hint = "<pad>, <unk>, <sos>, <eos> are always ids 0, 1, 2, 3, trained or not"
    expect_equal(out["empty"], SPECIAL, "Tokenizer().token_to_id of the special tokens", hint)
    expect_equal(out["empty_size"], 4, "Tokenizer().get_vocab_size()", "an empty tokenizer "
                 "holds only the four special tokens")
    expect_equal(out["trained"], SPECIAL, "train_from_iterator(...).token_to_id of the special "
                 "tokens", hint + "; learnt tokens start at id 4")
    expect_equal(out["properties"], [0, 1, 2, 3], "[pad_id, unk_id, sos_id, eos_id]", hint)
    expect_equal(out["back"], list(SPECIAL), "[id_to_token(i) for i in range(4)]", hint)


def verify_tokenize(data, out):
    expect_seq(out["lower"], data["tokens"], f"Tokenizer().tokenize({_fmt(data['text'])})",
                 "lowercase the text; a word keeps its inner apostrophes; each punctuation mark "
                 "is a token of its own; " + PATTERN)
    expect_equal(out["cased"], ["Hello", "WORLD", ",", "Don't", "!"],
                 "Tokenizer(lowercase=False).tokenize('Hello WORLD, Don't!')",
                 "with lowercase=False the case must be kept")


def verify_cases(cases, hint):
    def verify(data, out):
        if not isinstance(out, list) or len(out) != len(cases):
            raise CheckFailure(f"expected one token list per input text, got {out!r:.200}")
        for (text, expected), got in zip(cases, out):
            expect_seq(got, expected, f"tokenize({_fmt(text)})", hint)
    return verify


def verify_train(data, out):
    counts = data["counts"]
    order = "most frequent first, ties in alphabetical order, ids from 4"
    expect_vocab(out["cut"], _expected_vocab(counts, 9, 2),
                 "train_from_iterator(texts, vocab_size=9, min_frequency=2).get_vocab()",
                 f"keep tokens seen at least min_frequency times, {order}; vocab_size counts the "
                 "four special tokens too")
    expect_equal(out["cut_size"], 9, "get_vocab_size() after vocab_size=9", "vocab_size is the "
                 "total, special tokens included")
    expect_vocab(out["full"], _expected_vocab(counts, 1000, 1),
                 "train_from_iterator(texts, vocab_size=1000, min_frequency=1).get_vocab()", order)
    expect_vocab(out["again"], out["cut"], "the vocabulary learnt from the same texts in reverse "
                 "order", "the vocabulary must not depend on the order of the texts (sort by "
                 "(-count, token), never iterate a set)")


def verify_encode(data, out):
    vocab = out["vocab"]
    words = data["mixed"]
    expected = [vocab.get(w, 1) for w in words]
    for w in data["unknown"]:
        if w in vocab:
            raise CheckFailure(f"vocabulary: {w!r} never occurs in the training texts but got id "
                               f"{vocab[w]}. Hint: only train_from_iterator adds tokens")
    expect_seq(out["ids"], expected, f"encode({_fmt(' '.join(words))})",
                 "each token maps to its id; a token not in the vocabulary maps to <unk> (id 1)")
    plain = [vocab.get(w, 1) for w in data["sentence"].split()]
    expect_seq(out["special"], [2, *plain, 3], "encode(text, add_special_tokens=True)",
                 "wrap the ids in <sos> (2) ... <eos> (3)")
    expect_seq(out["cut"], plain[:3], "encode(text, max_length=3)",
                 "truncation keeps the start of the text")
    expect_seq(out["cut_special"], [2, *plain[:2], 3],
                 "encode(text, max_length=4, add_special_tokens=True)",
                 "max_length counts <sos> and <eos>, and both are kept")
    expect_equal(out["batch"], [expected, plain], "encode_batch([text1, text2])",
                 "encode_batch is encode applied to each text")


def verify_decode(data, out):
    sentence = data["sentence"]
    expect_equal(out["round_trip"], sentence, "decode(encode(text)) for known lowercase words",
                 "join the tokens with single spaces")
    expect_equal(out["skip"], sentence, "decode([<sos>, ...ids, <eos>, <pad>, <pad>])",
                 "skip_special_tokens=True (the default) leaves out <pad>, <sos> and <eos>")
    expect_equal(out["keep"], f"<sos> {sentence} <eos> <pad> <pad>",
                 "decode(..., skip_special_tokens=False)", "keep every token")
    expect_equal(out["unk"], f"{sentence.split()[0]} <unk>", "decode([id, 1])",
                 "<unk> is kept when decoding, even with skip_special_tokens")


def verify_save_load(data, out):
    if not out["is_json"]:
        raise CheckFailure("save(path) did not write a JSON file. Hint: json.dump(self.to_dict(), f)")
    expect_vocab(out["loaded"], out["vocab"], "Tokenizer.from_file(path).get_vocab() after save",
                 "save and from_file must round-trip the whole vocabulary")
    expect_vocab(out["via_dict"], out["vocab"], "Tokenizer.from_dict(to_dict()).get_vocab()",
                 "to_dict must be JSON-safe and from_dict its inverse")
    ids = out["ids"]
    expect_seq(ids[1], ids[0], "encode() after save/from_file",
                 "the loaded tokenizer must keep lowercase=False as well as the vocabulary")
    expect_seq(ids[2], ids[0], "encode() after to_dict/from_dict",
                 "to_dict must store lowercase as well as the vocabulary")


def _check(name, run, verify, description, points=1.0):
    return Check(PART, name, points, make_inputs, run, verify, description)


CHECKS: list[Check] = [
    _check("special_tokens", run_special, verify_special, "reserved ids 0..3"),
    _check("tokenize_words", run_tokenize, verify_tokenize,
           "lowercasing, words with apostrophes, punctuation"),
    _check("class_tokens", run_cases(CLASS_CASES),
           verify_cases(CLASS_CASES, "URLs -> <url>, addresses -> <email>, $/£/€ amounts -> "
                        "<money>, numbers -> <num>; " + PATTERN), "URLs, e-mails, money, numbers"),
    _check("html_and_runs", run_cases(HTML_CASES),
           verify_cases(HTML_CASES, "decode HTML entities, drop tags and comments, a run of one "
                        "punctuation mark is one token of at most three; " + PATTERN),
           "HTML remnants and repeated punctuation"),
    _check("train_vocabulary", run_train, verify_train,
           "frequency order, min_frequency, vocab_size, determinism"),
    _check("encode_unknown", run_encode, verify_encode, "<unk>, special tokens, truncation"),
    _check("decode", run_decode, verify_decode, "round trip and skip_special_tokens"),
    _check("save_load", run_save_load, verify_save_load, "JSON save/load and to_dict/from_dict"),
]

#: What each check's run step receives: its inputs, never the values it is judged against.
SENDS = {
    "special_tokens": ('texts',),
    "tokenize_words": ('text',),
    "class_tokens": (),
    "html_and_runs": (),
    "train_vocabulary": ('texts',),
    "encode_unknown": ('texts', 'sentence', 'mixed'),
    "decode": ('texts', 'sentence'),
    "save_load": ('texts', 'sentence'),
}


# --- the outputs the checks expect (validated before any verify runs) --------------------------
# Bounds come from the texts a check sent: a tokenizer never makes more tokens than twice the
# characters it read (an empty token between each pair included), nor a token longer than them.

def _tokens(chars: int) -> Seq:
    return Seq(Text(chars), 2 * chars + 2)


def _ids(n: int) -> OneOf:
    """ids as a list of ints (or a 1-d integer tensor) of at most ``n``."""
    return OneOf((Seq(INT, n), Tensor((upto(n),), INTS)))


def _chars(data: dict) -> int:
    return sum(len(t) + 1 for t in data["texts"]) + 64


def _vocab(data: dict) -> Map:
    return Map(others=INT, max_len=_chars(data) + 8)


def _cases(cases) -> Seq:
    return Seq(_tokens(max(len(text) for text, _ in cases)), len(cases))


ID = OneOf((INT, NONE))
SPECIAL_IDS = Map({t: ID for t in SPECIAL})
EXPECTS = {
    "special_tokens": lambda data: Map({"empty": SPECIAL_IDS, "empty_size": INT,
                                        "trained": SPECIAL_IDS, "properties": Seq(ID, 4),
                                        "back": Seq(OneOf((NAME, NONE)), 4)}),
    "tokenize_words": lambda data: Map({"lower": _tokens(len(data["text"])),
                                        "cased": _tokens(len("Hello WORLD, Don't!"))}),
    "class_tokens": lambda data: _cases(CLASS_CASES),
    "html_and_runs": lambda data: _cases(HTML_CASES),
    "train_vocabulary": lambda data: Map({"cut": _vocab(data), "cut_size": INT,
                                          "full": _vocab(data), "again": _vocab(data)}),
    "encode_unknown": lambda data: Map({
        "vocab": _vocab(data), **{k: _ids(4 * _chars(data))
                                  for k in ("ids", "special", "cut", "cut_special")},
        "batch": Seq(_ids(4 * _chars(data)), 2)}),
    "decode": lambda data: Map({k: Text(8 * _chars(data))
                                for k in ("round_trip", "skip", "keep", "unk")}),
    "save_load": lambda data: Map({"is_json": BOOL, "vocab": _vocab(data),
                                   "loaded": _vocab(data), "via_dict": _vocab(data),
                                   "ids": Seq(_ids(4 * _chars(data)), 3)}),
}
CHECKS = declare(CHECKS, SENDS, EXPECTS)
