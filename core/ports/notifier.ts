// The Notifier port: what a producer (the builder, rollouts, rollback, the error-rate watch) calls when
// something a developer must hear about happened. One method, notify(event); the implementation in
// production is services/notify/ (FanOutNotifier), which records one delivery per channel and hands them
// to a queue that retries them. Producers never wait on a receiver and never fail because of one:
// notify() does not throw. Declared in core so that the builder and the control plane need not know it.

export const NOTIFY_EVENT_KINDS = ['build.failed', 'checks.failed', 'rollout.abandoned', 'rollback', 'error-rate.high'] as const;
export type NotifyEventKind = (typeof NOTIFY_EVENT_KINDS)[number];

interface Subject {
  function: string;
  /** The version concerned (the one that failed, was abandoned, rolled back to, or erred); null when none. */
  version: number | null;
}

/** What a producer gives: the kind, its subject and the facts of that kind. */
export type NotifyEventInput = Subject &
  (
    | { kind: 'build.failed'; data: { buildId: string; error: string } }
    | { kind: 'checks.failed'; data: { buildId: string; summary: string } }
    | { kind: 'rollout.abandoned'; data: { alias: string; from: number | null; to: number; reason: string } }
    | { kind: 'rollback'; data: { alias: string; from: number; to: number; automatic: boolean; reason: string } }
    | { kind: 'error-rate.high'; data: { errorRate: number; threshold: number; windowMs: number; requests: number } }
  );

/** An event as delivered: its id (the same in every channel and attempt) and when it happened. */
export type NotifyEvent = NotifyEventInput & { id: string; time: string };

export interface Notifier {
  /** Records and queues the event's deliveries; resolves once they are queued. Never throws. */
  notify(event: NotifyEventInput): Promise<void>;
  close(): Promise<void>;
}

/** For wiring without notifications (tests, tools): every event is dropped. */
export const silentNotifier: Notifier = { notify: async () => {}, close: async () => {} };
