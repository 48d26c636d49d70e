// The Redis store's key layout, in one place. Every key and channel starts with the platform's prefix
// (STRATUS_REDIS_PREFIX, by default derived from the state dir like the container label:
// core/platform-id.ts), so Stratus platforms sharing one Redis never list, serve or delete each other's
// functions. Under the prefix:
//   functions                 hash  name -> FunctionRecord JSON
//   versions:<name>           hash  version -> VersionRecord JSON
//   version-counter:<name>    INCR counter; the one key kept on delete, on purpose: a re-created function
//                             goes on from the old number, so an image tag, an artifact dir or a late log
//                             line of the deleted function is never taken for one of the new function
//   push-turns:<name>         hash  issued (the last git push ticket handed out), deployed (the latest ticket
//                             that took a version), version (the one it took); kept on delete with the
//                             version counter, for the same reason: tickets only grow (services/git/)
//   build:<id>                BuildRecord JSON;   build-log:<id>  APPENDed text, read by byte offset
//   build-report:<id>         CheckReport JSON (the build's check stage)
//   builds-of:<name>          set of build ids (what a delete must remove)
//   builds-unfinished         set of build ids not yet succeeded or failed
//   logs:<name>               list of LogRecord JSON, oldest first, trimmed to LOG_LINES_KEPT; it expires
//                             LOGS_TTL_S (redis.ts) after its last line, so lines arriving after a delete
//                             do not linger
//   inv:<id>                  InvocationRecord JSON, expiring with the retention's age
//   invs-of:<name>            zset of invocation ids scored by start (ms), trimmed to the retention's count
//   function-changes          the pub/sub channel a function's name is published on when it changes
//   usage:, usage-fns, billed:  metered usage, written with the records (redis-invocations.ts): see usage-redis.ts
//   triggers:, trigger-fires:, invoke-keys:, lease:   see redis-triggers.ts
//   session:, sessions        the dashboard's sessions: see sessions-redis.ts
// The names are the ones redis-legacy.ts moves from a Stratus without prefixes: renaming one here means
// moving it there too.

export function storeKeys(prefix: string) {
  return {
    functions: `${prefix}functions`,
    versions: (fn: string) => `${prefix}versions:${fn}`,
    versionCounter: (fn: string) => `${prefix}version-counter:${fn}`,
    pushTurns: (fn: string) => `${prefix}push-turns:${fn}`,
    build: (id: string) => `${prefix}build:${id}`,
    buildLog: (id: string) => `${prefix}build-log:${id}`,
    buildReport: (id: string) => `${prefix}build-report:${id}`,
    buildsOf: (fn: string) => `${prefix}builds-of:${fn}`,
    buildsUnfinished: `${prefix}builds-unfinished`,
    logs: (fn: string) => `${prefix}logs:${fn}`,
    invocation: (id: string) => `${prefix}inv:${id}`,
    invocationsOf: (fn: string) => `${prefix}invs-of:${fn}`,
    changes: `${prefix}function-changes`,
  } as const;
}

export type StoreKeys = ReturnType<typeof storeKeys>;
