// The instance (a minimal HTTP server on a unix socket) and the per-call line reader (UDP, counts lines and its CPU).
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
const [role, arg] = [process.argv[2], process.argv[3]];
if (role === 'instance') {
  fs.rmSync(arg, { force: true });
  http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}'));
  }).listen(arg);
} else {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  let n = 0;
  s.on('message', () => n++);
  s.bind(Number(arg), '127.0.0.1');
  process.on('SIGTERM', () => {
    console.log(`reader: ${n} lines`);
    process.exit(0);
  });
}
