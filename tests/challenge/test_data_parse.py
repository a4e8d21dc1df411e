"""Parsing raw mail: MIME walk, transfer encodings, charsets, HTML to text, headers."""

from __future__ import annotations

import base64

import pytest

from challenge.data.parse import (
    decode_bytes,
    decode_header,
    html_to_text,
    parse_message,
)


def mail(headers: str, body: bytes | str) -> bytes:
    body = body.encode("ascii") if isinstance(body, str) else body
    return b"From x@example.com  Thu Aug 22 12:36:23 2002\n" + headers.encode("ascii") + b"\n\n" + body


def test_plain_message_keeps_subject_and_body_apart():
    p = parse_message(mail("From: a@b.c\nSubject: Meeting  tomorrow", "See you\r\nat ten."))
    assert p.subject == "Meeting tomorrow"
    assert p.body == "See you\nat ten."
    assert p.headers.startswith("From: a@b.c")  # the mbox "From " line is not a header
    assert "Subject: Meeting" in p.headers and "See you" not in p.headers


def test_multipart_with_base64_and_quoted_printable_parts():
    b64 = base64.b64encode("first part, in base64".encode()).decode()
    raw = mail('Subject: two parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="XX"',
               f"--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{b64}\n"
               "--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
               "second part: caf=C3=A9 =\nsoft break\n"
               "--XX\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n--XX--\n")
    body = parse_message(raw).body
    assert body == "first part, in base64\n\nsecond part: café soft break"


def test_base64_body_with_a_plain_mailing_list_footer_is_decoded():
    text = "<html><body><p>Degerli kullanicimiz, programi indirin.</p></body></html>" * 3
    b64 = base64.encodebytes(text.encode()).decode()           # 76-character lines
    footer = "_______________________________________________\nwebmake-talk mailing list\n"
    raw = mail("Subject: x\nContent-Type: text/html\nContent-Transfer-Encoding: base64", b64 + footer)
    body = parse_message(raw).body
    assert body.startswith("Degerli kullanicimiz, programi indirin.")
    assert body.endswith("webmake-talk mailing list")
    assert "PGh0bWw" not in body


def test_latin1_and_windows_quotes_and_unknown_charset():
    latin = mail("Subject: x\nContent-Type: text/plain; charset=iso-8859-1", "caf\xe9 \x93quoted\x94".encode("latin-1"))
    assert parse_message(latin).body == "café \u201cquoted\u201d"  # iso-8859-1 read as cp1252
    unknown = mail("Subject: x\nContent-Type: text/plain; charset=x-no-such-charset", "na\xefve".encode("latin-1"))
    assert parse_message(unknown).body == "naïve"
    utf8_undeclared = mail("Subject: x", "r\u00e9sum\u00e9".encode("utf-8"))
    assert parse_message(utf8_undeclared).body == "résumé"


def test_decode_bytes_never_fails_and_prefers_the_declared_charset():
    assert decode_bytes("Привет".encode("koi8-r"), "koi8-r") == "Привет"
    assert decode_bytes("中文".encode("gb2312"), "gb2312_charset") == "中文"  # a known alias
    assert decode_bytes(bytes(range(256)), "unknown-8bit")  # latin-1 as last resort


def test_html_only_message_becomes_text_without_script_style_or_tags():
    html = ("<html><head><style>p {color: red}</style><script>alert('x')</script></head>"
            "<body><p>Cheap&nbsp;meds &amp; more</p><a href='http://x.example'>Click here</a>"
            "<!-- hidden comment --><img src='a.gif' alt='FREE'></body></html>")
    p = parse_message(mail("Subject: offer\nContent-Type: text/html", html))
    assert "Cheap meds & more" in p.body
    assert "Click here" in p.body and "FREE" in p.body
    for leaked in ("color", "alert", "<", "hidden comment", "http://x.example"):
        assert leaked not in p.body


def test_html_labelled_plain_and_meta_charset():
    p = parse_message(mail("Subject: x", "<html><body><b>bold</b> text</body></html>"))
    assert p.body == "bold text"
    gb = "<html><head><meta content='text/html; charset=gb2312'></head><body>\u4e2d\u6587</body></html>"
    p = parse_message(mail("Subject: x\nContent-Type: text/html", gb.encode("gb2312")))
    assert p.body == "中文"


def test_alternative_prefers_plain_unless_it_is_a_stub():
    def alt(plain: str, html: str) -> bytes:
        return mail('Subject: alt\nContent-Type: multipart/alternative; boundary="B"',
                    f"--B\nContent-Type: text/plain\n\n{plain}\n--B\nContent-Type: text/html\n\n"
                    f"{html}\n--B--\n")
    assert parse_message(alt("the plain words", "<p>the html words</p>")).body == "the plain words"
    stub = parse_message(alt("This is HTML.", "<p>" + "real offer text " * 5 + "</p>")).body
    assert stub.startswith("real offer text")


def test_empty_body_keeps_subject():
    p = parse_message(mail("Subject: Do you remember me?\nContent-Type: text/html",
                           "<html><body><img src='x.gif'></body></html>"))
    assert p.body == "" and p.subject == "Do you remember me?"


def test_multipart_whose_boundary_never_occurs_is_read_as_text():
    raw = mail('Subject: x\nContent-Type: multipart/alternative; boundary="nope"',
               "--other\nContent-Type: text/plain\n\nthe actual words\n--other--\n")
    assert "the actual words" in parse_message(raw).body


@pytest.mark.parametrize("value, expected", [
    ("=?utf-8?b?w6l0w6k=?= time", "été time"),
    ("=?iso-8859-1?q?a?= =?iso-8859-1?q?b?=", "ab"),
    ("=?x-unknown?q?caf=E9?=", "café"),
    ("folded\n subject", "folded subject"),
    (None, ""),
])
def test_decode_header(value, expected):
    assert decode_header(value) == expected


def test_raw_8bit_subject_is_decoded():
    raw = b"Subject: caf\xe9 ol\xe9\n\nbody\n"
    assert parse_message(raw).subject == "café olé"


def test_html_to_text_survives_broken_markup():
    assert html_to_text("<p>unclosed <b>tags <i>and & stray < signs") == "unclosed tags and & stray < signs"
