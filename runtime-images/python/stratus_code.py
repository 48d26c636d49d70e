"""A stem's code over HTTP (POST /init with { codeUrl, sha256 }), as runtime-images/node/code-fetch.mjs.

The platform's signed URL answers a gzipped tar of the version's code tree. It is fetched with a bound on
size and time, its SHA-256 checked against the one the platform sent, and unpacked under a fresh directory
in the temp dir refusing anything that could leave it: absolute or ".." paths, hard links, devices, fifos,
entries under a symlink, and symlinks whose real target is outside. Sizes and entry counts are bounded.
Members are checked and written one by one (not tarfile's extractall), the same on Python 3.11 as on 3.12+.
"""

import hashlib
import http.client
import io
import os
import posixpath
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.parse
import zlib


class CodeFetchError(Exception):
    pass


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket: a Docker stem reaches Stratus through one in a mounted dir."""

    def __init__(self, socket_path, host, timeout):
        super().__init__(host, timeout=timeout)
        self._socket_path = socket_path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._socket_path)
        self.sock = s


def fetch_code(url, sha256, socket_path, max_bytes, timeout_s):
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise CodeFetchError("codeUrl must be an http:// or https:// URL")
    deadline = time.monotonic() + timeout_s
    if socket_path:
        conn = _UnixConnection(socket_path, u.netloc, timeout_s)
    elif u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout_s)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout_s)
    try:
        conn.request("GET", (u.path or "/") + (f"?{u.query}" if u.query else ""), headers={"host": u.netloc})
        res = conn.getresponse()
        if res.status != 200:
            raise CodeFetchError(f"the code URL answered {res.status}")
        declared = res.getheader("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise CodeFetchError(f"the code is {declared} bytes, more than the {max_bytes} a stem takes")
        digest = hashlib.sha256()
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise CodeFetchError(f"the code did not arrive within {int(timeout_s * 1000)} ms")
            chunk = res.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise CodeFetchError(f"the code is more than the {max_bytes} bytes a stem takes")
            digest.update(chunk)
            chunks.append(chunk)
    except CodeFetchError:
        raise
    except (OSError, http.client.HTTPException) as err:
        raise CodeFetchError(f"fetching the code failed: {err}") from None
    finally:
        conn.close()
    got = digest.hexdigest()
    if got != sha256:
        raise CodeFetchError(f"the code's SHA-256 is {got}, not the {sha256} the platform sent")
    return b"".join(chunks)


def _gunzip(gz, limit):
    d = zlib.decompressobj(wbits=31)
    out, size, data = [], 0, gz
    try:
        while data:
            part = d.decompress(data, 1 << 20)
            size += len(part)
            if size > limit:
                raise CodeFetchError(f"the code unpacks to more than {limit} bytes")
            out.append(part)
            data = d.unconsumed_tail
        rest = d.flush()
    except zlib.error as err:
        raise CodeFetchError(f"the code is not gzip: {err}") from None
    if size + len(rest) > limit:
        raise CodeFetchError(f"the code unpacks to more than {limit} bytes")
    return b"".join(out) + rest


def _safe_relative(name):
    if "\0" in name:
        raise CodeFetchError("the code archive has a path with a NUL byte")
    stripped = name
    while stripped.startswith("./"):
        stripped = stripped[2:]
    if stripped in ("", ".", "./"):
        return None
    if stripped.startswith("/"):
        raise CodeFetchError(f"the code archive has an absolute path: {name[:200]!r}")
    norm = posixpath.normpath(stripped)
    if norm == ".." or norm.startswith("../") or ".." in norm.split("/"):
        raise CodeFetchError(f"the code archive has a path that leaves its root: {name[:200]!r}")
    return norm


def unpack_code(gz, max_unpacked_bytes, max_entries, parent=None):
    tar_bytes = _gunzip(gz, max_unpacked_bytes + (max_entries + 2) * 3 * 512)
    root = tempfile.mkdtemp(prefix="stratus-code-", dir=parent)
    try:
        _extract(tar_bytes, root, max_unpacked_bytes, max_entries)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root


def _extract(tar_bytes, root, max_unpacked_bytes, max_entries):
    real_root = os.path.realpath(root)
    links, total, entries = [], 0, 0
    try:
        tf = tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:")
    except tarfile.TarError as err:
        raise CodeFetchError(f"the code is not a tar archive: {err}") from None
    with tf:
        for m in tf:
            entries += 1
            if entries > max_entries:
                raise CodeFetchError(f"the code archive has more than {max_entries} entries")
            rel = _safe_relative(m.name)
            if rel is None:
                continue
            dest = os.path.join(root, rel)
            if m.isdir():
                os.makedirs(dest, mode=0o755, exist_ok=True)
            elif m.isreg():
                total += m.size
                if total > max_unpacked_bytes:
                    raise CodeFetchError(f"the code unpacks to more than {max_unpacked_bytes} bytes")
                os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
                data = tf.extractfile(m).read()
                # O_EXCL: a second entry of the same name is refused rather than written over.
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if m.mode & 0o111 else 0o644)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            elif m.issym():
                if not m.linkname or m.linkname.startswith("/"):
                    raise CodeFetchError(f"the code archive has a symlink to an absolute path: {rel!r}")
                links.append((rel, dest, m.linkname))
            else:
                kind = "hard link" if m.islnk() else f"member of type {m.type!r}"
                raise CodeFetchError(f"the code archive has a {kind} ({rel!r}); a code tree holds only files, directories and symlinks")
    # Symlinks last, so no file is written through one; each must resolve inside the root, none under another.
    made = set()
    for rel, dest, target in links:
        parts = rel.split("/")
        if any("/".join(parts[:i]) in made for i in range(1, len(parts))):
            raise CodeFetchError(f"the code archive has a symlink under a symlink: {rel!r}")
        os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
        os.symlink(target, dest)
        made.add(rel)
        real = os.path.realpath(dest)  # the kernel's resolution, link by link
        if not os.path.lexists(real) or not os.path.exists(dest):
            os.unlink(dest)  # dangling: points nowhere, so it serves nothing
            continue
        if real != real_root and not real.startswith(real_root + os.sep):
            raise CodeFetchError(f"the code archive has a symlink that leaves its root: {rel!r}")
