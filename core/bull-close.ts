// Closing a BullMQ worker and queue on a stop, whatever Redis is doing. BullMQ's own close waits for the jobs
// under way — what a graceful stop wants — but also for Redis: it ends the worker's blocking connection and
// waits for ioredis's 'end', which a client between two reconnect attempts never emits, and its writes of the
// finished jobs' results and its QUIT wait for a reconnect (the connections are made with maxRetriesPerRequest
// null, as BullMQ requires). So with Redis away at SIGTERM a stop hung in the first BullMQ close until the
// process's bound (STRATUS_STOP_TIMEOUT_MS), skipping every later phase: instances left running, records not
// flushed, exit 1. Here the processors' own work is waited for, and the results' writes only while Redis is
// there; a job whose result could not be written is run again after its lock expires (at least once).

import type { Redis } from 'ioredis';

/** What of a BullMQ Worker or Queue the close uses. */
export interface BullPart {
  close(): Promise<void>;
  disconnect(): Promise<void>;
}

/** Runs a processor and keeps it in `running` while it runs (what closeBullParts waits for). */
export async function tracked<T>(running: Set<Promise<unknown>>, run: () => Promise<T>): Promise<T> {
  const p = run();
  running.add(p);
  try {
    return await p;
  } finally {
    running.delete(p);
  }
}

/**
 * Closes `worker` (no new jobs; the running ones finish) and then `queue`, both on `connection`; returns once
 * that is done, or once no processor runs and Redis is not connected. Then the connections BullMQ made of its
 * own are dropped without a command; `connection` is its owner's to drop (with disconnect(): QUIT would wait).
 */
export async function closeBullParts(o: { worker: BullPart | null; queue: BullPart; connection: Redis; running: ReadonlySet<Promise<unknown>> }): Promise<void> {
  const closing = (async () => {
    await o.worker?.close();
    await o.queue.close();
  })();
  closing.catch(() => {}); // its errors are the worker's and queue's 'error' events, which their owners log
  await Promise.race([closing, jobsDoneAndRedisAway(o.connection, o.running)]);
  void o.worker?.disconnect().catch(() => {});
  void o.queue.disconnect().catch(() => {});
}

/** Resolves once no processor runs and `connection` is not connected (at once if it is away now, else when it goes). */
async function jobsDoneAndRedisAway(connection: Redis, running: ReadonlySet<Promise<unknown>>): Promise<void> {
  while (running.size > 0) await Promise.allSettled([...running]); // also one that began as the close did
  if (connection.status !== 'ready') return;
  await new Promise<void>((resolve) => {
    const gone = () => {
      connection.off('close', gone);
      resolve();
    };
    connection.on('close', gone);
  });
}
