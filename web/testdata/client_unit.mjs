// Unit tests of web/client.js in Node, against a fake WebSocket: what the
// client sends, and which events it gives, for the frames of
// docs/protocol.md ("Who you are", "Private conversations", "The client's
// duty"). Each test drives the frames and asserts events and frames, never
// timers: the only delays are the reconnect's, pinned to 0.
//
// node --test web/testdata/client_unit.mjs   (run by web/client_test.go)

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { FakeSocket, windowEvents } from './fakesocket.mjs';

const { ChatClient, conversationID, conversationPeer, newSecret, isSecret, SUBPROTOCOL } = await import('../client.js');

const ANN = 'a' + '0'.repeat(26);
const BOB = 'u' + '1'.repeat(26);
const CAT = 'a' + '2'.repeat(26);
const ANN_BOB = conversationID(ANN, BOB);
const ANN_CAT = conversationID(ANN, CAT);

const nextTick = () => new Promise((r) => setTimeout(r, 0));

// A client, its events, and its current socket.
function newClient(opts = {}) {
  const c = new ChatClient({ url: 'ws://h/local', name: 'Ann', room: 'general', baseDelay: 0, ...opts });
  const events = [];
  for (const type of ['message', 'direct', 'history', 'ack', 'refused', 'renamefailed', 'servererror', 'epoch',
    'conversation', 'forbidden', 'members', 'typing', 'renamed', 'sent']) {
    c.addEventListener(type, (ev) => events.push({ type, detail: ev.detail }));
  }
  const of = (type) => events.filter((e) => e.type === type).map((e) => e.detail);
  const socket = () => FakeSocket.all.at(-1);
  return { c, events, of, socket };
}

// Starts the client and answers its who with ANN as you.
function online(t, { conversations = [] } = {}) {
  t.c.start();
  const ws = t.socket();
  ws.open();
  ws.deliver({ type: 'members', room: 'general', you: { userId: ANN, name: 'Ann' },
    members: [{ userId: ANN, name: 'Ann', connections: 1 }, { userId: BOB, name: 'Bob', connections: 1 }], count: 2, conversations });
  return ws;
}

function historyRequests(frames) {
  return frames.filter((f) => f.action === 'history');
}

test('conversation IDs: the two user IDs, sorted, joined by +', () => {
  assert.equal(conversationID(BOB, ANN), `${ANN}+${BOB}`);
  assert.equal(conversationID(ANN, BOB), `${ANN}+${BOB}`);
  assert.equal(conversationPeer(ANN_BOB, ANN), BOB);
  assert.equal(conversationPeer(ANN_BOB, BOB), ANN);
  assert.equal(conversationPeer(ANN_BOB, CAT), null);
});

test('a secret is 256 bits of base64url', () => {
  const s = newSecret();
  assert.match(s, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(isSecret(s));
  assert.notEqual(newSecret(), s);
  assert.ok(!isSecret('short'));
  assert.ok(!isSecret('x'.repeat(30) + '+'));
});

test('the handshake offers chat.v1 and the secret; signed in, chat.v1 alone', async () => {
  const secret = newSecret();
  const a = newClient({ secret });
  a.c.start();
  assert.deepEqual(a.socket().protocols, [SUBPROTOCOL, `anon.${secret}`]);
  assert.ok(!a.socket().url.includes(secret), 'the secret is in the URL');
  a.c.stop();

  const b = newClient({ secret, token: async () => 'tok' });
  b.c.start();
  await nextTick();
  assert.deepEqual(b.socket().protocols, [SUBPROTOCOL]);
  assert.ok(b.socket().url.includes('token=tok') && !b.socket().url.includes('name='), b.socket().url);
  b.c.stop();

  const c = newClient({ secret: 'not a secret' });
  c.c.start();
  assert.deepEqual(c.socket().protocols, [SUBPROTOCOL]);
  c.c.stop();
});

test('who: the user ID is taken, and every conversation listed is read from 0', () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t, { conversations: [{ id: ANN_BOB, with: BOB }] });
  assert.equal(t.c.userId, ANN);
  const sent = ws.take();
  assert.deepEqual(sent[0], { action: 'who' });
  const hist = historyRequests(sent);
  assert.equal(hist.length, 2, JSON.stringify(sent));
  assert.equal(hist[0].conversation, undefined); // the room's latest page
  assert.equal(hist[0].since, undefined);
  assert.equal(hist[1].conversation, ANN_BOB);
  assert.equal(hist[1].since, 0);
  assert.match(hist[1].requestId, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(t.of('conversation'), [{ conversation: ANN_BOB, with: BOB }]);
  // Listed again by the next who: nothing new.
  ws.deliver({ type: 'members', you: { userId: ANN, name: 'Ann' }, members: [], count: 1, conversations: [{ id: ANN_BOB, with: BOB }] });
  assert.equal(historyRequests(ws.take()).length, 0);
  t.c.stop();
});

test('a private message goes by toId, its ack moves the conversation, not the room', () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t);
  ws.deliver({ type: 'history', room: 'general', messages: [], more: false, requestId: historyRequests(ws.take())[0].requestId });
  assert.equal(t.c.upTo, 0);
  const item = t.c.sendDirect(BOB, 'psst');
  assert.equal(item.conversation, ANN_BOB);
  const sent = ws.take();
  const dm = sent.find((f) => f.action === 'direct message');
  assert.deepEqual(dm, { action: 'direct message', toId: BOB, text: 'psst', clientMsgId: item.clientMsgId });
  // The new conversation is read from its beginning.
  const hist = historyRequests(sent);
  assert.equal(hist.length, 1);
  assert.equal(hist[0].conversation, ANN_BOB);
  ws.deliver({ type: 'ack', clientMsgId: item.clientMsgId, id: 'd1', seq: 1, epoch: 'e1', conversation: ANN_BOB, sentAt: '2026-11-24T15:00:00.000Z' });
  assert.equal(t.of('ack').length, 1);
  assert.equal(t.c.upToOf(ANN_BOB), 1);
  assert.equal(t.c.upTo, 0, 'the room moved');
  assert.equal(t.c.pending.length, 0);
  // The reply of the since 0 request brings the same message: not again.
  ws.deliver({ type: 'history', conversation: ANN_BOB, requestId: hist[0].requestId, more: false,
    messages: [{ type: 'direct message', id: 'd1', conversation: ANN_BOB, seq: 1, epoch: 'e1', from: 'Ann', fromId: ANN, to: 'Bob', toId: BOB, text: 'psst', sentAt: '2026-11-24T15:00:00.000Z', clientMsgId: item.clientMsgId }] });
  assert.deepEqual(t.of('history').at(-1).messages, []);
  assert.equal(t.of('history').at(-1).conversation, ANN_BOB);
  t.c.stop();
});

test('direct frames and history stay in their conversation', () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t);
  ws.take();
  const d = { type: 'direct message', id: 'x1', conversation: ANN_CAT, seq: 1, epoch: 'e', from: 'Cat', fromId: CAT, to: 'Ann', toId: ANN, text: 'hi', sentAt: '2026-11-24T15:00:00.000Z' };
  ws.deliver(d);
  ws.deliver(d); // twice: once
  assert.equal(t.of('direct').length, 1);
  assert.equal(t.of('message').length, 0);
  assert.deepEqual(t.c.conversations, [ANN_CAT]);
  assert.equal(t.c.upToOf(ANN_CAT), 1);
  ws.deliver({ type: 'chat message', id: 'r1', room: 'general', seq: 7, epoch: 'r', from: 'Cat', fromId: CAT, text: 'room', sentAt: '2026-11-24T15:00:00.000Z' });
  assert.equal(t.of('message').length, 1);
  assert.equal(t.c.upToOf(ANN_CAT), 1);
  t.c.stop();
});

test('after a reconnect: since upTo for the room and each conversation, then the unacked, flagged resend', async () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t, { conversations: [{ id: ANN_BOB, with: BOB }] });
  const [roomReq, convReq] = historyRequests(ws.take());
  ws.deliver({ type: 'history', room: 'general', requestId: roomReq.requestId, more: false,
    messages: [{ type: 'chat message', id: 'r5', seq: 5, epoch: 'r', from: 'Bob', fromId: BOB, text: 'x', sentAt: '2026-11-24T15:00:00.000Z' }] });
  ws.deliver({ type: 'history', conversation: ANN_BOB, requestId: convReq.requestId, more: false,
    messages: [1, 2, 3].map((seq) => ({ type: 'direct message', id: `d${seq}`, conversation: ANN_BOB, seq, epoch: 'c', from: 'Bob', fromId: BOB, to: 'Ann', toId: ANN, text: `m${seq}`, sentAt: '2026-11-24T15:00:00.000Z' })) });
  assert.equal(t.c.upTo, 5);
  assert.equal(t.c.upToOf(ANN_BOB), 3);
  const item = t.c.sendDirect(BOB, 'unacked');
  assert.equal(ws.take().filter((f) => f.action === 'direct message').length, 1);

  ws.close(); // dropped
  await nextTick(); // the reconnect's delay (0)
  const ws2 = t.socket();
  assert.notEqual(ws2, ws);
  ws2.open();
  const sent = ws2.take();
  assert.deepEqual(sent[0], { action: 'who' });
  const hist = historyRequests(sent);
  assert.deepEqual(hist.map((h) => [h.conversation ?? 'room', h.since]), [['room', 5], [ANN_BOB, 3]]);
  const resend = sent.filter((f) => f.action === 'direct message');
  assert.deepEqual(resend, [{ action: 'direct message', toId: BOB, text: 'unacked', clientMsgId: item.clientMsgId, resend: true }]);
  t.c.stop();
});

test('a room message is resent with its clientMsgId and resend: true', async () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t);
  ws.take();
  const item = t.c.send('hello');
  assert.deepEqual(ws.take(), [{ action: 'chat message', text: 'hello', clientMsgId: item.clientMsgId }]);
  ws.close();
  await nextTick();
  t.socket().open();
  const again = t.socket().take().filter((f) => f.action === 'chat message');
  assert.deepEqual(again, [{ action: 'chat message', text: 'hello', clientMsgId: item.clientMsgId, resend: true }]);
  t.c.stop();
});

test('forbidden: the conversation is forgotten, and not asked for again', async () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t);
  ws.take();
  t.c.addConversation(ANN_CAT);
  const [req] = historyRequests(ws.take());
  ws.deliver({ type: 'error', code: 'forbidden', message: 'not yours', requestId: req.requestId });
  assert.deepEqual(t.of('forbidden'), [{ conversation: ANN_CAT }]);
  assert.deepEqual(t.c.conversations, []);
  assert.equal(t.of('servererror').length, 0);
  ws.close();
  await nextTick();
  t.socket().open();
  assert.deepEqual(historyRequests(t.socket().take()).map((h) => h.conversation ?? 'room'), ['room']);
  t.c.stop();
});

test('no_such_member refuses the private message; not_delivered is no longer special', () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t);
  ws.take();
  const item = t.c.sendDirect(BOB, 'gone?');
  ws.deliver({ type: 'error', code: 'no_such_member', message: 'not in the room' });
  assert.equal(t.of('refused').length, 1);
  assert.equal(t.of('refused')[0].item, item);
  assert.equal(t.of('refused')[0].code, 'no_such_member');
  assert.equal(item.status, 'refused');
  assert.equal(t.c.pending.length, 0);
  const next = t.c.sendDirect(BOB, 'again');
  ws.deliver({ type: 'error', code: 'not_delivered', message: 'old server' });
  assert.equal(t.of('refused').length, 1);
  assert.equal(t.c.pending[0], next);
  t.c.stop();
});

test('name_taken refuses the rename, not a message', () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t);
  ws.take();
  const item = t.c.send('pending');
  assert.ok(t.c.rename('Bob'));
  assert.deepEqual(ws.take().at(-1), { action: 'rename', name: 'Bob' });
  ws.deliver({ type: 'error', code: 'name_taken', message: 'Bob is taken' });
  assert.deepEqual(t.of('renamefailed'), [{ code: 'name_taken', message: 'Bob is taken' }]);
  assert.equal(t.of('refused').length, 0);
  assert.equal(t.c.pending[0], item);
  t.c.stop();
});

test('typing to one person names them; typing frames pass on with their conversation', () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t);
  ws.take();
  t.c.typing(BOB);
  assert.deepEqual(ws.take(), [{ action: 'typing', toId: BOB }]);
  ws.deliver({ type: 'typing', from: 'Bob', fromId: BOB, conversation: ANN_BOB });
  assert.equal(t.of('typing')[0].conversation, ANN_BOB);
  t.c.stop();
});

test("a conversation's new epoch: dropped and read again from 0", () => {
  const t = newClient({ secret: newSecret() });
  const ws = online(t);
  ws.take();
  const d = (seq, epoch) => ({ type: 'direct message', id: `${epoch}${seq}`, conversation: ANN_BOB, seq, epoch, from: 'Bob', fromId: BOB, to: 'Ann', toId: ANN, text: 'x', sentAt: '2026-11-24T15:00:00.000Z' });
  ws.deliver(d(1, 'old'));
  ws.deliver(d(2, 'old'));
  assert.equal(t.c.upToOf(ANN_BOB), 2);
  ws.take();
  ws.deliver(d(1, 'new'));
  assert.deepEqual(t.of('epoch'), [{ epoch: 'new', conversation: ANN_BOB }]);
  const hist = historyRequests(ws.take());
  assert.deepEqual(hist.map((h) => [h.conversation, h.since]), [[ANN_BOB, 0]]);
  assert.equal(t.c.upToOf(ANN_BOB), 1);
  assert.equal(t.of('direct').length, 3);
  t.c.stop();
});

test('online: a page waiting out its backoff (capped at 10 s) reconnects at once', () => {
  const random = Math.random;
  Math.random = () => 0.99; // the longest delays
  try {
    const t = newClient({ baseDelay: 60000 });
    const states = [];
    t.c.addEventListener('state', (ev) => states.push(ev.detail));
    const ws = online(t);
    ws.close(); // dropped: the next attempt waits
    const waiting = states.at(-1);
    assert.equal(waiting.state, 'reconnecting');
    assert.equal(waiting.delay, 9900, 'the backoff is capped at 10 s');
    const before = FakeSocket.all.length;
    windowEvents.dispatchEvent(new Event('online'));
    assert.equal(FakeSocket.all.length, before + 1, 'the online event opens a socket at once');
    assert.equal(states.at(-1).reason, 'online');
    t.socket().open();
    assert.equal(t.c.state, 'online');
    t.c.stop();
  } finally {
    Math.random = random;
  }
});

test('visible again: a page waiting out its backoff reconnects at once', () => {
  const random = Math.random;
  Math.random = () => 0.99;
  const doc = Object.assign(new EventTarget(), { visibilityState: 'hidden' });
  globalThis.document = doc;
  try {
    const t = newClient({ baseDelay: 60000 });
    const ws = online(t);
    ws.close();
    const before = FakeSocket.all.length;
    doc.dispatchEvent(new Event('visibilitychange')); // still hidden: nothing
    assert.equal(FakeSocket.all.length, before);
    doc.visibilityState = 'visible';
    doc.dispatchEvent(new Event('visibilitychange'));
    assert.equal(FakeSocket.all.length, before + 1, 'showing the tab opens a socket at once');
    t.socket().open();
    assert.equal(t.c.state, 'online');
    doc.dispatchEvent(new Event('visibilitychange')); // online: nothing
    assert.equal(FakeSocket.all.length, before + 1);
    t.c.stop();
  } finally {
    Math.random = random;
    delete globalThis.document;
  }
});
