// The least a Node.js proxy hop can cost: one http server forwarding every request to 127.0.0.1:PORT
// through a keep-alive agent, nothing else. The warm section measures it beside the gateway so the
// table separates the cost of any Node hop on this machine from what the gateway itself adds.
// Plain JS so it starts without a TypeScript loader: node bench/bare-proxy.mjs UPSTREAM_PORT|UPSTREAM_SOCKET
// (a path starting with / is a unix socket: bench/native-path.ts puts it in front of a runtime's socket).
import http from 'node:http';

const upstream = process.argv[2].startsWith('/') ? { socketPath: process.argv[2] } : { host: '127.0.0.1', port: Number(process.argv[2]) };
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const server = http.createServer((req, res) => {
  const up = http.request({ ...upstream, agent, method: req.method, path: req.url, headers: req.headers }, (ures) => {
    res.writeHead(ures.statusCode ?? 502, ures.headers);
    ures.pipe(res);
  });
  up.on('error', () => {
    res.statusCode = 502;
    res.end();
  });
  req.pipe(up);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
// The bench closes stdin when it is done (or dies): never outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
