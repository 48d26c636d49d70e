// The next fire times of a cron schedule before it is saved: the same validation a trigger gets
// (core/triggers.ts's parseTrigger, so a schedule the preview accepts is one the API accepts) and the same
// parser the cron scheduler runs (node-cron's own matcher, through a task that is created but never started,
// so it arms no timer), so what the preview shows is what the platform will fire.

import cron from 'node-cron';
import { StratusError } from '../../core/errors.js';
import { parseTrigger, type CronTriggerSpec } from '../../core/triggers.js';

/** Fire times a preview lists by default, and at most (each is a walk of node-cron's matcher). */
export const DEFAULT_PREVIEW_FIRES = 5;
export const MAX_PREVIEW_FIRES = 20;

export interface CronPreview {
  schedule: string;
  timezone: string;
  /** ISO times, in UTC, of the next fires counted from now. */
  next: string[];
}

/**
 * The next `count` fires of `schedule` in `timezone` (default UTC). INVALID_TRIGGER naming `${field}.schedule`
 * or `${field}.timezone` for what a trigger would be refused for; INVALID_REQUEST for a count out of bounds.
 */
export function previewCron(input: { schedule: unknown; timezone?: unknown }, count = DEFAULT_PREVIEW_FIRES, field = 'body'): CronPreview {
  if (!Number.isInteger(count) || count < 1 || count > MAX_PREVIEW_FIRES) {
    throw new StratusError('INVALID_REQUEST', `${field}.count: a whole number from 1 to ${MAX_PREVIEW_FIRES}`, { field: `${field}.count` });
  }
  const timezone = input.timezone === undefined || input.timezone === '' ? undefined : input.timezone;
  const spec = parseTrigger({ type: 'cron', schedule: input.schedule, ...(timezone === undefined ? {} : { timezone }) }, field) as CronTriggerSpec;
  const task = cron.createTask(spec.schedule, () => {}, { timezone: spec.timezone });
  try {
    return { schedule: spec.schedule, timezone: spec.timezone, next: task.getNextRuns(count).map((d) => d.toISOString()) };
  } finally {
    // createTask registers the task with node-cron; destroying it unregisters it (it never ran).
    void task.destroy();
  }
}
