// Text the CLI did not write (a function's log lines and answers, build and check output, file names,
// error details, names and fields in API answers) reaches a terminal only through these functions. A
// terminal acts on control characters: ESC and the C1 CSI (0x9b) start sequences that clear the screen,
// move the cursor over earlier lines, set the window title, write the clipboard (OSC 52) or hide a link
// behind other text (OSC 8); a backspace or a carriage return inside a line overwrites what is shown;
// BiDi overrides reorder it. So every such character is shown as what it is — `\x1b`, `\x9b`, `\r`,
// `\u{202e}` — and never acted on. What stays: tab, and newline where the text is several lines.
//
// JSON output (--json) needs no escaping of C0 (JSON.stringify writes \u001b), but it writes DEL, C1 and
// BiDi controls raw: jsonText() writes them as \uXXXX escapes, which is the same JSON value.

/** C0 controls but tab and newline, DEL, C1 controls; BiDi embeddings, overrides and isolates, and the Arabic letter mark. */
// eslint-disable-next-line no-control-regex -- control characters are what this finds
const UNSAFE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\b': '\\b', '\x1b': '\\x1b' };

function shown(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/**
 * One line for the terminal: every control character shown escaped, a newline too (a line that could
 * print a second line could fake the CLI's own output); tab kept. A "\r" before the end is dropped:
 * CRLF output ends lines that way, and a "\r" with nothing after it overwrites nothing.
 */
export function safeLine(text: string): string {
  return text.replace(/\r+$/, '').replace(UNSAFE, shown);
}

/** Several lines for the terminal (a build log, a function's answer): newlines and tabs kept, CRLF read as a newline, the rest as safeLine. */
export function safeText(text: string): string {
  return text.split('\n').map(safeLine).join('\n');
}

/** A table cell or a field's value: one line, and a tab shown too, since it would break the columns. */
export function safeCell(text: string): string {
  return safeLine(text).replace(/\t/g, '\\t');
}

/** Whether the text holds a character safeText would change (not counting CRLF line ends). */
export function hasControls(text: string): boolean {
  return safeText(text) !== text.replace(/\r+\n/g, '\n').replace(/\r+$/, '');
}

const JSON_UNSAFE = /[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** JSON.stringify's text with the controls it writes raw written as \uXXXX escapes: the same value, safe on a terminal. */
export function jsonText(value: unknown, indent?: number): string {
  return (JSON.stringify(value, null, indent) ?? 'null').replace(JSON_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
