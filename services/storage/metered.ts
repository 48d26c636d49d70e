// An upload body that holds its bytes in a reservation (quotas, a multipart upload's bound) before they
// reach the disk: the declared length is reserved before a byte is read, so a write that cannot fit is
// refused at once; a body without one (aws-chunked without x-amz-decoded-content-length, chunked transfer)
// reserves each chunk as it arrives, and the first chunk that does not fit fails the stream with the
// bound's error before it is written. Either way the store never renames a file the counts did not allow.

import type http from 'node:http';
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import type { Reservation } from './tally.js';

/** The length a client promised for the decoded body, when it gave one we can trust to reserve up front. */
export function declaredLength(req: http.IncomingMessage, payloadHash: string): number | undefined {
  const decoded = req.headers['x-amz-decoded-content-length'];
  // The signed mode alone says whether the body is framed (payload.ts refuses aws-chunked under any other).
  const chunked = payloadHash.startsWith('STREAMING-');
  // An aws-chunked Content-Length counts the chunk framing too: only the decoded length is the object's.
  const text = decoded ?? (chunked ? undefined : req.headers['content-length']);
  if (typeof text !== 'string' || !/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** `body` with its bytes counted against `reservation` beyond what it already holds. */
export function metered(body: Readable, reservation: Reservation): Readable {
  let seen = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      seen += chunk.length;
      try {
        if (seen > reservation.bytes) reservation.grow(seen - reservation.bytes);
      } catch (err) {
        return done(err as Error);
      }
      done(null, chunk);
    },
  });
  // pipeline() carries a failure of the body (a check, a client gone) to the meter, which the store reads,
  // and a failure of the meter (or the store destroying it) back to the body.
  pipeline(body, meter, () => {});
  return meter;
}
