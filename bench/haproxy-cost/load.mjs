// N calls of /fn/x/ at c=32 over keep-alive connections to 127.0.0.1:PORT.
import http from 'node:http';
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const N = Number(process.argv[2]);
let done = 0;
let started = 0;
await new Promise((resolve) => {
  const one = () => {
    if (started >= N) return;
    started++;
    http.get({ host: '127.0.0.1', port: Number(process.env.PORT ?? 18700), path: '/fn/x/', agent }, (r) => {
      r.resume();
      r.on('end', () => (++done === N ? resolve() : one()));
    });
  };
  for (let i = 0; i < 32; i++) one();
});
agent.destroy();
