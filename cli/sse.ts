// A reader of server-sent events (the build log's ?follow=1) by the HTML standard's rules ("Parsing an
// event stream"): a line ends at "\r\n", "\r" or "\n"; "data:" lines join with "\n"; a blank line
// dispatches. One decoder for a fetch body read as it comes and for a whole text (tests).

export interface SseEvent {
  event: string;
  data: string;
}

const LINE_END = /\r\n|\r|\n/;

/** Fields of the event being read; line() answers the event a blank line completes. */
export class SseDecoder {
  #event = '';
  #data: string[] = [];

  line(line: string): SseEvent | undefined {
    if (line === '') {
      const done = this.#data.length > 0 ? { event: this.#event || 'message', data: this.#data.join('\n') } : undefined;
      this.#event = '';
      this.#data = [];
      return done;
    }
    if (line.startsWith(':')) return undefined; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    return undefined;
  }
}

/** Every event of a whole event stream. */
export function parseEventStream(text: string): SseEvent[] {
  const decoder = new SseDecoder();
  return text.split(LINE_END).flatMap((l) => decoder.line(l) ?? []);
}

/** The events of a fetch body, as they arrive. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const text = new TextDecoder();
  const decoder = new SseDecoder();
  let buffer = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? text.decode() : text.decode(value, { stream: true });
      for (;;) {
        const m = LINE_END.exec(buffer);
        // A "\r" last in the buffer may be the first half of "\r\n": wait for the next chunk.
        if (!m || (m[0] === '\r' && m.index === buffer.length - 1 && !done)) break;
        const ev = decoder.line(buffer.slice(0, m.index));
        buffer = buffer.slice(m.index + m[0].length);
        if (ev) yield ev;
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
}
