"""The reference tokenizer: token pattern, vocabulary, encode/decode, JSON persistence."""

from __future__ import annotations

import json

import pytest
import torch

from solutions.tokenizer import CLASS_TOKENS, SPECIAL_TOKENS, Tokenizer

TEXTS = ["the cat sat on the mat", "the dog sat", "a cat and a dog", "the end"]


@pytest.fixture
def tok() -> Tokenizer:
    return Tokenizer.train_from_iterator(TEXTS, vocab_size=100, min_frequency=1)


# --- token pattern -----------------------------------------------------------------------

@pytest.mark.parametrize("text, tokens", [
    ("FREE $1,000!!! Visit www.win.com or mail me@x.org",
     ["free", "<money>", "!!!", "visit", "<url>", "or", "mail", "<email>"]),
    ("Hello, World! Don't", ["hello", ",", "world", "!", "don't"]),
    ("it’s O'Reilly's", ["it's", "o'reilly's"]),
    ("3.5% on 2002-08-22 at 10:30", ["<num>", "%", "on", "<num>", "at", "<num>"]),
    ("mp3 2nd y2k 10am", ["mp3", "2nd", "y2k", "10am"]),
    ("£5, € 10 and ¥300", ["<money>", ",", "<money>", "and", "<money>"]),
    ("(see http://foo.com/a?b=1). ok", ["(", "see", "<url>", ")", ".", "ok"]),
    ("HTTPS://EXAMPLE.COM/X ftp://f.org", ["<url>", "<url>"]),
    ("John.Doe+x@mail.example.co.uk.", ["<email>", "."]),
    ("a@b is not an address", ["a", "@", "b", "is", "not", "an", "address"]),
    ("<p>Click <a href=\"http://a.b/c\">here</a></p><!-- x\ny -->now", ["click", "here", "now"]),
    ("Fish &amp; chips&nbsp;today", ["fish", "&", "chips", "today"]),
    ("wow!!!!! ?? ---------- __init__", ["wow", "!!!", "??", "---", "__", "init", "__"]),
    ("Über CAFÉ", ["über", "café"]),
    ("  \n\t ", []),
    ("", []),
    # a word right before a character that another rule could go on with is not cut short
    ("see http:x, www.x and wwwx. now",
     ["see", "http", ":", "x", ",", "<url>", "and", "wwwx", ".", "now"]),
    ("a+b@c.org x-ray it's foo_bar é-mail",
     ["<email>", "x", "-", "ray", "it's", "foo", "_", "bar", "é", "-", "mail"]),
    ("  lead\ttrail  \n", ["lead", "trail"]),
    ("café: x@y", ["café", ":", "x", "@", "y"]),
])
def test_tokenize_follows_the_documented_pattern(text, tokens):
    assert Tokenizer().tokenize(text) == tokens


def test_lowercase_false_keeps_case_and_class_tokens():
    assert Tokenizer(lowercase=False).tokenize("Hello WWW.X.COM $5") == ["Hello", "<url>", "<money>"]


def test_long_local_part_is_not_an_address():
    # the name of an address is at most 64 characters, which also bounds the regex's backtracking
    assert Tokenizer().tokenize("x" * 65 + "@y.com")[:2] == ["x" * 65, "@"]
    assert Tokenizer().tokenize("a." * 2000) == ["a", "."] * 2000


# --- vocabulary --------------------------------------------------------------------------

def test_reserved_ids_and_properties(tok):
    for i, special in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(special) == i == Tokenizer().token_to_id(special)
        assert tok.id_to_token(i) == special
    assert (tok.pad_id, tok.unk_id, tok.sos_id, tok.eos_id) == (0, 1, 2, 3)
    assert Tokenizer().get_vocab_size() == 4


def test_vocabulary_is_frequency_then_alphabetical(tok):
    # the:4, a/cat/dog/sat:2 (alphabetical), and/end/mat/on:1 (alphabetical)
    expected = ["the", "a", "cat", "dog", "sat", "and", "end", "mat", "on"]
    assert [tok.id_to_token(i) for i in range(4, tok.get_vocab_size())] == expected


def test_min_frequency_and_vocab_size_limit():
    by_freq = Tokenizer.train_from_iterator(TEXTS, vocab_size=100, min_frequency=2)
    assert set(by_freq.get_vocab()) == set(SPECIAL_TOKENS) | {"the", "a", "cat", "dog", "sat"}
    capped = Tokenizer.train_from_iterator(TEXTS, vocab_size=6, min_frequency=1)
    assert capped.get_vocab_size() == 6
    assert capped.id_to_token(4) == "the" and capped.id_to_token(5) == "a"


def test_training_is_deterministic_and_order_free():
    a = Tokenizer.train_from_iterator(TEXTS, vocab_size=7)
    b = Tokenizer.train_from_iterator(reversed(TEXTS), vocab_size=7)   # any iterable, read once
    assert a.get_vocab() == b.get_vocab()


def test_special_tokens_in_text_are_not_added_twice():
    t = Tokenizer.train_from_iterator(["<pad> <unk> word word"], min_frequency=1)
    # "<pad>" is an HTML-like tag and dropped, never a second entry
    assert t.get_vocab() == {"<pad>": 0, "<unk>": 1, "<sos>": 2, "<eos>": 3, "word": 4}


def test_class_tokens_enter_the_vocabulary():
    t = Tokenizer.train_from_iterator(["see http://a.io or a@b.com, $5 or 7"] * 2)
    assert all(t.token_to_id(c) is not None for c in CLASS_TOKENS)


@pytest.mark.parametrize("kwargs, message", [({"vocab_size": 3}, "vocab_size"),
                                             ({"min_frequency": 0}, "min_frequency")])
def test_bad_training_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Tokenizer.train_from_iterator(TEXTS, **kwargs)


@pytest.mark.parametrize("vocab, message", [
    ({"<pad>": 0, "<unk>": 1, "<sos>": 2}, "<eos>"),
    ({"<unk>": 0, "<pad>": 1, "<sos>": 2, "<eos>": 3}, "<pad>"),
    ({"<pad>": 0, "<unk>": 1, "<sos>": 2, "<eos>": 3, "x": 5}, "ids must be"),
])
def test_invalid_vocabulary_is_refused(vocab, message):
    with pytest.raises(ValueError, match=message):
        Tokenizer(vocab)


# --- encode / decode ---------------------------------------------------------------------

def test_encode_maps_unknown_words_to_unk(tok):
    ids = tok.encode("The cat ate the zebra")
    assert ids == [tok.token_to_id("the"), tok.token_to_id("cat"), 1, tok.token_to_id("the"), 1]
    assert tok.get_vocab_size() == 13   # encoding never grows the vocabulary


def test_encode_special_tokens_and_truncation(tok):
    full = tok.encode("the cat sat on the mat")
    assert tok.encode("the cat sat on the mat", add_special_tokens=True) == [2, *full, 3]
    assert tok.encode("the cat sat on the mat", max_length=2) == full[:2]
    assert tok.encode("the cat sat on the mat", max_length=4, add_special_tokens=True) == [2, *full[:2], 3]
    assert tok.encode("the cat", max_length=10) == full[:2]
    with pytest.raises(ValueError, match="max_length"):
        tok.encode("the", max_length=0)
    with pytest.raises(ValueError, match="max_length"):
        tok.encode("the", max_length=1, add_special_tokens=True)


@pytest.mark.parametrize("special", [False, True])
def test_encode_is_tokenize_mapped_then_cut(special):
    # encode reads ids straight off the matches and stops at max_length: it must give what
    # mapping every token and truncating gives, wherever the cut falls (HTML, URLs, runs)
    texts = ["<b>Hi</b> see www.x.com, pay $5!!!! to me@x.org <!-- c --> now 10:30 don't",
             "the cat <br> sat __ on the mat <p>", "", "  <i> </i>  ", "one"]
    tok = Tokenizer.train_from_iterator(texts[:1], vocab_size=8, min_frequency=1)
    for text in texts:
        mapped = [tok.token_to_id(t) if tok.token_to_id(t) is not None else 1
                  for t in tok.tokenize(text)]
        assert tok.encode(text, add_special_tokens=special) == (
            [2, *mapped, 3] if special else mapped)
        for n in range(2 if special else 1, len(mapped) + 4):
            expected = mapped[:n - 2] if special else mapped[:n]
            assert tok.encode(text, max_length=n, add_special_tokens=special) == (
                [2, *expected, 3] if special else expected), (text, n)


def test_encode_batch_matches_encode(tok):
    texts = ["the cat", "", "dog sat on a mat!"]
    assert tok.encode_batch(texts, max_length=3) == [tok.encode(t, max_length=3) for t in texts]


def test_decode_round_trip_and_special_tokens(tok):
    assert tok.decode(tok.encode("The CAT sat")) == "the cat sat"
    ids = [2, tok.token_to_id("dog"), 1, 3, 0, 0]
    assert tok.decode(ids) == "dog <unk>"
    assert tok.decode(torch.tensor(ids)) == "dog <unk>"
    assert tok.decode(ids, skip_special_tokens=False) == "<sos> dog <unk> <eos> <pad> <pad>"
    with pytest.raises(ValueError, match="99"):
        tok.decode([4, 99])


def test_lookups_of_unknown_entries_give_none(tok):
    assert tok.token_to_id("zebra") is None
    assert tok.id_to_token(10_000) is None and tok.id_to_token(-1) is None


# --- persistence -------------------------------------------------------------------------

def test_save_and_from_file_round_trip(tmp_path):
    t = Tokenizer.train_from_iterator(["Hello Hello world"], min_frequency=1, lowercase=False)
    path = tmp_path / "tok.json"
    t.save(path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["vocab"] == t.get_vocab() and saved["lowercase"] is False
    loaded = Tokenizer.from_file(path)
    assert loaded.get_vocab() == t.get_vocab()
    assert loaded.encode("Hello hello") == t.encode("Hello hello") == [4, 1]


def test_to_dict_is_json_safe_and_inverse(tok):
    d = json.loads(json.dumps(tok.to_dict()))
    again = Tokenizer.from_dict(d)
    assert again.get_vocab() == tok.get_vocab() and again.lowercase == tok.lowercase


def test_bad_files_and_dicts_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json"):
        Tokenizer.from_file(bad)
    with pytest.raises(ValueError, match="vocab"):
        Tokenizer.from_dict({"type": "bpe"})
