"""Attributes output to invocations: inside an invocation every line written to stdout/stderr (print,
logging, context.logger) becomes ONE JSON line {"rid","level","msg"}; outside, output is untouched.
The current invocation travels in a ContextVar, so threads and asyncio tasks keep theirs apart."""

import contextvars
import json
import sys
import threading

current = contextvars.ContextVar("stratus_invocation", default=None)
_write_lock = threading.Lock()


class Invocation:
    __slots__ = ("rid", "partial")

    def __init__(self, rid):
        self.rid = rid
        self.partial = {}


def write_line(stream, rid, level, msg):
    line = json.dumps({"rid": rid, "level": level, "msg": msg}, separators=(",", ":")) + "\n"
    with _write_lock:
        stream.write(line)
        stream.flush()


class CapturingStream:
    """Wraps sys.stdout / sys.stderr; buffers an invocation's partial line until its newline."""

    def __init__(self, original, level):
        self._original = original
        self._level = level

    def write(self, text):
        inv = current.get()
        if inv is None:
            return self._original.write(text)
        buf = inv.partial.get(self._level, "") + text
        *lines, rest = buf.split("\n")
        inv.partial[self._level] = rest
        for line in lines:
            write_line(self._original, inv.rid, self._level, line)
        return len(text)

    def flush_invocation(self, inv):
        rest = inv.partial.pop(self._level, "")
        if rest:
            write_line(self._original, inv.rid, self._level, rest)

    def flush(self):
        self._original.flush()

    def __getattr__(self, name):
        return getattr(self._original, name)


class Logger:
    """context.logger: info/warn/error lines attributed to one request id."""

    def __init__(self, rid, out, err):
        self._rid, self._out, self._err = rid, out, err

    def debug(self, msg, *args):
        write_line(self._out, self._rid, "debug", str(msg) % args if args else str(msg))

    def info(self, msg, *args):
        write_line(self._out, self._rid, "info", str(msg) % args if args else str(msg))

    def warn(self, msg, *args):
        write_line(self._err, self._rid, "warn", str(msg) % args if args else str(msg))

    warning = warn

    def error(self, msg, *args):
        write_line(self._err, self._rid, "error", str(msg) % args if args else str(msg))


def install():
    """Replaces sys.stdout/sys.stderr once; returns (stdout, stderr, original_stdout, original_stderr)."""
    original_out, original_err = sys.stdout, sys.stderr
    for stream in (original_out, original_err):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
    out, err = CapturingStream(original_out, "info"), CapturingStream(original_err, "error")
    sys.stdout, sys.stderr = out, err
    return out, err, original_out, original_err
