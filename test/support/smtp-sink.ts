// A real SMTP server on loopback (the smtp-server package) for notification tests: it demands a login,
// keeps every message it accepted (envelope and raw text), and can be told to answer the next messages
// with an SMTP error code (451 "try later", 550 "refused") before accepting again.

import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  user: string | undefined;
}

export interface SmtpSink {
  /** smtp://USER:PASSWORD@127.0.0.1:PORT */
  url: string;
  received: ReceivedMail[];
  /** SMTP codes to answer the next messages' DATA with, in order (then: accept). */
  failNext: number[];
  close(): Promise<void>;
}

export async function startSmtpSink(login = { user: 'mailer', pass: 'smtp-p@ss/word' }): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const failNext: number[] = [];
  const server = new SMTPServer({
    // Plain text on loopback: no STARTTLS (its built-in test certificate would not be trusted), login allowed without TLS.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === login.user && auth.password === login.pass) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const code = failNext.shift();
        if (code !== undefined) return callback(Object.assign(new Error(code < 500 ? 'Mailbox busy, try again later' : 'Message refused'), { responseCode: code }));
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          user: typeof session.user === 'string' ? session.user : undefined,
        });
        callback(null, 'Message queued');
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${encodeURIComponent(login.user)}:${encodeURIComponent(login.pass)}@127.0.0.1:${port}`,
    received,
    failNext,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A header of a raw message (unfolded), or undefined. */
export function headerOf(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line === undefined ? undefined : decodeWords(line.slice(name.length + 1).trim());
}

/** RFC 2047 encoded words (=?UTF-8?Q?…?= / =?UTF-8?B?…?=), as a long or non-ASCII subject is sent; the space between two of them is not text. */
function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?UTF-8\?([QB])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : decodeURIComponent(text.replace(/_/g, ' ').replace(/%/g, '%25').replace(/=([0-9A-F]{2})/g, '%$1')),
  );
}

/** The body of a raw message as text (quoted-printable soft breaks and escapes undone). */
export function textOf(raw: string): string {
  const body = raw.split(/\r?\n\r?\n/).slice(1).join('\n\n');
  // Quoted-printable escapes are UTF-8 bytes: decode them as such.
  return decodeURIComponent(body.replace(/=\r?\n/g, '').replace(/%/g, '%25').replace(/=([0-9A-F]{2})/g, '%$1')).replace(/\r\n/g, '\n');
}
