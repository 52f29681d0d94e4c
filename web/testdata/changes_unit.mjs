// Unit tests of web/client.js's changes (docs/protocol.md, "Messages that
// live"): edit, delete and reaction events are entries of their stream,
// passed on as 'change' events once each, in seq order, never as
// messages; edit, delete and react requests go through the outbox.
// Against a fake WebSocket, asserting frames and events, never timers.
//
// node --test web/testdata/changes_unit.mjs   (run by web/changes_test.go)

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { FakeSocket } from './fakesocket.mjs';

const { ChatClient, conversationID } = await import('../client.js');

const ANN = 'a' + '0'.repeat(26);
const BOB = 'u' + '1'.repeat(26);
const ANN_BOB = conversationID(ANN, BOB);
const EPOCH = 'e1';
const nextTick = () => new Promise((r) => setTimeout(r, 0));

function newClient() {
  const c = new ChatClient({ url: 'ws://h/local', name: 'Ann', room: 'general', baseDelay: 0 });
  const events = [];
  for (const type of ['message', 'direct', 'history', 'ack', 'refused', 'servererror', 'change', 'blocked']) {
    c.addEventListener(type, (ev) => events.push({ type, detail: ev.detail }));
  }
  const of = (type) => events.filter((e) => e.type === type).map((e) => e.detail);
  return { c, events, of, socket: () => FakeSocket.all.at(-1) };
}

// Online, who answered, and the room's latest page (holding msgs) ended.
function online(t, msgs = []) {
  t.c.start();
  const ws = t.socket();
  ws.open();
  ws.deliver({ type: 'members', room: 'general', you: { userId: ANN, name: 'Ann' }, members: [], count: 1, conversations: [] });
  const latest = ws.take().find((f) => f.action === 'history');
  ws.deliver({ type: 'history', room: 'general', messages: msgs, more: false, requestId: latest.requestId });
  return ws;
}

const msg = (seq, text, fromId = BOB) => ({ type: 'chat message', id: `m${seq}`, room: 'general', seq, epoch: EPOCH, from: 'x', fromId, text, sentAt: '2026-12-04T10:00:00.000Z' });
const edit = (seq, target, text) => ({ type: 'edit', id: `e${seq}`, room: 'general', seq, epoch: EPOCH, target, targetId: `m${target}`, fromId: BOB, text, editedAt: '2026-12-04T10:01:00.000Z' });
const del = (seq, target) => ({ type: 'delete', id: `d${seq}`, room: 'general', seq, epoch: EPOCH, target, targetId: `m${target}`, fromId: BOB, text: '' });
const react = (seq, target, emoji, op, fromId = BOB) => ({ type: 'reaction', id: `r${seq}`, room: 'general', seq, epoch: EPOCH, target, targetId: `m${target}`, fromId, emoji, op, text: '' });

test('live events are changes, in seq order, never messages, and take their seq', () => {
  const t = newClient();
  const ws = online(t, [msg(1, 'one'), msg(2, 'two')]);
  assert.equal(t.c.upTo, 2);
  // 4 arrives before 3: held until 3 is there.
  ws.deliver(react(4, 1, '👍', 'add'));
  assert.equal(t.of('change').length, 0);
  ws.deliver(edit(3, 1, 'one, fixed'));
  assert.deepEqual(t.of('change').map((c) => c.seq), [3, 4]);
  assert.equal(t.of('change')[0].text, 'one, fixed');
  assert.equal(t.of('change')[0].conversation, null);
  assert.equal(t.c.upTo, 4, 'the events count for the watermark');
  assert.equal(t.of('message').length, 0);
  // The same event again (a duplicate frame): passed on once.
  ws.deliver(edit(3, 1, 'one, fixed'));
  assert.equal(t.of('change').length, 2);
  t.c.stop();
});

test('history: changes are passed on after the messages, in order; a deleted message is a message', async () => {
  const t = newClient();
  const ws = online(t, [msg(1, 'one')]);
  ws.close();
  await nextTick(); // the reconnect's delay (0)
  // Back: the catch-up since the watermark brings a message and changes.
  const ws2 = t.socket();
  ws2.open();
  const since = ws2.take().find((f) => f.action === 'history');
  assert.equal(since.since, 1);
  ws2.deliver({ type: 'history', room: 'general', requestId: since.requestId, more: true,
    messages: [{ ...msg(2, ''), deleted: true }, edit(3, 1, 'edited while away')] });
  ws2.deliver({ type: 'history', room: 'general', requestId: since.requestId, more: false,
    messages: [react(4, 1, '🎉', 'add'), del(5, 1)] });
  const shown = t.of('history').flatMap((h) => h.messages).map((m) => m.seq);
  assert.deepEqual(shown, [1, 2], 'only messages are shown');
  assert.deepEqual(t.of('change').map((c) => `${c.type}@${c.seq}`), ['edit@3', 'reaction@4', 'delete@5']);
  assert.equal(t.c.upTo, 5);
  // A live duplicate of one of them changes nothing.
  ws2.deliver(del(5, 1));
  assert.equal(t.of('change').length, 3);
  t.c.stop();
});

test('a history frame\'s changes are passed after its messages, which they may change', () => {
  const t = newClient();
  const ws = online(t, [msg(1, 'one')]);
  ws.close();
  return nextTick().then(() => {
    const ws2 = t.socket();
    ws2.open();
    const since = ws2.take().find((f) => f.action === 'history');
    ws2.deliver({ type: 'history', room: 'general', requestId: since.requestId, more: false,
      messages: [msg(2, 'two'), edit(3, 2, 'two, fixed'), msg(4, 'four'), react(5, 4, '👍', 'add')] });
    const order = t.events.filter((e) => e.type === 'history' || e.type === 'change')
      .map((e) => (e.type === 'change' ? `change@${e.detail.seq}` : `history@${e.detail.messages.map((m) => m.seq).join(',')}`));
    assert.deepEqual(order.slice(-3), ['history@2,4', 'change@3', 'change@5']);
    t.c.stop();
  });
});

test('a change above a gap waits for the gap to be resolved', () => {
  const t = newClient();
  const ws = online(t, [msg(1, 'one')]);
  ws.deliver(edit(3, 1, 'later'));
  assert.equal(t.of('change').length, 0, 'seq 2 is missing: the edit waits');
  ws.deliver(msg(2, 'two'));
  assert.deepEqual(t.of('change').map((c) => c.seq), [3]);
  t.c.stop();
});

test('edit, delete and react go through the outbox, once, and are resent after a reconnect', async () => {
  const t = newClient();
  const ws = online(t, [msg(1, 'mine', ANN)]);
  const item = t.c.edit(1, 'mine, fixed');
  let sent = ws.take();
  assert.deepEqual(sent, [{ action: 'edit', target: 1, text: 'mine, fixed', clientMsgId: item.clientMsgId }]);
  // Dropped before the ack: sent again on the next connection, flagged.
  ws.close();
  await nextTick();
  const ws2 = t.socket();
  ws2.open();
  sent = ws2.take().filter((f) => f.action === 'edit');
  assert.deepEqual(sent, [{ action: 'edit', target: 1, text: 'mine, fixed', clientMsgId: item.clientMsgId, resend: true }]);
  ws2.deliver({ type: 'ack', clientMsgId: item.clientMsgId, id: 'e2', seq: 2, epoch: EPOCH, sentAt: '2026-12-04T10:02:00.000Z' });
  // The sender gets no broadcast of its own change: the ack stands for it.
  assert.deepEqual(t.of('change').map((c) => [c.type, c.seq, c.target, c.text, c.fromId]), [['edit', 2, 1, 'mine, fixed', ANN]]);
  // ... and history bringing the same event does not pass it again.
  const since = ws2.take().find((f) => f.action === 'history');
  ws2.deliver({ type: 'history', room: 'general', requestId: since?.requestId, more: false, messages: [{ ...edit(2, 1, 'mine, fixed'), id: 'e2', fromId: ANN }] });
  assert.equal(t.of('change').length, 1);
  assert.equal(t.c.pending.length, 0);

  const d = t.c.deleteMessage(1);
  assert.deepEqual(ws2.take(), [{ action: 'delete', target: 1, clientMsgId: d.clientMsgId }]);
  ws2.deliver({ type: 'ack', clientMsgId: d.clientMsgId, id: 'd3', seq: 3, epoch: EPOCH, sentAt: 'x' });
  const r = t.c.react(1, '👍', 'add', ANN_BOB);
  assert.deepEqual(ws2.take().filter((f) => f.action === 'react'), [{ action: 'react', target: 1, emoji: '👍', op: 'add', clientMsgId: r.clientMsgId, conversation: ANN_BOB }]);
  t.c.stop();
});

test('a change made offline is sent once the connection is back', async () => {
  const t = newClient();
  const ws = online(t, [msg(1, 'mine', ANN)]);
  ws.close();
  const item = t.c.react(1, '👍', 'add');
  await nextTick();
  const ws2 = t.socket();
  ws2.open();
  const sent = ws2.take().filter((f) => f.action === 'react');
  assert.equal(sent.length, 1);
  assert.equal(sent[0].clientMsgId, item.clientMsgId);
  t.c.stop();
});

test('refusals of changes reach the app as refused, with their code', () => {
  for (const code of ['not_author', 'deleted', 'no_such_message', 'invalid_emoji', 'too_many_reactions', 'denied']) {
    const t = newClient();
    const ws = online(t, [msg(1, 'theirs')]);
    const item = t.c.edit(1, 'not mine');
    ws.take();
    ws.deliver({ type: 'error', code, message: `because ${code}`, clientMsgId: item.clientMsgId });
    assert.deepEqual(t.of('refused').map((r) => [r.item.clientMsgId, r.code, r.message]), [[item.clientMsgId, code, `because ${code}`]]);
    assert.equal(t.c.pending.length, 0);
    t.c.stop();
  }
});

test('a private conversation\'s changes are passed with its ID', () => {
  const t = newClient();
  const ws = online(t);
  t.c.addConversation(ANN_BOB);
  const since = ws.take().find((f) => f.action === 'history' && f.conversation === ANN_BOB);
  ws.deliver({ type: 'history', room: 'general', conversation: ANN_BOB, requestId: since.requestId, more: false,
    messages: [{ ...msg(1, 'hi'), type: 'direct message', conversation: ANN_BOB }] });
  ws.deliver({ ...react(2, 1, '❤️', 'add'), conversation: ANN_BOB });
  assert.deepEqual(t.of('change').map((c) => [c.conversation, c.seq]), [[ANN_BOB, 2]]);
  assert.equal(t.c.upToOf(ANN_BOB), 2);
  t.c.stop();
});

test('block sends the request; the blocked frame is passed on', () => {
  const t = newClient();
  const ws = online(t);
  assert.ok(t.c.block(BOB, true));
  assert.deepEqual(ws.take(), [{ action: 'block', userId: BOB, blocked: true }]);
  ws.deliver({ type: 'blocked', blocked: [BOB, 'not an id'] });
  assert.deepEqual(t.of('blocked'), [{ blocked: [BOB] }]);
  t.c.stop();
});
