// Polls a getter (sync, or async for state behind an API) until it yields a value: for state that arrives
// through a stream (log lines, events) or a rollout. Bounded by a deadline so a test fails instead of hanging.

export async function until<T>(what: string, get: () => T | undefined | Promise<T | undefined>, ms = 10_000, everyMs = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
