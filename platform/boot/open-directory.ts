// Which InstanceDirectory this replica joins (scheduler/shared/directory.ts). On Redis with Docker or
// Kubernetes, every replica with the same platform id meets in Redis: instances are shared, one leader
// scales. The process backend's instances are this process's children (they die with it, and only it sees
// them exit), and the memory store is one process's: there this process is the whole platform.

import { createRedisClient } from '../../core/redis-client.js';
import type { Logger } from '../../core/log.js';
import type { Config } from '../../core/config.js';
import { LocalDirectory, newReplicaName, type InstanceDirectory } from '../../scheduler/shared/directory.js';
import { RedisDirectory } from '../../scheduler/shared/redis-directory.js';

export async function openDirectory(config: Config, storeKind: 'redis' | 'memory', backendKind: string, logger: Logger): Promise<InstanceDirectory> {
  const replica = newReplicaName();
  if (storeKind !== 'redis' || backendKind === 'process') return new LocalDirectory(replica);
  const url = config.store.redisUrl;
  const log = logger.child({ component: 'replicas' });
  const dir = new RedisDirectory({
    redis: createRedisClient(url, { name: `stratus-replica-${replica}`, use: 'commands', logger: log }),
    subscriber: createRedisClient(url, { name: `stratus-replica-${replica}-sub`, use: 'commands', logger: log }),
    // Replicas share instances only when they share the platform id: the label their backends find instances by.
    prefix: `${config.store.redisPrefix}platform:${config.platformId}:`,
    replica,
    logger: log,
  });
  await dir.start();
  log.info(`replica ${replica} of platform ${config.platformId}: instances are shared with the other replicas on this Redis`, { replica });
  return dir;
}
