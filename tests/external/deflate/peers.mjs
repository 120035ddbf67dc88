// permessage-deflate interop with Node's ws:
//   node peers.mjs URL
// A client with perMessageDeflate and one without, in one room of the relay
// at URL: compressible JSON both ways, a short message, binary; prints the
// negotiated extension. Exits non-zero on any mismatch or after 20 s.
import { WebSocket } from 'ws';
import assert from 'node:assert/strict';

const url = process.argv[2];
setTimeout(() => { console.error('ws interop: timed out'); process.exit(1); }, 20_000).unref();

function open(perMessageDeflate) {
  const ws = new WebSocket(url, { perMessageDeflate });
  const inbox = [];
  let waiting = null;
  ws.on('message', (data, isBinary) => {
    const item = isBinary ? Buffer.from(data) : data.toString();
    if (waiting) { const w = waiting; waiting = null; w(item); } else inbox.push(item);
  });
  ws.next = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { waiting = r; });
  return new Promise((resolve, reject) => { ws.on('open', () => resolve(ws)); ws.on('error', reject); });
}

const message = (n) => JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ symbol: 'ETH-USD', bid: 3000 + i, seq: n })));

const zipped = await open(true);
const plain = await open(false);
assert.match(zipped.extensions, /permessage-deflate/);
assert.equal(plain.extensions, '');
assert.equal(await zipped.next(), 'Hello, World!');
assert.equal(await plain.next(), 'Hello, World!');
for (const [sender, receiver, n] of [[zipped, plain, 1], [plain, zipped, 2]]) {
  sender.send(message(n));
  assert.equal(await receiver.next(), message(n));
}
zipped.send('short');
assert.equal(await plain.next(), 'short');
const bytes = Buffer.alloc(3000, 7);
plain.send(bytes);
assert.deepEqual(await zipped.next(), bytes);
console.log(`ws ok: ${zipped.extensions}`);
zipped.close();
plain.close();
