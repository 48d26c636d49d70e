"""Stratus in-container runtime for Python: an HTTP server (unix socket or TCP) that loads one
function's code and runs it per request. The protocol is in runtime-images/README.md.

State machine (as in the Node runtime):
  function role: loading -> ready              (load failure: exit 1)
  stem role:     stem -> initializing -> ready  (init failure: back to stem, 400; /init when not stem: 409)
  any state -> draining on SIGTERM/SIGINT (listener closed, in-flight finish within 10 s, exit 0)

Each connection gets a thread; sync handlers run in it, async handlers on one shared event loop thread.
"""

import asyncio
import inspect
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler

import stratus_code
import stratus_http
import stratus_logs
from stratus_loader import HandlerLoadError, load_handler

ENV = os.environ
SOCKET_PATH = ENV.get("STRATUS_SOCKET") or None
PORT = int(ENV.get("PORT") or 8080)
STEM = ENV.get("STRATUS_STEM") in ("1", "true")
MAX_BODY = int(ENV.get("STRATUS_MAX_BODY_BYTES") or 32 * 1024 * 1024)
DRAIN_SECONDS = 10.0
# Code over HTTP (POST /init with codeUrl): the bounds on what is fetched and unpacked.
CODE_MAX_BYTES = int(ENV.get("STRATUS_CODE_MAX_BYTES") or 256 * 1024 * 1024)
CODE_MAX_UNPACKED_BYTES = int(ENV.get("STRATUS_CODE_MAX_UNPACKED_BYTES") or 1024 * 1024 * 1024)
CODE_MAX_ENTRIES = int(ENV.get("STRATUS_CODE_MAX_ENTRIES") or 200_000)
CODE_FETCH_TIMEOUT_S = int(ENV.get("STRATUS_CODE_FETCH_TIMEOUT_MS") or 60_000) / 1000


class State:
    def __init__(self):
        self.phase = "stem" if STEM else "loading"
        self.handler = None
        self.function_name = ENV.get("STRATUS_FUNCTION_NAME") or None
        version = ENV.get("STRATUS_FUNCTION_VERSION")
        self.version = int(version) if version else None
        self.timeout_ms = int(ENV.get("STRATUS_TIMEOUT_MS") or 30000)
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self.in_flight = 0
        # The function's concurrency per instance, held here: several Stratus replicas route to one instance,
        # each counting only its own calls (as Knative's queue-proxy does). Calls past it wait their turn.
        self.slots = concurrency_slots(ENV.get("STRATUS_CONCURRENCY"))


def concurrency_slots(raw):
    try:
        n = int(raw)
    except (TypeError, ValueError):
        return None
    return threading.Semaphore(n) if n > 0 else None


state = State()
streams = stratus_logs.install()
_loop = None
_loop_lock = threading.Lock()


def note(msg):
    streams[3].write(f"stratus-runtime: {msg}\n")
    streams[3].flush()


def event_loop():
    """The one loop async handlers share, started on first use."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="stratus-async", daemon=True).start()
        return _loop


class Context:
    def __init__(self, request_id, deadline):
        self.request_id = self.requestId = request_id
        self.function_name = self.functionName = state.function_name
        self.version = state.version
        self.deadline = deadline
        self.logger = stratus_logs.Logger(request_id, streams[2], streams[3])

    def remaining_ms(self):
        return max(0, self.deadline - int(time.time() * 1000))

    remainingMs = remaining_ms


async def _in_invocation(awaitable, inv):
    # A task runs in a copy of the loop thread's context: bind the invocation inside the task itself.
    stratus_logs.current.set(inv)
    return await awaitable


def run_handler(handler, event, context, inv):
    token = stratus_logs.current.set(inv)
    try:
        result = handler(event, context)
        if inspect.isawaitable(result):
            result = asyncio.run_coroutine_threadsafe(_in_invocation(result, inv), event_loop()).result()
        return result
    finally:
        stratus_logs.current.reset(token)
        streams[0].flush_invocation(inv)
        streams[1].flush_invocation(inv)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def reply(self, status, headers, body):
        self.send_response_only(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if state.phase == "draining":
            self.send_header("connection", "close")
            self.close_connection = True
        bodiless = status in (204, 304) or status < 200
        if not bodiless:
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body and not bodiless and self.command != "HEAD":
            self.wfile.write(body)

    def linger(self, seconds=5):
        """After an answer sent before the body was read: half-close, then read and drop what the caller
        still sends, for a bounded time. Closing on unread bytes makes the kernel reset the connection,
        and the reset can destroy the answer before the gateway has read it."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1)
            until = time.monotonic() + seconds
            while time.monotonic() < until and self.connection.recv(65536):
                pass
        except OSError:
            pass

    def reply_json(self, status, obj, headers=None):
        self.reply(status, {"content-type": "application/json", **(headers or {})}, json.dumps(obj, separators=(",", ":")).encode("utf-8"))

    def handle_any(self):
        with state.lock:
            state.in_flight += 1
        try:
            self.dispatch()
        finally:
            with state.lock:
                state.in_flight -= 1
                if state.in_flight == 0:
                    state.idle.notify_all()

    def dispatch(self):
        rid = self.headers.get("x-stratus-request-id")
        if rid is None:
            path = self.path.split("?", 1)[0]
            if self.command == "GET" and path == "/healthz":
                ok = state.phase in ("ready", "stem", "initializing")
                return self.reply_json(200 if ok else 503, {"status": state.phase})
            if self.command == "POST" and path == "/init":
                return self.init()
            rid = str(uuid.uuid4())
        self.invoke(rid)

    def read_body(self, limit):
        return stratus_http.read_body(self.headers, self.rfile, limit)

    def invoke(self, rid):
        rid_header = {"x-stratus-request-id": rid}
        if state.handler is None or state.phase not in ("ready", "draining"):
            self.close_connection = True  # the body was not read
            return self.reply(*stratus_http.problem("FUNCTION_UNAVAILABLE", f"the function's runtime is {state.phase}, not ready for invocations; retry", rid_header))
        try:
            raw = self.read_body(MAX_BODY)
        except stratus_http.BodyTooLarge:
            self.close_connection = True
            self.reply(*stratus_http.problem("PAYLOAD_TOO_LARGE", f"the request body is larger than the function accepts ({MAX_BODY} bytes); send a smaller one", rid_header))
            return self.linger()
        except stratus_http.BadRequest as err:
            self.close_connection = True
            return self.reply(*stratus_http.problem("INVALID_REQUEST", str(err), rid_header))
        deadline_header = self.headers.get("x-stratus-deadline-ms")
        deadline = int(deadline_header) if deadline_header and deadline_header.isdigit() else int(time.time() * 1000) + state.timeout_ms
        event = stratus_http.build_event(self.command, self.path, self.headers, raw)
        inv = stratus_logs.Invocation(rid)
        slots = state.slots
        if slots is not None:
            slots.acquire()
        try:
            try:
                result = run_handler(state.handler, event, Context(rid, deadline), inv)
                status, headers, body = stratus_http.map_result(result)
            except BaseException as err:  # the function's own failure (even sys.exit()): a FunctionError
                stratus_logs.write_line(streams[3], rid, "error", "unhandled error: " + "".join(traceback.format_exception(err)).rstrip())
                detail = stratus_http.function_error_detail(err, state.function_name, rid)
                return self.reply(*stratus_http.problem("FUNCTION_ERROR", detail, {**rid_header, "x-stratus-function-error": "unhandled"}))
            headers["x-stratus-request-id"] = rid
            self.reply(status, headers, body)
        finally:
            if slots is not None:
                slots.release()

    @staticmethod
    def back_to_stem():
        with state.lock:
            if state.phase == "initializing":  # not when a SIGTERM made it draining meanwhile
                state.phase = "stem"

    def init(self):
        with state.lock:
            if state.phase != "stem":
                phase = state.phase
                busy = True
            else:
                state.phase, busy = "initializing", False
        if busy:
            self.close_connection = True
            return self.reply(*stratus_http.problem("CONFLICT", f"runtime is {phase}; /init is accepted once, by a stem"))
        try:
            spec = json.loads(self.read_body(1024 * 1024) or b"null")
            if not isinstance(spec, dict):
                raise ValueError("not an object")
            remote = isinstance(spec.get("codeUrl"), str)
            if not remote and not isinstance(spec.get("codeDir"), str):
                raise ValueError("no codeDir")
            sha = spec.get("sha256")
            if remote and not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
                raise ValueError("no sha256")
        except Exception:
            self.back_to_stem()
            return self.reply(*stratus_http.problem("INVALID_REQUEST", "body must be JSON: { codeDir | codeUrl with sha256 (hex SHA-256), handler, function, version, env }"))
        code_dir = spec.get("codeDir")
        if remote:
            try:
                gz = stratus_code.fetch_code(spec["codeUrl"], spec["sha256"], ENV.get("STRATUS_CODE_SOCKET"), CODE_MAX_BYTES, CODE_FETCH_TIMEOUT_S)
                code_dir = stratus_code.unpack_code(gz, CODE_MAX_UNPACKED_BYTES, CODE_MAX_ENTRIES)
            except Exception as err:  # noqa: BLE001 - any failure leaves the stem a stem
                self.back_to_stem()
                note(f"init failed: {err}")
                why = str(err) if isinstance(err, stratus_code.CodeFetchError) else f"unpacking it failed ({err})"
                return self.reply(*stratus_http.problem("INVALID_REQUEST", f"the code cannot be loaded: {why}"))
        try:
            for key, value in (spec.get("env") or {}).items():
                os.environ[str(key)] = str(value)
            handler = load_handler(code_dir, spec.get("handler") or "main.handler")
        except HandlerLoadError as err:
            self.back_to_stem()
            note(f"init failed: {err}")
            return self.reply(*stratus_http.problem("INVALID_REQUEST", f"the handler cannot be loaded: {err}"))
        state.handler = handler
        if isinstance(spec.get("function"), str):
            state.function_name = spec["function"]
        if isinstance(spec.get("version"), int):
            state.version = spec["version"]
        if isinstance(spec.get("timeoutMs"), int) and spec["timeoutMs"] > 0:
            state.timeout_ms = spec["timeoutMs"]
        if "concurrency" in spec:
            state.slots = concurrency_slots(spec["concurrency"])
        with state.lock:
            if state.phase == "initializing":
                state.phase = "ready"
        self.reply_json(200, {"status": "ready"})

    def __getattr__(self, name):
        # Every HTTP method is an invocation: do_GET, do_POST, do_PURGE, ... all dispatch the same way.
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)


class TcpRequestHandler(RequestHandler):
    disable_nagle_algorithm = True  # TCP only: setting it on a unix socket fails


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False


class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def make_server():
    if SOCKET_PATH:
        try:
            os.unlink(SOCKET_PATH)
        except FileNotFoundError:
            pass
        server = UnixServer(SOCKET_PATH, RequestHandler)
        os.chmod(SOCKET_PATH, 0o666)
        note(f"listening on unix:{SOCKET_PATH} ({state.phase})")
    else:
        server = TcpServer(("0.0.0.0", PORT), TcpRequestHandler)
        note(f"listening on 0.0.0.0:{PORT} ({state.phase})")
    return server


def main():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = make_server()
    threading.Thread(target=server.serve_forever, name="stratus-server", daemon=True).start()
    if not STEM:
        code_dir, handler = ENV.get("STRATUS_CODE_DIR") or "/app", ENV.get("STRATUS_HANDLER") or "main.handler"
        try:
            state.handler = load_handler(code_dir, handler)
        except HandlerLoadError as err:
            note(f'cannot load handler "{handler}" from {code_dir}: {err}')
            if err.__cause__ is not None:
                streams[3].write("".join(traceback.format_exception(err.__cause__)))
            os._exit(1)
        with state.lock:
            if state.phase == "loading":
                state.phase = "ready"
    stop.wait()
    state.phase = "draining"
    note(f"draining {state.in_flight} in-flight invocation(s)")
    server.shutdown()
    server.server_close()
    if SOCKET_PATH:
        # Stratus seals the socket's directory once the socket exists: removing it is no longer ours to do.
        try:
            os.unlink(SOCKET_PATH)
        except OSError:
            pass
    deadline = time.monotonic() + DRAIN_SECONDS
    with state.lock:
        while state.in_flight > 0 and time.monotonic() < deadline:
            state.idle.wait(deadline - time.monotonic())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
