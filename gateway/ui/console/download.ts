// The Content-Disposition of an object downloaded from the console: always an attachment, named after the
// key's last segment. The plain filename= is an ASCII stand-in (anything else, quotes, backslashes and
// control characters become "_"), filename*= carries the real name percent-encoded (RFC 6266/8187), so a key
// of any bytes can neither break the header nor name a path ("../" is only ever part of a file name).

export function contentDisposition(key: string): string {
  const base = key.split('/').filter(Boolean).pop() ?? '';
  const name = base === '.' || base === '..' || base === '' ? 'download' : base;
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  // URLSearchParams-style encoding never throws on a lone surrogate (it becomes U+FFFD).
  const encoded = new URLSearchParams({ n: name }).toString().slice(2).replace(/\+/g, '%20').replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
