// Which headers of a proxied message cross to the other side (RFC 9110 §7.6.1): the end-to-end ones.
// Used both ways — a caller's request towards an instance, an instance's answer towards the caller —
// so it sits beside the upstream call. Every forwarded message is framed anew by whoever sends it on,
// never passed through as bytes (gateway/dataplane/proxy-framing.ts says how a request body is framed).

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Lower-case names the Connection header(s) of a raw header list mark as hop-by-hop; null when none. */
function connectionNamed(raw: readonly string[]): string[] | null {
  let named: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const t = token.trim().toLowerCase();
      if (t) (named ??= []).push(t);
    }
  }
  return named;
}

/**
 * Appends to `out` the end-to-end headers of a raw list (name, value, name, value…, as in
 * IncomingMessage.rawHeaders): hop-by-hop ones, any the Connection header names, proxy-* and the names
 * in `drop` are left out. Duplicates stay as they came (e.g. several set-cookie). Transfer-Encoding is
 * hop-by-hop: the sender frames each message itself.
 */
export function copyEndToEnd(raw: readonly string[], out: string[], drop: ReadonlySet<string>): string[] {
  const named = connectionNamed(raw);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || drop.has(lower) || lower.startsWith('proxy-') || (named !== null && named.includes(lower))) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}
