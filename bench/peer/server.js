// The chat protocol on Node.js and `ws`, the stack of the classic tutorial chat, written
// the way a careful Node developer would: one HTTP server, a signed session cookie,
// each broadcast serialized once, bounded buffering per socket. It keeps everything in
// memory. Used only as the peer in bench/run.
'use strict';

const http = require('http');
const crypto = require('crypto');
const { WebSocketServer } = require('ws');

const PORT = Number(process.env.PORT || 3100);
const HOST = process.env.HOST || '127.0.0.1';
const SECRET = crypto.randomBytes(32);
const MAX_BUFFERED = 256 * 1024; // bytes queued for one socket before it counts as not reading

let nextUserId = 1;
let nextMessageId = 1;
const sockets = new Set(); // every open /ws/chat socket
const online = new Map(); // user id -> { user, count }

const sign = (value) => crypto.createHmac('sha256', SECRET).update(value).digest('base64url');

function sessionUser(cookieHeader) {
  const match = /(?:^|;\s*)session=([^;]+)/.exec(cookieHeader || '');
  if (!match) return null;
  const [body, tag] = match[1].split('.');
  if (!body || !tag || sign(body) !== tag) return null;
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString());
  } catch {
    return null;
  }
}

function envelope(type, user, data) {
  return JSON.stringify({ id: nextMessageId++, type, user, data, ts: Date.now() });
}

function send(ws, frame) {
  if (ws.bufferedAmount > MAX_BUFFERED) {
    ws.close(1008, 'too many unread messages');
    return;
  }
  ws.send(frame);
}

function broadcast(type, user, data) {
  const frame = envelope(type, user, data);
  for (const ws of sockets) send(ws, frame);
}

function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/api/signin') {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 4096) req.destroy();
    });
    req.on('end', () => {
      let name;
      try {
        name = String(JSON.parse(body).name || '').trim();
      } catch {
        return json(res, 400, { error: 'invalid JSON body' });
      }
      if (name.length < 1 || [...name].length > 32) return json(res, 400, { error: 'bad name' });
      const id = nextUserId++;
      const user = { id, name, image: id % 10 };
      const value = Buffer.from(JSON.stringify(user)).toString('base64url');
      json(res, 200, user, {
        'set-cookie': `session=${value}.${sign(value)}; Path=/; HttpOnly; SameSite=Lax`,
      });
    });
    return;
  }
  json(res, 404, { error: 'not found' });
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 });

server.on('upgrade', (req, socket, head) => {
  if (!req.url.startsWith('/ws/chat')) {
    socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const user = sessionUser(req.headers.cookie);
    if (!user) return ws.close(4001, 'Invalid user');
    sockets.add(ws);
    const entry = online.get(user.id) || { user, count: 0 };
    entry.count += 1;
    online.set(user.id, entry);
    if (entry.count === 1) broadcast('join', user, `${user.name} joined.`);
    const users = [...online.values()].map((e) => e.user).sort((a, b) => a.id - b.id);
    send(ws, envelope('list', user, users));
    send(ws, JSON.stringify({ id: nextMessageId++, type: 'history', user, data: [], ts: Date.now(), truncated: false }));

    ws.isAlive = true;
    ws.on('pong', () => { ws.isAlive = true; });
    ws.on('message', (raw, isBinary) => {
      let msg;
      try {
        msg = isBinary ? null : JSON.parse(raw);
      } catch {
        msg = null;
      }
      if (!msg || msg.type !== 'chat' || typeof msg.text !== 'string') {
        return send(ws, envelope('error', user, 'malformed message'));
      }
      const text = msg.text.trim();
      if (!text) return;
      if ([...text].length > 2000) return send(ws, envelope('error', user, 'message is too long'));
      broadcast('chat', user, text);
    });
    ws.on('close', () => {
      sockets.delete(ws);
      const e = online.get(user.id);
      if (e && --e.count === 0) {
        online.delete(user.id);
        broadcast('left', user, `${user.name} left.`);
      }
    });
  });
});

const pings = setInterval(() => {
  for (const ws of sockets) {
    if (!ws.isAlive) {
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, 30000);

function shutdown() {
  clearInterval(pings);
  for (const ws of sockets) ws.close(1001, 'server shutting down');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

server.listen(PORT, HOST, () => {
  console.log(`Chat peer is running at http://${HOST}:${PORT}/`);
});
