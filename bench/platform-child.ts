// The platform under test, in its own process so the bench's load loop and memory are not counted
// against the gateway (and the two do not share one event loop). Started by bench/platform.ts; prints
// one JSON line { url, apiKey, pid } on stdout once it listens, and stops cleanly on SIGTERM, SIGINT
// or when the bench goes away (stdin closes), so no container outlives a killed bench.
// BENCH_PLATFORM_MODULE names another module exporting startPlatform (e.g. a branch's composition).
// BENCH_RECORDS=off wires the discardRecords sink instead of the batched record writer (bench/warm-records.ts
// compares the two); the bench checks afterwards that the platform really stored no record.

import { loadConfig, type Config } from '../core/config.js';
import { createLogger, type Logger } from '../core/log.js';

/** The composition root's contract (platform/start-platform.ts), stated here so the bench names what it relies on. */
type StartPlatform = (config: Config, logger: Logger, options?: { discardRecords?: boolean }) => Promise<{ url: string; apiKey: string; stop(): Promise<void> }>;

const modulePath = process.env.BENCH_PLATFORM_MODULE ?? '../platform/start-platform.js';
const { startPlatform } = (await import(modulePath)) as { startPlatform: StartPlatform };

const config = loadConfig(process.env);
const logger = createLogger({ level: config.log.level, json: config.log.format === 'json' });
const platform = await startPlatform(config, logger, { discardRecords: process.env.BENCH_RECORDS === 'off' });
process.stdout.write(JSON.stringify({ url: platform.url, apiKey: platform.apiKey, pid: process.pid }) + '\n');

let stopping = false;
async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info('bench platform stopping', { why });
  try {
    await platform.stop();
    process.exit(0);
  } catch (err) {
    logger.error('bench platform stop failed', { err });
    process.exit(1);
  }
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
process.stdin.on('end', () => void stop('bench exited'));
process.stdin.resume();
