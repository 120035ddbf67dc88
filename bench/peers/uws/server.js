// uWebSockets.js with the seed's behaviour, written the way a uWS user would:
// every client subscribes to one topic and a message is published to it from
// the sender's socket, which uWS excludes from the recipients.
// A benchmark peer for wsrelay.
'use strict';

const pkg = '@trufflesuite/uws-js-unofficial';
// Load the native addon directly: the package silently falls back to a slow
// pure-JS implementation when no binary matches this Node.js, which would
// make the comparison meaningless.
const binary = `${pkg}/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
const uWS = require(binary);

const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || '127.0.0.1';
const TOPIC = 'all';
// WS_DEFLATE=1 (the deflate scenarios): permessage-deflate with uWS's shared
// compressor, which compresses a published message once for all subscribers.
const deflate = process.env.WS_DEFLATE === '1';
const compression = deflate ? uWS.SHARED_COMPRESSOR : uWS.DISABLED;
// With TLS_CERT_FILE and TLS_KEY_FILE (PEM), the same server as an SSLApp:
// https:// and wss:// on the port, as `wsrelay --tls-cert/--tls-key`.
const tls = process.env.TLS_CERT_FILE
  ? { cert_file_name: process.env.TLS_CERT_FILE, key_file_name: process.env.TLS_KEY_FILE }
  : null;

(tls ? uWS.SSLApp(tls) : uWS.App())
  .ws('/*', {
    compression,
    // ws's own default maximum message size (100 MiB), as in the seed.
    maxPayloadLength: 100 * 1024 * 1024,
    // The seed closes nobody for being quiet; keep idle connections open.
    idleTimeout: 0,
    // Same per-client bound as wsrelay's default --max-backlog (1 MiB).
    maxBackpressure: 1024 * 1024,
    open: (ws) => {
      ws.subscribe(TOPIC);
      ws.send('Hello, World!', false);
    },
    message: (ws, message, isBinary) => {
      // publish() compresses only when asked (its fourth argument).
      ws.publish(TOPIC, message, isBinary, deflate);
    },
  })
  .get('/', (res) => {
    res.writeHeader('Content-Type', 'text/plain').end('Hello, World!');
  })
  .listen(host, port, (listenSocket) => {
    if (!listenSocket) {
      console.error(`uws peer could not listen on ${host}:${port}`);
      process.exit(1);
    }
    console.log(`uws peer listening on ${host}:${port}`);
  });

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
