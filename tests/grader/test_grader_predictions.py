"""Predictions files are validated strictly; each defect is named with its line."""

from __future__ import annotations

import pytest

from challenge.errors import ChallengeError
from grader.predictions import PredictionsError, parse_predictions, read_predictions

IDS = ["m00001", "m00002", "m00003"]


def _parse(text: str | bytes, **kw):
    raw = text.encode() if isinstance(text, str) else text
    return parse_predictions(raw, IDS, name="p.csv", **kw)


def test_valid_file_in_any_order():
    assert _parse("id,prediction\nm00003,1\nm00001,0.25\nm00002,0\n") == [0.25, 0.0, 1.0]


def test_crlf_quotes_and_utf8_bom_are_accepted():
    raw = b"\xef\xbb\xbfid,prediction\r\n\"m00001\",1\r\nm00002,0.5\r\nm00003,0\r\n"
    assert _parse(raw) == [1.0, 0.5, 0.0]


@pytest.mark.parametrize("text, needles", [
    ("id,prediction\nm00001,1\nm00001,0\nm00002,1\nm00003,1\n",
     ["line 3: duplicate id 'm00001' (first on line 2)"]),
    ("id,prediction\nm00001,1\nm00003,1\n", ["missing 1 id(s)", "'m00002'"]),
    ("id,prediction\nm00001,1\nm00002,1\nm00003,1\nm99999,1\n", ["line 5: unknown id 'm99999'"]),
    ("id,prediction\nm00001,1.5\nm00002,nan\nm00003,spam\n",
     ["line 2: prediction '1.5'", "line 3: prediction 'nan'", "line 4: prediction 'spam'"]),
    ("id,pred\nm00001,1\nm00002,1\nm00003,1\n", ["line 1: header"]),
    ("id,prediction\nm00001,1,extra\nm00002,1\nm00003,1\n", ["line 2: 3 fields"]),
    ("id,prediction\nm00001,1\n\nm00002,1\nm00003,1\n", ["line 3: empty line"]),
    ("", ["line 1: the file is empty"]),
    ("id,prediction\nm00001,\"1\nm00002,1\n", ["malformed CSV"]),
])
def test_each_defect_is_named_with_its_line(text, needles):
    with pytest.raises(PredictionsError) as e:
        _parse(text)
    for needle in needles:
        assert needle in str(e.value)


def test_other_encodings_are_named():
    with pytest.raises(PredictionsError, match="UTF-16"):
        _parse("id,prediction\nm00001,1\n".encode("utf-16"))
    with pytest.raises(PredictionsError, match=r"line 3: byte 0xff is not UTF-8"):
        _parse(b"id,prediction\nm00001,1\nm0000\xff,1\n")


def test_huge_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "w") as f:
        f.write("id,prediction\n")
        f.write("m00001,1\n" * 200_000)
    with pytest.raises(PredictionsError, match="bytes; at most 1000000"):
        read_predictions(path, IDS, max_bytes=1_000_000)


def test_missing_file(tmp_path):
    with pytest.raises(ChallengeError, match="does not exist"):
        read_predictions(tmp_path / "nope.csv", IDS)
