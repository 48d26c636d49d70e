// Cron triggers: every replica schedules every cron trigger with node-cron, and node-cron's distributed
// mode asks a run coordinator before each tick runs — ours takes a lease in the store named after the
// trigger and the tick ("cron:<trigger id>:<tick ISO time>", SET NX on Redis), so exactly one replica fires
// each tick however many share the Redis. A fire queues an async invocation (retries, dead letters and
// the CloudEvent to the runtime come with that path, and a zero-scaled function is woken by it) and is
// kept with its result. Ticks missed while every replica was down are not replayed: node-cron only
// schedules from now. Overlap "skip" is decided across replicas too: a tick fires nothing while the
// invocation of the trigger's last fire is still queued or running.

import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import { StratusError } from '../../core/errors.js';
import { Closeable, type Clock } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { TriggerFire, TriggerStore } from '../../core/store/triggers.js';
import type { CronTrigger } from '../../core/triggers.js';
import type { SubmitOptions, Submitted } from '../invocations/async-invocations.js';
import type { TriggerIndex } from './trigger-index.js';

export const CRON_EVENT_TYPE = 'dev.stratus.cron.tick';
/**
 * How long a tick's lease is held. It only has to outlive the spread of the replicas' clocks and event
 * loop delays for that one tick (its key names the tick); it expires by itself, so the store holds about
 * one key per trigger and 10 minutes of ticks.
 */
export const CRON_LEASE_MS = 10 * 60_000;
/** Upcoming fires shown on GET …/triggers/:id. */
const NEXT_FIRES_SHOWN = 3;

export interface CronSchedulerDeps {
  index: TriggerIndex;
  store: Pick<TriggerStore, 'claimLease' | 'recordTriggerFire' | 'listTriggerFires'>;
  /** The async path (AsyncInvocations.submit). */
  submit(fn: string, data: unknown, opts: SubmitOptions): Promise<Submitted>;
  /** An async invocation's status ('queued', 'running', …), null when no longer known. */
  invocationStatus(id: string): Promise<string | null>;
  clock: Clock;
  logger: Logger;
}

interface Scheduled {
  trigger: CronTrigger;
  task: ScheduledTask;
}

export class CronScheduler extends Closeable {
  readonly #scheduled = new Map<string, Scheduled>();
  readonly #fires = new Set<Promise<void>>();
  #unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: CronSchedulerDeps) {
    super();
  }

  /** Schedules the index's cron triggers and follows their changes. */
  start(): void {
    this.#unsubscribe = this.deps.index.onChange(() => this.#sync());
    this.#sync();
  }

  /** The next fire times of a scheduled trigger (ISO), for the API. */
  nextFires(triggerId: string): string[] | undefined {
    return this.#scheduled.get(triggerId)?.task.getNextRuns(NEXT_FIRES_SHOWN).map((d) => d.toISOString());
  }

  /** Triggers are immutable (a change is a new id), so syncing is: start the new ones, stop the gone ones. */
  #sync(): void {
    if (this.closed) return;
    const wanted = new Map(this.deps.index.ofType('cron').map((t) => [t.id, t]));
    for (const [id, s] of this.#scheduled) {
      if (!wanted.has(id)) {
        void s.task.destroy();
        this.#scheduled.delete(id);
      }
    }
    for (const [id, trigger] of wanted) if (!this.#scheduled.has(id)) this.#schedule(trigger);
  }

  #schedule(trigger: CronTrigger): void {
    const log = this.deps.logger.child({ function: trigger.function, trigger: trigger.id });
    try {
      const task = cron.schedule(trigger.schedule, (ctx: TaskContext) => this.#track(this.#fire(trigger, ctx.date)), {
        name: trigger.id,
        timezone: trigger.timezone,
        distributed: true,
        distributedLease: CRON_LEASE_MS,
        runCoordinator: { shouldRun: (key) => this.deps.store.claimLease(`cron:${key}`, CRON_LEASE_MS) },
        logger: nodeCronLogger(log),
        // A tick another replica won is not worth a line; a missed one (a blocked event loop) is.
        suppressMissedWarning: false,
      });
      this.#scheduled.set(trigger.id, { trigger, task });
    } catch (err) {
      // Validated on the way in; a trigger node-cron still refuses (a future version's stricter parser)
      // must not stop the others.
      log.error('cannot schedule cron trigger', { schedule: trigger.schedule, err });
    }
  }

  async #fire(t: CronTrigger, tick: Date): Promise<void> {
    const at = tick.toISOString();
    const fire = (f: Omit<TriggerFire, 'at' | 'firedAt'>) => this.deps.store.recordTriggerFire(t.id, { at, firedAt: this.#now(), ...f });
    try {
      if (t.overlap === 'skip') {
        const running = await this.#lastStillRunning(t);
        if (running) return await fire({ invocationId: null, result: 'skipped', reason: `the last fire's invocation ${running} is still queued or running (overlap "skip")` });
      }
      const submitted = await this.deps.submit(t.function, t.payload, {
        type: CRON_EVENT_TYPE, source: `/functions/${t.function}/triggers/${t.id}`, subject: t.schedule, time: at, trigger: 'cron',
      });
      await fire({ invocationId: submitted.id, result: 'queued' });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      // A function still building its first version (or whose every build failed) has nothing to run: the
      // tick is skipped, saying why, rather than counted as a failure of the trigger.
      if (err instanceof StratusError && err.code === 'FUNCTION_NOT_READY') return await fire({ invocationId: null, result: 'skipped', reason }).catch(() => {});
      this.deps.logger.warn('cron fire could not be queued', { function: t.function, trigger: t.id, tick: at, reason });
      await fire({ invocationId: null, result: 'failed', reason }).catch(() => {});
    }
  }

  /** The id of the last fire's invocation when it is still queued or running, else null. */
  async #lastStillRunning(t: CronTrigger): Promise<string | null> {
    const last = (await this.deps.store.listTriggerFires(t.id)).find((f) => f.invocationId !== null);
    if (!last?.invocationId) return null;
    const status = await this.deps.invocationStatus(last.invocationId);
    return status === 'queued' || status === 'running' ? last.invocationId : null;
  }

  #track(p: Promise<void>): Promise<void> {
    this.#fires.add(p);
    void p.finally(() => this.#fires.delete(p));
    return p;
  }

  #now(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }

  protected async doClose(): Promise<void> {
    this.#unsubscribe?.();
    await Promise.allSettled([...this.#scheduled.values()].map((s) => s.task.destroy()));
    this.#scheduled.clear();
    await Promise.allSettled([...this.#fires]);
  }
}

/** node-cron's own messages (missed ticks, coordinator errors) into the platform's log. */
function nodeCronLogger(log: Logger): NonNullable<Parameters<typeof cron.schedule>[2]>['logger'] {
  return {
    info: (message) => log.info(`node-cron: ${message}`),
    warn: (message) => log.warn(`node-cron: ${message}`),
    error: (message, err) => log.error(`node-cron: ${message instanceof Error ? message.message : message}`, err ? { err } : {}),
    debug: () => {},
  };
}
