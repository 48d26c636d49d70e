// Entry point of `npm start`: validate the configuration once (exit 2 with the broken setting), start the
// platform (gateway/platform.ts is the composition root), and stop it in order on SIGTERM/SIGINT.

import { loadConfig, type Config } from '../core/config.js';
import { isStratusError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { startPlatform, type RunningPlatform } from './platform.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`stratus: ${isStratusError(err) ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.log.level, json: config.log.format === 'json' });
  let platform: RunningPlatform;
  try {
    platform = await startPlatform(config, logger);
  } catch (err) {
    logger.error(`cannot start: ${isStratusError(err) ? err.message : String(err)}`, isStratusError(err) ? {} : { err });
    process.exit(1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      platform.stop().then(
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
