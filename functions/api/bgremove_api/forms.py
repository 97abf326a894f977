"""Request bodies of the synchronous dialects as field values: multipart/form-data, urlencoded or JSON.

powertools 3.37's multipart reader turns a missing boundary, a non-UTF-8 text part or a binary part
without ``filename=`` into an unhandled ``ValueError`` (a 500), and reads only quoted ``name="..."``
first in ``Content-Disposition``, so parts sent by .NET (``name=image; filename=x.jpeg; filename*=...``)
are silently dropped. Here the stdlib ``email`` header parser (its classic ``compat32`` policy) reads each
part's headers in every RFC 7578 spelling, and anything that cannot be read is a :class:`BadRequestError`
(the dialect's 400).

A part is a file (:class:`UploadFile`) when it names a file, declares a non-text content type, or is not
UTF-8; otherwise it is text.

Every body is bounded before it is parsed, so that no body within the size limit costs more than
milliseconds of parsing: at most :data:`MAX_PARTS` parts, :data:`MAX_PART_HEADER_BYTES` of headers per part
and :data:`MAX_HEADER_PARAMETERS` parameters per header (a 586 KB part header of 150,000 ``;a=b``
parameters took the email parser 30 s), and JSON at most :data:`MAX_JSON_DEPTH` levels deep
(:func:`load_json`, for every JSON a client sends: bodies, cursors, metadata).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler.openapi.params import UploadFile

from bgremove_api.exceptions import BadRequestError

MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
JSON = "application/json"

MAX_PARTS = 32
"""Parts a multipart body, or fields an urlencoded one, may have: every dialect reads at most a dozen."""

MAX_PART_HEADER_BYTES = 8 * 1024
"""Header bytes of one multipart part (its Content-Disposition, Content-Type...), and of the request's own
Content-Type: browsers and SDKs send about a hundred."""

MAX_HEADER_PARAMETERS = 16
"""``;``-separated parameters (and ``(`` comments) in one part's headers together (``name``, ``filename``,
``filename*``, ``charset``...): clients send three or four."""

MAX_URLENCODED_ESCAPES = 400_000
"""``%XX`` escapes in an urlencoded body: base64 of the largest image the event can carry needs about
200,000 (``+``, ``/`` and ``=``, 3% of its characters); a body of nothing but escapes costs seconds."""

MAX_JSON_DEPTH = 32
"""Nesting of any JSON a client sends (DynamoDB's own limit for a stored document). Deeper JSON is
refused before anything walks it: Python's parser raises ``RecursionError`` at about 1,000 levels."""

MAX_JSON_CONTAINERS = 10_000
"""Objects and arrays in any JSON a client sends: a request has a few dozen; walking a million costs
seconds."""


def event_body(event: Mapping[str, Any]) -> bytes:
    """The request body's bytes from an API Gateway proxy event (base64 for binary media types)."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode()
    try:
        return base64.b64decode(str(body), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestError("the request body is not valid base64") from None


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The fields of a request body by name: ``str`` (JSON: any JSON value) or :class:`UploadFile`.

    A body with no content type is read as JSON (empty: no fields). Raises :class:`BadRequestError` for
    a body that cannot be read as its content type says, or a content type this API does not read.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == MULTIPART:
        return _multipart(body, str(content_type))
    if media_type == URLENCODED:
        _check_urlencoded(body)
        try:
            fields = parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_PARTS
            )
        except UnicodeDecodeError:
            raise BadRequestError("the urlencoded body is not UTF-8") from None
        except ValueError:  # over max_num_fields
            raise BadRequestError(f"the urlencoded body has more than {MAX_PARTS} fields") from None
        return dict(fields)
    if media_type in (JSON, ""):
        if not body.strip():
            return {}
        values = load_json(body, "the body")
        if not isinstance(values, dict):
            raise BadRequestError("the JSON body must be an object of fields")
        return values
    accepted = ", ".join((MULTIPART, URLENCODED, JSON))
    raise BadRequestError(f"content type {media_type!r} is not read here; send one of {accepted}")


def _check_urlencoded(body: bytes) -> None:
    # Python's unquote is fast on valid escapes (a 4.2 MB urlencoded base64 image: 0.17 s) but slow on
    # malformed ones (1.3 s for 1.5 million "%zz"): both are bounded at C speed before it runs.
    if _BAD_ESCAPE.search(body):
        raise BadRequestError("the urlencoded body has a % not followed by two hex digits")
    if body.count(b"%") > MAX_URLENCODED_ESCAPES:
        raise BadRequestError(f"the urlencoded body has more than {MAX_URLENCODED_ESCAPES:,} %-escapes")


_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def load_json(data: bytes | str, what: str) -> Any:
    """``data`` as JSON, for any JSON a client sends; ``what`` names it in the error.

    Raises
    ------
    BadRequestError
        Not UTF-8, not JSON (``NaN`` and ``Infinity`` are not JSON either, nor an integer of more than
        Python's 4,300 digits), nested deeper than :data:`MAX_JSON_DEPTH`, or with more than
        :data:`MAX_JSON_CONTAINERS` objects and arrays.
    """
    # Brackets are counted at C speed before parsing (those inside strings too: an over-count only
    # costs the walk below): few means shallow, and far more than any request needs is refused unread.
    if isinstance(data, str):
        containers = data.count("[") + data.count("{")
    else:
        containers = data.count(b"[") + data.count(b"{")
    if containers > MAX_JSON_CONTAINERS:
        raise BadRequestError(f"{what} has more than {MAX_JSON_CONTAINERS:,} JSON objects and arrays")
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise BadRequestError(f"{what} is JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, over Python's 4,300 integer digits
        raise BadRequestError(f"{what} is not valid JSON: {_short(error)}") from None
    if containers > MAX_JSON_DEPTH and _depth_over(value, MAX_JSON_DEPTH):
        raise BadRequestError(f"{what} is JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _short(error: ValueError) -> str:
    text = str(error)
    return text if len(text) <= 200 else f"{text[:200]}..."


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _multipart(body: bytes, content_type: str) -> dict[str, Any]:
    # The email parser reads every header (the error-prone part: quoting, parameter order, RFC 2231
    # ``filename*``); the body is cut at its delimiters with bytes operations, which on a 4.4 MB upload
    # take milliseconds where the email parser's line-by-line body reading takes about 0.2 s. The parser's
    # cost grows with a header's parameters, so the caps are checked on the raw bytes first.
    _check_header(content_type.encode("utf-8", "replace"), "the request's Content-Type")
    with _unreadable_header("the request's Content-Type"):
        header = _HEADERS.parsestr(f"Content-Type: {content_type}\r\n\r\n")
        boundary = header.get_boundary()
    if not boundary:
        raise BadRequestError("the multipart body has no boundary in its Content-Type header")
    delimiter = b"\r\n--" + boundary.encode("utf-8", "replace")
    # preamble, parts..., close delimiter: MAX_PARTS parts are MAX_PARTS + 2 sections
    sections = (b"\r\n" + body).split(delimiter, MAX_PARTS + 2)
    if len(sections) > MAX_PARTS + 2:
        raise BadRequestError(f"the multipart body has more than {MAX_PARTS} parts")
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise BadRequestError("the multipart body is malformed: no parts, or no closing boundary")
    values: dict[str, Any] = {}
    for section in sections[1:-1]:
        _padding, newline, part = section.partition(b"\r\n")  # after the delimiter: whitespace, CRLF
        head, blank, content = part.partition(b"\r\n\r\n")
        if part.startswith(b"\r\n"):  # a part without headers
            head, blank, content = b"", b"\r\n", part[2:]
        _check_header(head, "a multipart part's header")
        with _unreadable_header("a multipart part's header"):
            headers = _HEADERS.parsestr(head.decode("utf-8", "replace") + "\r\n\r\n")  # UTF-8 file names
            name = headers.get_param("name", header="content-disposition")
            if not newline or not blank or _padding.strip() or not isinstance(name, str):
                raise BadRequestError("a part of the multipart body has no Content-Disposition name")
            values[name] = _value(headers, content)
    return values


_HEADERS = HeaderParser(policy=compat32)
"""The classic (``compat32``) header parser: it reads every spelling RFC 7578 allows (quoted or not, RFC 2231
``filename*``, any parameter order) in linear time. The ``HTTP`` policy's parser took seconds on 8 KB of
``"`` or `` <`` (quadratic), and raised on ``name*`` without a value or deeply nested comments."""

_TEXT_CHARSETS = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252"}
)
"""Charsets a text part may declare; with any other it is read as a file (``punycode``, ``idna``: codecs
that raise or take quadratic time on hostile bytes)."""


@contextmanager
def _unreadable_header(what: str) -> Iterator[None]:
    # The email parser reads headers lazily and raises IndexError (``name*`` without a value),
    # RecursionError (hundreds of nested comments) and others on malformed ones: each is the client's 400.
    try:
        yield
    except (IndexError, RecursionError, ValueError, TypeError, AttributeError, LookupError):
        raise BadRequestError(f"the multipart body is malformed: {what} cannot be read") from None


def _check_header(head: bytes, what: str) -> None:
    """Refuse a header block the parser would spend long on: the caps count the whole block, so that
    folded continuation lines cannot spread parameters or nested comments over many short lines."""
    if len(head) > MAX_PART_HEADER_BYTES:
        raise BadRequestError(
            f"the multipart body is refused: {what} is over {MAX_PART_HEADER_BYTES:,} bytes"
        )
    if head.count(b";") > MAX_HEADER_PARAMETERS or head.count(b"(") > MAX_HEADER_PARAMETERS:
        raise BadRequestError(
            f"the multipart body is refused: {what} has more than {MAX_HEADER_PARAMETERS} parameters"
        )


def _value(headers: Message, data: bytes) -> str | UploadFile:
    filename = headers.get_filename()
    declared = headers.get("content-type")
    if filename is None and (declared is None or headers.get_content_maintype() == "text"):
        charset = (headers.get_content_charset() or "utf-8").lower()
        if charset in _TEXT_CHARSETS:
            try:
                return data.decode(charset)
            except UnicodeError:
                pass  # not text after all: a file sent without a filename
    content_type = headers.get_content_type() if declared else None
    return UploadFile(content=data, filename=filename, content_type=content_type)


def text_value(name: str, value: Any) -> Any:
    """A text field's value: a file part that holds UTF-8 text is read as that text."""
    if not isinstance(value, UploadFile):
        return value
    try:
        return value.content.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError(f"{name} must be text, not a binary file part") from None
