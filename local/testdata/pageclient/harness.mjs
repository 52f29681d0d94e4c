// Runs the page's own client code (web/client.js, copied beside this file's
// argument) in Node: N ChatClients in one room, half of them sending, with
// the connection drops coming from the test's proxy. It prints one JSON
// line when every message is acked ("acked"), then, once every client has
// caught up to the last acked seq, one line with every client's log.
//
// node --experimental-websocket harness.mjs '{"clientDir": ..., ...}'

import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(process.argv[2]);

// The browser globals client.js uses, and nothing more.
const windowEvents = new EventTarget();
globalThis.window = {
  addEventListener: (...a) => windowEvents.addEventListener(...a),
  removeEventListener: (...a) => windowEvents.removeEventListener(...a),
};
if (typeof globalThis.navigator === 'undefined') globalThis.navigator = { onLine: true };
if (typeof globalThis.CustomEvent === 'undefined') {
  globalThis.CustomEvent = class extends Event {
    constructor(type, { detail } = {}) { super(type); this.detail = detail; }
  };
}
if (typeof globalThis.WebSocket === 'undefined') {
  console.error('no WebSocket: run node with --experimental-websocket (Node 20) or Node 22+');
  process.exit(2);
}

const { ChatClient, newSecret } = await import(pathToFileURL(`${cfg.clientDir}/client.js`).href);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = (v) => new Promise((resolve) => process.stdout.write(`${JSON.stringify(v)}\n`, resolve));

const stats = { opens: 0, handshakeMs: [], historyRequests: 0, gatewayErrors: 0, resends: 0 };
const clients = [];
for (let i = 0; i < cfg.clients; i++) {
  const name = `p${String(i).padStart(2, '0')}`;
  // Each client is a person of its own: a secret of its own, offered as
  // the page offers it (the anon. subprotocol).
  const c = new ChatClient({ url: cfg.url, name, room: cfg.room, secret: newSecret(), maxAttempts: 100000, baseDelay: 100, maxDelay: 2000, connectTimeout: 10000 });
  const entry = { name, client: c, log: new Map(), dup: 0, acked: 0, sent: 0, dialAt: 0 };
  // An ack of a message the page already holds (it came back in history
  // before its ack did) is matched to it by clientMsgId, as the page does:
  // not shown twice. Anything else seen twice is shown twice.
  const record = (m, ack = false) => {
    if (!Number.isInteger(m.seq)) return;
    const had = entry.log.get(m.seq);
    if (had !== undefined) {
      if (!(ack && had === m.id)) entry.dup++;
      return;
    }
    entry.log.set(m.seq, m.id);
  };
  c.addEventListener('message', (ev) => record(ev.detail));
  // The room's stream only (these clients write no private messages).
  c.addEventListener('history', (ev) => { if (!ev.detail.conversation) for (const m of ev.detail.messages) record(m); });
  c.addEventListener('ack', (ev) => { entry.acked++; record({ seq: ev.detail.ack.seq, id: ev.detail.ack.id }, true); });
  c.addEventListener('sent', (ev) => { if (ev.detail.tries > 1) stats.resends++; });
  c.addEventListener('servererror', (ev) => { if (ev.detail.code === 'gateway') stats.gatewayErrors++; });
  c.addEventListener('state', (ev) => {
    if (ev.detail.state === 'connecting' || ev.detail.state === 'reconnecting') entry.dialAt = Date.now();
    if (ev.detail.state === 'online') {
      stats.opens++;
      if (entry.dialAt) stats.handshakeMs.push(Date.now() - entry.dialAt);
    }
  });
  clients.push(entry);
}

for (const e of clients) e.client.start();
// Everyone is in the room before the first message: each log starts at 1.
const started = Date.now();
while (clients.some((e) => e.client.upTo === null) && Date.now() - started < 60000) await sleep(50);

const senders = clients.slice(0, Math.ceil(cfg.clients / 2));
await Promise.all(senders.map(async (e, si) => {
  for (let i = 0; i < cfg.messages; i++) {
    e.client.send(`${e.name} #${i}`);
    e.sent++;
    await sleep(cfg.sendEveryMs / 2 + Math.random() * cfg.sendEveryMs);
  }
}));
const allAcked = () => senders.every((e) => e.client.pending.length === 0);
const ackedNow = () => senders.reduce((n, e) => n + e.acked, 0);
const graceEnd = Date.now() + (cfg.graceMs ?? 10000);
while (!allAcked() && Date.now() < graceEnd) await sleep(100);
const inGrace = ackedNow();
const ackDeadline = Date.now() + cfg.ackWithinMs;
while (!allAcked() && Date.now() < ackDeadline) await sleep(100);
let maxSeq = 0;
for (const e of clients) for (const s of e.log.keys()) maxSeq = Math.max(maxSeq, s);
await out({ event: 'acked', all: allAcked(), sent: senders.reduce((n, e) => n + e.sent, 0),
  acked: ackedNow(), inGrace, maxSeq });

// The test stops the faults after "acked"; every client then catches up.
const caughtUp = () => clients.every((e) => e.client.upTo !== null && e.client.upTo >= maxSeq);
const catchDeadline = Date.now() + cfg.catchUpWithinMs;
while (!caughtUp() && Date.now() < catchDeadline) await sleep(100);
await sleep(500); // a late duplicate would show now

stats.handshakeMs.sort((a, b) => a - b);
const pct = (p) => stats.handshakeMs.length ? stats.handshakeMs[Math.min(stats.handshakeMs.length - 1, Math.floor(p * stats.handshakeMs.length))] : 0;
await out({
  event: 'logs',
  caughtUp: caughtUp(),
  stats: { opens: stats.opens, handshakeP50: pct(0.5), handshakeP95: pct(0.95), gatewayErrors: stats.gatewayErrors, resends: stats.resends },
  clients: clients.map((e) => ({ name: e.name, upTo: e.client.upTo, dup: e.dup, pending: e.client.pending.length,
    log: [...e.log.entries()].sort((a, b) => a[0] - b[0]) })),
});
for (const e of clients) e.client.stop();
process.exit(0);
