// Entry point of `npm start`: validate the configuration once (exit 2 with the broken setting), start the
// platform (platform/start-platform.ts is the composition root), and stop it in order on SIGTERM/SIGINT. An
// error nobody caught is logged and the gateway serves on (process-faults.ts says when that is safe).

import { loadConfig, type Config } from '../core/config.js';
import { isStratusError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { startPlatform, type RunningPlatform } from './start-platform.js';
import { keepServingThroughFaults } from './process-faults.js';

/** A stop that hangs must not keep a process that gave up alive. */
const STOP_BOUND_MS = 15_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`stratus: ${isStratusError(err) ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.log.level, json: config.log.format === 'json' });
  if (config.serviceLinks.length > 0) logger.debug('ignored Kubernetes service-link variables (set enableServiceLinks: false in the pod spec to not get them)', { names: config.serviceLinks });
  let platform: RunningPlatform | undefined;
  keepServingThroughFaults(process, logger, (why) => {
    logger.error(`giving up: ${why}; stopping`);
    setTimeout(() => process.exit(1), STOP_BOUND_MS).unref();
    void (platform?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
  });
  let running: RunningPlatform;
  try {
    running = await startPlatform(config, logger);
    platform = running;
  } catch (err) {
    logger.error(`cannot start: ${isStratusError(err) ? err.message : String(err)}`, isStratusError(err) ? {} : { err });
    process.exit(1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      // A stop waits for what is under way (async invocations, builds), but not forever: past the bound the
      // process says what it still waited for and exits, so a supervisor's SIGTERM always ends it.
      setTimeout(() => {
        logger.error(`stop did not finish within ${config.stopTimeoutMs / 1000} s (still at: ${running.stopStep() ?? 'the last step'}); exiting`);
        process.exit(1);
      }, config.stopTimeoutMs).unref();
      running.stop().then(
        () => process.exit(0),
        (err) => {
          logger.error('error while stopping', { err });
          process.exit(1);
        },
      );
    });
  }
}

void main();
