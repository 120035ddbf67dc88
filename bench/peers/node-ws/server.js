// The seed's design: an express app for GET / and a `ws` server on the same
// HTTP server that greets each client and forwards every message to all the
// other open clients. A benchmark peer for wsrelay: same behaviour, stock code.
'use strict';

const http = require('http');
const express = require('express');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || '127.0.0.1';

const app = express();
app.get('/', (req, res) => {
  res.type('text/plain').send('Hello, World!');
});

const server = http.createServer(app);
// WS_DEFLATE=1 (the deflate scenarios): ws's permessage-deflate with its defaults.
const wss = new WebSocketServer({ server, perMessageDeflate: process.env.WS_DEFLATE === '1' });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    }
  });
  ws.send('Hello, World!');
});

server.listen(port, host, () => {
  console.log(`node-ws peer listening on ${host}:${port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
