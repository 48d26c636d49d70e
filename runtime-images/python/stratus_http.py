"""Maps an HTTP request to the handler's event and the handler's result to (status, headers, body)."""

import json
import re
from urllib.parse import parse_qsl


class BodyTooLarge(Exception):
    """The request body exceeds STRATUS_MAX_BODY_BYTES: answered 413."""


class BadRequest(Exception):
    """The request framing is broken (e.g. malformed chunked encoding), or the body ended early."""


# The runtime's own error answers have the platform's shape (RFC 9457 application/problem+json with a
# stable code, docs/errors.md). Status and title as in core/errors.ts (test/unit/runtime-problems.test.ts).
PROBLEMS = {
    "INVALID_REQUEST": (400, "Invalid request"),
    "CONFLICT": (409, "Conflict"),
    "PAYLOAD_TOO_LARGE": (413, "Content too large"),
    "FUNCTION_ERROR": (500, "The function threw an error"),
    "FUNCTION_UNAVAILABLE": (503, "Function is unavailable"),
}


def problem(code, detail, headers=None):
    """(status, headers, body) of a problem answer."""
    status, title = PROBLEMS[code]
    # The gateway's error catalogue entry (core/errors.ts problemType): served by whichever Stratus answered.
    doc = {"type": "/docs/errors.md#" + code.lower(), "title": title, "status": status, "code": code, "detail": detail}
    return status, {**(headers or {}), "content-type": "application/problem+json"}, json.dumps(doc, separators=(",", ":")).encode("utf-8")


def function_error_detail(err, function_name, request_id):
    """What a caller learns of a handler's exception: its type and where the rest is, never its message
    (it may hold what the function keeps to itself; the message and stack go to the function's log)."""
    where = f"see GET /v1/functions/{function_name}/logs?requestId={request_id}" if function_name else f"its message and stack are in the log under request id {request_id}"
    return f"the function threw an error ({type(err).__name__[:100]}); {where}"


def _read_exactly(rfile, n):
    # A short read means the client went away mid-body (the gateway does so when its caller left):
    # the handler must not run on part of a body, nor run on after the gateway freed the slot.
    data = rfile.read(n)
    if len(data) < n:
        raise BadRequest("the request body ended before its declared length")
    return data


def is_textual(content_type):
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media == ""
        or media.startswith("text/")
        or media.endswith("/json")
        or media.endswith("+json")
        or media.endswith("/xml")
        or media.endswith("+xml")
        or media == "application/x-www-form-urlencoded"
    )


def _read_chunked(rfile, max_bytes):
    parts, size = [], 0
    while True:
        line = rfile.readline(1024)
        try:
            chunk_size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as err:
            raise BadRequest("malformed chunked body") from err
        if chunk_size == 0:
            while rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass  # trailers are dropped
            return b"".join(parts)
        size += chunk_size
        if size > max_bytes:
            raise BodyTooLarge()
        parts.append(_read_exactly(rfile, chunk_size))
        if rfile.readline(8) not in (b"\r\n", b"\n"):
            raise BadRequest("malformed chunked body")


def read_body(headers, rfile, max_bytes):
    if "chunked" in (headers.get("transfer-encoding") or "").lower():
        return _read_chunked(rfile, max_bytes)
    length = int(headers.get("content-length") or 0)
    if length > max_bytes:
        raise BodyTooLarge()
    return _read_exactly(rfile, length) if length > 0 else b""


def parse_query(qs):
    query = {}
    for key, value in parse_qsl(qs, keep_blank_values=True):
        prev = query.get(key)
        if prev is None:
            query[key] = value
        elif isinstance(prev, list):
            prev.append(value)
        else:
            query[key] = [prev, value]
    return query


def build_event(method, target, headers, raw):
    path, _, qs = target.partition("?")
    lowered = {}
    for key, value in headers.items():
        k = key.lower()
        lowered[k] = f"{lowered[k]}, {value}" if k in lowered else value
    # An event (async call, cron, storage) arrives as a CloudEvent in binary mode: the ce-* headers carry
    # its attributes, the body its data; the handler gets the event itself (README, "Events").
    if "ce-specversion" in lowered and "ce-id" in lowered:
        return cloud_event(lowered, raw)
    body = raw.decode("utf-8", errors="replace") if is_textual(lowered.get("content-type")) else raw
    return {"method": method, "path": path, "query": parse_query(qs) if qs else {}, "headers": lowered, "body": body}


def cloud_event(headers, raw):
    """{id, type, source, time, subject, specversion, datacontenttype, data}: data parsed when it is JSON."""
    content_type = headers.get("content-type")
    data = None
    if raw:
        data = raw.decode("utf-8", errors="replace") if is_textual(content_type) else raw
        if isinstance(data, str) and re.match(r"^application/(.+\+)?json\b", content_type or "", re.I):
            try:
                data = json.loads(data)
            except ValueError:
                pass  # not the JSON it claims to be: the handler gets the text
    attrs = {name: headers.get(f"ce-{name}") for name in ("id", "type", "source", "time", "subject", "specversion")}
    return {**attrs, "datacontenttype": content_type, "data": data}


def _has(headers, name):
    return any(k.lower() == name for k in headers)


def _encode(body, headers):
    """Returns (bytes, default content type) for a response body."""
    if body is None:
        return b"", None
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), "application/octet-stream"
    return json.dumps(body, default=str, separators=(",", ":")).encode("utf-8"), "application/json"


def map_result(result):
    """An object with a numeric statusCode is a response; other values are mapped by type (README)."""
    if result is None:
        return 204, {}, b""
    if isinstance(result, dict) and isinstance(result.get("statusCode"), int) and not isinstance(result["statusCode"], bool):
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items() if v is not None}
        for key, value in headers.items():
            if any(c in key or c in value for c in "\r\n\0"):
                raise ValueError(f'response header "{key.strip()}" holds a line break or NUL')
        payload, default_type = _encode(result.get("body"), headers)
        if default_type is not None and not _has(headers, "content-type"):
            headers["content-type"] = default_type
        return result["statusCode"], headers, payload
    payload, default_type = _encode(result, {})
    return 200, {"content-type": default_type}, payload
