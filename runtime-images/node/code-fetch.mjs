// A stem's code over HTTP (POST /init with { codeUrl, sha256 }): the platform's signed URL answers a
// gzipped tar of the version's code tree. It is fetched with a bound on size and time, its SHA-256 checked
// against the one the platform sent (the bytes are the ones it packed, whatever the path between), and
// unpacked under a fresh directory in /tmp refusing anything that could leave it: absolute or ".." paths,
// hard links, devices, fifos, entries under a symlink, and symlinks whose real target is outside. Sizes
// and entry counts are bounded while unpacking. Only Node built-ins: the runtime image has nothing else.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gunzip = promisify(zlib.gunzip);

export class CodeFetchError extends Error {}

/**
 * GET `url` (through the unix socket `socketPath` when given: a Docker stem reaches Stratus that way), at
 * most `maxBytes`, within `timeoutMs`; the body's SHA-256 must be `sha256`.
 */
export function fetchCode(url, sha256, { socketPath = null, maxBytes, timeoutMs }) {
  return new Promise((resolve, reject) => {
    let u;
    try {
      u = new URL(url);
    } catch {
      return reject(new CodeFetchError('codeUrl is not a URL'));
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return reject(new CodeFetchError('codeUrl must be http:// or https://'));
    const get = u.protocol === 'https:' ? https.get : http.get;
    const opts = socketPath ? { socketPath, path: u.pathname + u.search, headers: { host: u.host } } : {};
    const req = get(socketPath ? opts : u, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return fail(`the code URL answered ${res.statusCode}`);
      }
      const declared = Number(res.headers['content-length']);
      if (declared > maxBytes) {
        res.destroy();
        return fail(`the code is ${declared} bytes, more than the ${maxBytes} a stem takes`);
      }
      const hash = createHash('sha256');
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > maxBytes) {
          res.destroy();
          return fail(`the code is more than the ${maxBytes} bytes a stem takes`);
        }
        hash.update(c);
        chunks.push(c);
      });
      res.on('end', () => {
        const got = hash.digest('hex');
        if (got !== sha256) return fail(`the code's SHA-256 is ${got}, not the ${sha256} the platform sent`);
        done(Buffer.concat(chunks));
      });
      res.on('error', (err) => fail(`reading the code failed: ${err.message}`));
    });
    const timer = setTimeout(() => {
      req.destroy();
      fail(`the code did not arrive within ${timeoutMs} ms`);
    }, timeoutMs);
    let settled = false;
    function done(v) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    }
    function fail(msg) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new CodeFetchError(msg));
    }
    req.on('error', (err) => fail(`fetching the code failed: ${err.message}`));
  });
}

const BLOCK = 512;

function field(h, start, len) {
  const raw = h.subarray(start, start + len);
  const nul = raw.indexOf(0);
  return (nul >= 0 ? raw.subarray(0, nul) : raw).toString('utf8');
}

function octal(h, start, len) {
  const raw = h.subarray(start, start + len);
  if (raw[0] & 0x80) throw new CodeFetchError('the code archive uses base-256 sizes, which a code tree never needs');
  const s = field(h, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new CodeFetchError('the code archive has a malformed header');
  return parseInt(s, 8);
}

function checksumOk(h) {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === octal(h, 148, 8);
}

/** Pax extended header records: "LEN key=value\n". */
function paxRecords(buf) {
  const out = {};
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(buf.subarray(i, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || i + len > buf.length) throw new CodeFetchError('the code archive has a malformed pax header');
    const rec = buf.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** A member path as a relative path inside the root, or an error: no absolute path, no "..", no NUL. */
function safeRelative(name) {
  if (name.includes('\0')) throw new CodeFetchError('the code archive has a path with a NUL byte');
  const stripped = name.replace(/^(\.\/)+/, '');
  if (stripped === '' || stripped === '.' || stripped === './') return null; // the root itself
  if (path.posix.isAbsolute(stripped)) throw new CodeFetchError(`the code archive has an absolute path: ${JSON.stringify(name.slice(0, 200))}`);
  const norm = path.posix.normalize(stripped).replace(/\/+$/, '');
  if (norm === '..' || norm.startsWith('../') || norm.split('/').includes('..')) throw new CodeFetchError(`the code archive has a path that leaves its root: ${JSON.stringify(name.slice(0, 200))}`);
  return norm;
}

/**
 * Unpacks a gzipped tar into a new directory under the temp dir and returns it. Limits: `maxUnpackedBytes`
 * of file content, `maxEntries` entries.
 */
export async function unpackCode(gz, { maxUnpackedBytes, maxEntries, parent = os.tmpdir() }) {
  let tar;
  try {
    // The archive holds headers beside content: allow them room, the content itself is counted below.
    tar = await gunzip(gz, { maxOutputLength: maxUnpackedBytes + (maxEntries + 2) * 3 * BLOCK });
  } catch (err) {
    throw new CodeFetchError(err instanceof RangeError ? `the code unpacks to more than ${maxUnpackedBytes} bytes` : `the code is not gzip: ${err.message}`);
  }
  const root = fs.mkdtempSync(path.join(parent, 'stratus-code-'));
  const realRoot = fs.realpathSync.native(root);
  try {
    extract(tar, root, realRoot, maxUnpackedBytes, maxEntries);
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return root;
}

function extract(tar, root, realRoot, maxUnpackedBytes, maxEntries) {
  const links = [];
  let entries = 0;
  let total = 0;
  let pax = {};
  let longName = null;
  let longLink = null;
  let off = 0;
  for (;;) {
    if (off + BLOCK > tar.length) throw new CodeFetchError('the code archive ends without its end marker');
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    if (!checksumOk(h)) throw new CodeFetchError('the code archive has a header with a wrong checksum');
    const type = String.fromCharCode(h[156] || 0x30);
    let size = octal(h, 124, 12);
    if (pax.size !== undefined && type !== 'x' && type !== 'g') size = Number(pax.size);
    const dataStart = off + BLOCK;
    if (!Number.isSafeInteger(size) || size < 0 || dataStart + size > tar.length) throw new CodeFetchError('the code archive is truncated');
    const data = tar.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      pax = paxRecords(data);
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L' || type === 'K') {
      const v = data.toString('utf8').replace(/\0+$/, '');
      if (type === 'L') longName = v;
      else longLink = v;
      continue;
    }
    if (++entries > maxEntries) throw new CodeFetchError(`the code archive has more than ${maxEntries} entries`);
    const prefix = field(h, 345, 155);
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const linkname = pax.linkpath ?? longLink ?? field(h, 157, 100);
    const mode = octal(h, 100, 8);
    pax = {};
    longName = null;
    longLink = null;
    const rel = safeRelative(name);
    if (rel === null) continue;
    const dest = path.join(root, rel);
    if (type === '5') {
      fs.mkdirSync(dest, { recursive: true, mode: 0o755 });
    } else if (type === '0' || type === '7') {
      total += size;
      if (total > maxUnpackedBytes) throw new CodeFetchError(`the code unpacks to more than ${maxUnpackedBytes} bytes`);
      fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
      // 'wx': a second entry of the same name is refused rather than written over.
      fs.writeFileSync(dest, data, { mode: mode & 0o111 ? 0o755 : 0o644, flag: 'wx' });
    } else if (type === '2') {
      if (linkname === '' || path.posix.isAbsolute(linkname)) throw new CodeFetchError(`the code archive has a symlink to an absolute path: ${JSON.stringify(rel)}`);
      links.push({ rel, dest, linkname });
    } else {
      throw new CodeFetchError(`the code archive has a ${type === '1' ? 'hard link' : `member of type ${JSON.stringify(type)}`} (${JSON.stringify(rel)}); a code tree holds only files, directories and symlinks`);
    }
  }
  // Symlinks last, so that no file is ever written through one; each must resolve inside the root, and
  // none may sit under another (creating it would go through the first).
  const made = new Set();
  for (const l of links) {
    const parts = l.rel.split('/');
    for (let i = 1; i < parts.length; i++) if (made.has(parts.slice(0, i).join('/'))) throw new CodeFetchError(`the code archive has a symlink under a symlink: ${JSON.stringify(l.rel)}`);
    fs.mkdirSync(path.dirname(l.dest), { recursive: true, mode: 0o755 });
    fs.symlinkSync(l.linkname, l.dest);
    made.add(l.rel);
    let real;
    try {
      real = fs.realpathSync.native(l.dest); // the kernel's resolution: the JS one resolves ".." lexically
    } catch {
      fs.unlinkSync(l.dest); // dangling: points nowhere, so it serves nothing (still no entry may sit under it)
      continue;
    }
    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) throw new CodeFetchError(`the code archive has a symlink that leaves its root: ${JSON.stringify(l.rel)}`);
  }
}

/**
 * A stem runs this once it listens, off the cold path: the first HTTP request, gunzip and temp dir of a
 * process load and compile their code (tens of ms on a busy host), which would otherwise land in the first
 * /init. It asks the stem's own /healthz, so it needs nothing from the platform.
 */
export async function warmUp(own) {
  try {
    await unpackCode(zlib.gzipSync(Buffer.alloc(1024)), { maxUnpackedBytes: 1024, maxEntries: 1 }).then((d) => fs.rmSync(d, { recursive: true, force: true }), () => {});
    await new Promise((resolve) => {
      const req = http.get({ ...own, path: '/healthz', headers: { host: 'stem' }, agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', resolve);
      req.setTimeout(2000, () => req.destroy());
    });
    createHash('sha256').update('warm').digest('hex');
  } catch {
    // only a warm-up
  }
}
