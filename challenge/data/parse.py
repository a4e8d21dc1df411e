"""Raw RFC 822 mail to text: subject, body and the raw header block of one message.

Parsing uses the stdlib ``email`` package with ``policy.compat32`` on purpose. The modern
``policy.default`` parses every header through the header registry: on this corpus it was
about five times slower, one malformed ``Message-Id`` raised IndexError when read, and
``get_content()`` raised LookupError on 26 parts with unknown charsets. ``compat32`` never
raises on a defect and keeps undecodable 8-bit bytes reachable, so we do the RFC 2047 header
decoding and the charset fallbacks ourselves, explicitly:

* a declared charset is tried first (``iso-8859-1`` and ``us-ascii`` read as ``cp1252``, as
  mail clients and browsers do, since such mail is full of Windows "smart quotes");
* then UTF-8, then the declared charset with replacement characters, then ``cp1252``, and
  finally ``latin-1``, which decodes any byte string, so decoding never fails;
* unknown charsets (``default``, ``unknown-8bit``, ``chinesebig5`` ...) fall through the same
  chain, after a few well-known aliases are mapped to their codecs.

The body is the text of the MIME tree: ``text/plain`` parts as they are, ``text/html`` parts
(and plain parts that are plainly HTML) turned into text with :mod:`html.parser` (script and
style skipped, link and ``alt`` text kept), ``multipart/alternative`` read through its plain
part unless that is a stub for the HTML one, forwarded ``message/rfc822`` parts read
recursively, a multipart whose boundary never occurs read as text, and non-text attachments
ignored.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.errors
import email.header
import email.policy
import re
from dataclasses import dataclass
from email.message import Message as EmailMessage
from html.parser import HTMLParser

_ALIASES = {"chinesebig5": "big5", "gb2312_charset": "gb2312", "x-gbk": "gbk",
            "x-sjis": "shift_jis", "ks_c_5601": "cp949", "windows-874": "cp874"}
_AS_CP1252 = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii"}
_SKIP_TAGS = {"script", "style", "template"}
_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4",
               "h5", "h6", "blockquote", "hr", "pre", "title", "dt", "dd", "center", "form"}
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")
_TAG = re.compile(r"</?(?:p|br|div|table|tr|td|font|a|b|i|u|center|img|span|body|html|head|"
                  r"strong|li|ul|h[1-6])\b[^<>]{0,300}>", re.IGNORECASE)
_B64_LINE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_META_CHARSET = re.compile(rb"<meta[^>]*charset=[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedMail:
    """What a model can read from one message."""

    subject: str
    body: str
    headers: str


def _codec(charset: str | None) -> str | None:
    """The Python codec name for a declared charset, or None when unknown or absent."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    if name in _AS_CP1252:
        return "cp1252"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode ``data`` with the declared ``charset`` and the fallback chain; never raises."""
    codec = _codec(charset)
    attempts = [(codec, "strict"), ("utf-8", "strict"), (codec, "replace"), ("cp1252", "strict")]
    for name, errors in attempts:
        if name is None:
            continue
        try:
            return data.decode(name, errors)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


class _HTMLText(HTMLParser):
    """Collects the visible text of an HTML document (entities decoded by the parser)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        elif tag in ("td", "th"):
            self.chunks.append(" ")
        if tag == "img" and not self._skip:
            alt = dict(attrs).get("alt")
            if alt and alt.strip():
                self.chunks.append(f" {alt.strip()} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP_TAGS:  # <script/> opens nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """The visible text of ``html``: no tags, comments, scripts or styles; links keep their text."""
    parser = _HTMLText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # a malformed declaration: keep what was read so far
        pass
    return clean_text("".join(parser.chunks))


def clean_text(text: str) -> str:
    """Unix newlines, no NULs, runs of spaces collapsed, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def decode_header(value: object) -> str:
    """An RFC 2047 header (``=?utf-8?b?...?=`` words, raw 8-bit bytes) as one line of text."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        pieces = email.header.decode_header(value)
    else:
        text = str(value)
        try:
            pieces = email.header.decode_header(text)
        except (email.errors.HeaderParseError, ValueError, LookupError):
            pieces = [(text, None)]
    out = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            # compat32 hands over 8-bit bytes as surrogate escapes; recover and decode them
            chunk = chunk.encode("ascii", "surrogateescape")
        out.append(decode_bytes(chunk, charset))
    joined = "".join(out)  # plain chunks keep their own spaces; folded lines become spaces
    return _SPACES.sub(" ", joined.replace("\r", " ").replace("\n", " ")).strip()


def _part_text(part: EmailMessage) -> str:
    """The text of one MIME part and everything under it (empty for non-text leaves)."""
    ctype = part.get_content_type()
    if part.is_multipart():
        children = part.get_payload()
        if ctype == "multipart/alternative":
            return _alternative_text(children)
        return "\n\n".join(t for t in (_part_text(c) for c in children) if t)
    maintype = part.get_content_maintype()
    # a multipart whose boundary never occurs stays one blob: read it as text, not as nothing
    if maintype not in ("text", "multipart"):
        return ""
    payload = _payload_bytes(part)
    if payload is None:
        return ""
    charset = part.get_content_charset()
    if charset is None and ctype == "text/html":
        found = _META_CHARSET.search(payload[:4096])
        charset = found.group(1).decode("ascii") if found else None
    text = decode_bytes(payload, charset)
    if ctype == "text/html" or _looks_like_html(text):
        return html_to_text(text)
    return clean_text(text)


def _payload_bytes(part: EmailMessage) -> bytes | None:
    """The decoded payload of a leaf part.

    Mailing lists append a plain-text footer to base64 bodies; the stdlib then cannot decode
    the whole and hands back the base64 text itself. Here the leading run of base64 lines is
    decoded and the footer after it kept as it is.
    """
    payload = part.get_payload(decode=True)
    if str(part.get("content-transfer-encoding", "")).strip().lower() != "base64":
        return payload
    raw = part.get_payload(decode=False)
    if not isinstance(raw, str):
        return payload
    lines = raw.strip().split("\n")
    run = 0
    while run < len(lines) and _B64_LINE.fullmatch(lines[run].strip()):
        run += 1
    # not base64 (real base64 lines run to 60-76 characters), or all of it: the stdlib's result
    if run == 0 or run == len(lines) or len(lines[0].strip()) < 40:
        return payload
    encoded = "".join(line.strip() for line in lines[:run]).encode("ascii")
    try:
        head = base64.b64decode(encoded + b"=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return payload
    return head + b"\n" + "\n".join(lines[run:]).encode("utf-8", "surrogateescape")


def _alternative_text(children: list[EmailMessage]) -> str:
    """The plain version of a multipart/alternative, unless it is a stub for the HTML one.

    Spam often pairs a one-line plain part ("This is an HTML message") with the real HTML, so
    the HTML text wins when it is more than twice as long as the plain text.
    """
    texts = [(c.get_content_type(), _part_text(c)) for c in children]
    plain = next((t for ct, t in texts if ct == "text/plain" and t), "")
    other = max((t for ct, t in texts if ct != "text/plain"), key=len, default="")
    return other if len(other) > 2 * len(plain) else plain


def _looks_like_html(text: str) -> bool:
    """Spam often sends HTML labelled text/plain (or as a multipart whose boundary is broken).

    Detection only (the conversion is html.parser's): an ``<html`` near the top, or at least
    five common tags at a density of one per 200 characters or more, which leaves mail that
    merely discusses a few tags alone.
    """
    if "<html" in text[:2048].lower():
        return True
    if text.count("<") < 5:
        return False
    tags = sum(1 for _ in _TAG.finditer(text))
    return tags >= 5 and len(text) <= 200 * tags


def _header_block(raw: bytes) -> str:
    """The raw header lines (without the mbox ``From `` line), decoded leniently."""
    end = len(raw)
    for sep in (b"\n\n", b"\r\n\r\n"):
        i = raw.find(sep)
        if i != -1:
            end = min(end, i)
    text = decode_bytes(raw[:end]).replace("\r\n", "\n")
    if text.startswith("From "):
        text = text.partition("\n")[2]
    return text.replace("\x00", "")


def parse_message(raw: bytes) -> ParsedMail:
    """Subject, body text and raw headers of one RFC 822 message given as bytes."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return ParsedMail(subject=decode_header(msg.get("Subject")), body=_part_text(msg),
                      headers=_header_block(raw))


def parse_fallback(raw: bytes) -> ParsedMail:
    """A last resort when :func:`parse_message` raises: split at the first blank line."""
    text = decode_bytes(raw).replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    subject = next((line[8:].strip() for line in head.split("\n")
                    if line.lower().startswith("subject:")), "")
    return ParsedMail(subject=subject, body=clean_text(body), headers=head)
