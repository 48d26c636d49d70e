// One at a time per name: a commit (or delete) of one object key, or of one multipart part number, waits
// for the previous one of the same name to settle, so the metadata file that wins on disk is the one the
// memory holds, and the data file removed is the one it replaced — never one a concurrent write committed.

export class Turns {
  private readonly last = new Map<string, Promise<void>>();

  /** Runs `fn` after every earlier call for `name` has settled (whatever its outcome). */
  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.last.get(name) ?? Promise.resolve();
    const run = before.then(fn);
    const turn = run.then(
      () => {},
      () => {},
    );
    this.last.set(name, turn);
    try {
      return await run;
    } finally {
      if (this.last.get(name) === turn) this.last.delete(name);
    }
  }
}
