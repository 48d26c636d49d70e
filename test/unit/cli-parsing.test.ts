// The CLI's own reading of its input: stratus.yaml and the flags over it, alias targets with canary
// weights, the build log's event stream cut at any byte, and `logs -f` printing each line once when
// polls overlap.

import { describe, expect, it } from 'vitest';
import { parseAliasTarget } from '../../cli/commands/release.js';
import { SeenLines, type LogLine } from '../../cli/commands/logs.js';
import { CliError } from '../../cli/errors.js';
import { applyFlags, parseDurationMs, parseProjectYaml, sourceOfField } from '../../cli/project.js';
import { readSse } from '../../cli/sse.js';

const message = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return (err as CliError).message;
  }
  throw new Error('expected a CliError');
};

describe('stratus.yaml and the deploy flags', () => {
  it('keeps the API fields as written, the triggers list included, and sends env values as strings', () => {
    const config = parseProjectYaml('name: hello\nruntime: node\nmemoryMb: 128\nenv:\n  PORT: 8080\n  DEBUG: true\ntriggers:\n  - type: cron\n    schedule: "*/5 * * * *"\n', 'stratus.yaml');
    expect(config).toEqual({ name: 'hello', runtime: 'node', memoryMb: 128, env: { PORT: '8080', DEBUG: 'true' }, triggers: [{ type: 'cron', schedule: '*/5 * * * *' }] });
  });

  it('says what is wrong with a file that is not a mapping or not YAML', () => {
    expect(message(() => parseProjectYaml('- a\n- b\n', 'stratus.yaml'))).toMatch(/stratus.yaml must be a mapping/);
    expect(message(() => parseProjectYaml('name: [unclosed\n', 'stratus.yaml'))).toMatch(/stratus.yaml is not valid YAML/);
  });

  it('lets the flags win over the file, --env merging into its env, and says which set a refused field', () => {
    const flags = { memory: '512', timeout: '2m', env: ['B=2', 'C=x=y'] };
    expect(applyFlags({ name: 'hello', memoryMb: 128, env: { A: '1', B: '1' } }, flags)).toEqual({ name: 'hello', memoryMb: 512, timeoutMs: 120_000, env: { A: '1', B: '2', C: 'x=y' } });
    expect(sourceOfField('config.memoryMb', flags, '/p/stratus.yaml')).toBe('--memory');
    expect(sourceOfField('config.triggers.0.schedule', flags, '/p/stratus.yaml')).toBe('stratus.yaml');
    expect(message(() => applyFlags({}, { env: ['NOEQUALS'] }))).toMatch(/--env takes NAME=value/);
    expect(parseDurationMs('--timeout', '500ms')).toBe(500);
    expect(message(() => parseDurationMs('--timeout', 'soon'))).toMatch(/--timeout takes milliseconds or a duration/);
  });
});

describe('alias targets', () => {
  it('reads one version, or two with weights where a missing weight is the rest of 100', () => {
    expect(parseAliasTarget('3')).toEqual({ version: 3 });
    expect(parseAliasTarget('v3')).toEqual({ version: 3 });
    expect(parseAliasTarget('3,4:20')).toEqual({ versions: [{ version: 3, weight: 80 }, { version: 4, weight: 20 }] });
    expect(parseAliasTarget('3:70,4:30')).toEqual({ versions: [{ version: 3, weight: 70 }, { version: 4, weight: 30 }] });
  });

  it('refuses weights that do not make 100, a repeated version and junk', () => {
    expect(message(() => parseAliasTarget('3:70,4:20'))).toMatch(/add up to 90; they must make 100/);
    expect(message(() => parseAliasTarget('3,4'))).toMatch(/all versions but one/);
    expect(message(() => parseAliasTarget('3,3:20'))).toMatch(/each version at most once/);
    expect(message(() => parseAliasTarget('latest'))).toMatch(/takes a version number/);
  });
});

describe('the build log event stream', () => {
  const body = 'event: log\ndata: [extract] --- extract\ndata: [extract] two\r\n\r\n: keep-alive\n\nevent: end\r\ndata: {"status":"succeeded","error":null}\r\n\r\n';
  const streamOf = (chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
        c.close();
      },
    });
  const collect = async (chunks: string[]) => {
    const out = [];
    for await (const ev of readSse(streamOf(chunks))) out.push(ev);
    return out;
  };

  it('gives the same events however the bytes are cut, "\\r\\n" split across chunks included', async () => {
    const whole = await collect([body]);
    expect(whole).toEqual([
      { event: 'log', data: '[extract] --- extract\n[extract] two' },
      { event: 'end', data: '{"status":"succeeded","error":null}' },
    ]);
    for (let cut = 1; cut < body.length; cut++) expect(await collect([body.slice(0, cut), body.slice(cut)])).toEqual(whole);
  });
});

describe('logs -f: overlapping polls', () => {
  const line = (time: string, message: string): LogLine => ({ time, function: 'f', version: 1, instance: 'i', requestId: 'r', level: 'info', stream: 'stdout', message });

  it('prints a line read again once, two equal lines twice, and a late line stamped earlier', () => {
    const seen = new SeenLines();
    const a = line('2026-01-01T00:00:01.000Z', 'a');
    seen.add([a]);
    const twin = line('2026-01-01T00:00:02.000Z', 'same');
    expect(seen.unseen([a, twin, twin])).toEqual([twin, twin]);
    seen.add([twin, twin]);
    const late = line('2026-01-01T00:00:01.500Z', 'late');
    expect(seen.unseen([a, late, twin, twin])).toEqual([late]);
  });

  it('does not bring back lines a first read left out with --limit', () => {
    const seen = new SeenLines();
    seen.floor = '2026-01-01T00:00:05.000Z';
    expect(seen.unseen([line('2026-01-01T00:00:04.000Z', 'old'), line('2026-01-01T00:00:06.000Z', 'new')]).map((l) => l.message)).toEqual(['new']);
  });
});
