// ChatClient: one WebSocket to the chat, reconnected with exponential backoff
// and full jitter, with exactly-once delivery of what the person sends and
// of what the room says (docs/protocol.md, "The client's duty").
//
// Sending. Every message gets a random clientMsgId and stays in the outbox
// until the server acks it. After every (re)connect whatever is unacked is
// sent again with the same clientMsgId: the server stores a clientMsgId
// once and acks a resend with the first ack, so a resend never shows twice.
//
// Receiving. Every room message carries the room's seq. After every
// (re)connect the client asks for the history after the highest seq it
// holds (the latest page on the first connect) and merges it with the live
// frames by id: a message arriving twice (live and in history, or twice
// live after an @connections retry) is passed on once. A gap in the seqs is
// asked for again after a moment, once; a gap still there is a seq the
// server skipped.

import { backoffDelay, socketURL } from './text.js';

export const CONNECTING = 'connecting';
export const ONLINE = 'online';
export const RECONNECTING = 'reconnecting';
export const OFFLINE = 'offline';

const PING_EVERY = 5 * 60 * 1000; // under API Gateway's 10-minute idle timeout
const GAP_WAIT = 2000; // a missing seq is asked for after this
const TYPING_EVERY = 2000; // the server drops typing notices closer than this
const RESEND_AFTER_INTERNAL = 2000;
// Error codes that refuse one message for what it is: the oldest message
// awaiting its ack is the one refused (a connection's frames are handled
// in order), and sending it again would not help.
const REFUSED = new Set(['invalid_json', 'invalid_field', 'empty_text', 'text_too_long', 'invalid_utf8',
  'control_char', 'no_such_member']);

/** A random clientMsgId: 22 characters of [A-Za-z0-9_-] (128 bits). */
export function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Events (CustomEvent, details in parentheses):
 *   state       ({state, reason, attempt, delay}) the connection state changed
 *   message     (a chat message frame, new to this page: live or from history)
 *   history     ({messages, next, kind}) a history reply's messages new to this page, oldest
 *               first; kind is its request's: latest, since or before
 *   ack         ({item, ack}) an outbox item was stored: item.id is now ack.id, item.seq ack.seq
 *   refused     ({item, code, message}) the server refused an outbox item for what it is
 *   servererror ({code, message}) an error frame, or a gateway message frame
 *   members, joined, left, typing, direct, renamed (the frames of those types)
 *   sent        (outbox item) an item was handed to an OPEN socket
 */
export class ChatClient extends EventTarget {
  #base;
  #name;
  #room;
  #opts;
  #socket = null;
  #timer = 0;
  #connectTimer = 0;
  #pingTimer = 0;
  #attempt = 0;
  #state = CONNECTING;
  #everOnline = false;
  #stopped = true;
  #outbox = []; // items awaiting their ack, oldest first
  #nextID = 1;
  #seen = new Set(); // ids of the messages passed on
  #seqs = new Set(); // seqs held
  #maxSeq = 0;
  #gaps = new Map(); // missing seq -> timer
  #lastTyping = 0;
  // The kinds of the history requests sent on this socket whose reply has
  // not ended ('latest', 'since', 'before'): a connection's frames are
  // handled and answered in order, so replies come back in this order.
  #asked = [];
  #token = null; // async () => a token for the handshake, when signed in
  #opening = 0; // the latest #open, so a slow token cannot open a stale socket
  #pausedUntil = 0; // rate_limited: send nothing from the outbox before this
  #pauseTimer = 0;

  /**
   * @param {object} o
   * @param {string} o.url     the WebSocket URL from config.json
   * @param {string} o.name    display name
   * @param {string} o.room    room
   * @param {number} [o.maxAttempts=10] failed attempts in a row before giving up (offline)
   * @param {number} [o.baseDelay=500]  backoff base, ms
   * @param {number} [o.maxDelay=30000] backoff cap, ms
   * @param {number} [o.connectTimeout=15000] a handshake slower than this is abandoned
   * @param {() => Promise<string>} [o.token] the sign-in token for each handshake
   */
  constructor({ url, name, room, maxAttempts = 10, baseDelay = 500, maxDelay = 30000, connectTimeout = 15000, token = null }) {
    super();
    this.#token = token;
    this.#base = url;
    this.#name = name;
    this.#room = room;
    this.#opts = { maxAttempts, baseDelay, maxDelay, connectTimeout };
  }

  get state() { return this.#state; }
  get name() { return this.#name; }
  get room() { return this.#room; }
  /** Items waiting for their ack, oldest first. */
  get pending() { return [...this.#outbox]; }

  /** Connects, or reconnects at once when waiting or offline. */
  start() {
    this.#stopped = false;
    if (!this.#listening) {
      this.#listening = true;
      window.addEventListener('online', this.#onOnline);
      window.addEventListener('offline', this.#onOffline);
    }
    this.#attempt = 0;
    this.#open();
  }

  /** Closes the connection for good (the outbox is kept). */
  stop() {
    this.#stopped = true;
    this.#drop(1000, 'bye');
    clearTimeout(this.#timer);
    window.removeEventListener('online', this.#onOnline);
    window.removeEventListener('offline', this.#onOffline);
    this.#listening = false;
  }

  /** Takes a new name for the next connections (the server was told by rename). */
  setName(name) {
    this.#name = name;
  }

  /** Asks the server for a new name; every member gets "renamed". */
  rename(name) {
    this.#sendFrame({ action: 'rename', name });
  }

  /**
   * Reconnects to another room. What waits in the outbox was written for the
   * old room, so it is dropped, and so is what is known of the old room.
   */
  setRoom(room) {
    this.#room = room;
    this.#outbox = [];
    this.#seen.clear();
    this.#seqs.clear();
    this.#maxSeq = 0;
    for (const t of this.#gaps.values()) clearTimeout(t);
    this.#gaps.clear();
    this.#everOnline = false;
    this.#restart();
  }

  /**
   * Queues text for the room and sends it now if the socket is open.
   * Returns the outbox item, {id, clientMsgId, text, status}: status is
   * 'pending' until the ack, then 'sent'.
   */
  send(text) {
    return this.#queue({ kind: 'room', text });
  }

  /** Queues a direct message to the connections named to. */
  sendDirect(to, text) {
    return this.#queue({ kind: 'direct', to, text });
  }

  /** Asks for the members of the room. */
  who() {
    this.#sendFrame({ action: 'who' });
  }

  /** Tells the room the person is typing, at most once every 2 s. */
  typing() {
    const now = Date.now();
    if (now - this.#lastTyping < TYPING_EVERY) return;
    if (this.#sendFrame({ action: 'typing' })) this.#lastTyping = now;
  }

  /** Asks for the page of messages before seq (load older). */
  loadBefore(seq) {
    this.#askHistory({ action: 'history', before: seq, limit: 50 }, 'before');
  }

  #askHistory(frame, kind) {
    if (this.#sendFrame(frame)) this.#asked.push(kind);
  }

  #queue(fields) {
    const item = { id: this.#nextID++, clientMsgId: newClientMsgId(), status: 'pending', ...fields };
    this.#outbox.push(item);
    this.#pump();
    return item;
  }

  #listening = false;
  #onOnline = () => {
    if (!this.#stopped && this.#state === OFFLINE) {
      this.#attempt = 0;
      this.#open();
    }
  };
  #onOffline = () => {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#drop(1000, 'offline');
    this.#setState(OFFLINE, { reason: 'network' });
  };

  #restart() {
    if (this.#stopped) return;
    this.#drop(1000, 'reconnect');
    this.#attempt = 0;
    this.#open();
  }

  #open() {
    clearTimeout(this.#timer);
    this.#drop(1000, 'reconnect');
    if (!navigator.onLine) {
      this.#setState(OFFLINE, { reason: 'network' });
      return;
    }
    this.#setState(this.#everOnline || this.#attempt > 0 ? RECONNECTING : CONNECTING, { attempt: this.#attempt });
    const opening = ++this.#opening;
    if (!this.#token) {
      this.#dial('');
      return;
    }
    // A fresh token for every handshake: API Gateway checks it at $connect.
    this.#token().then((token) => {
      if (opening !== this.#opening || this.#stopped) return;
      if (!token) {
        this.#setState(OFFLINE, { reason: 'signed-out' });
        return;
      }
      this.#dial(token);
    }, (err) => {
      if (opening !== this.#opening) return;
      this.#setState(OFFLINE, { reason: 'signed-out', message: String(err && err.message || err) });
    });
  }

  #dial(token) {
    let ws;
    try {
      ws = new WebSocket(socketURL(this.#base, this.#name, this.#room, token));
    } catch (err) {
      // A malformed URL (or one the page's CSP forbids) throws here.
      this.#setState(OFFLINE, { reason: 'config', message: String(err && err.message || err) });
      return;
    }
    this.#socket = ws;
    this.#connectTimer = setTimeout(() => {
      if (ws.readyState === WebSocket.CONNECTING) ws.close();
    }, this.#opts.connectTimeout);
    ws.addEventListener('open', () => {
      if (ws !== this.#socket) return;
      clearTimeout(this.#connectTimer);
      this.#attempt = 0;
      const first = !this.#everOnline;
      this.#everOnline = true;
      this.#setState(ONLINE);
      // The client's duty: who is here, what was missed, what is unacked.
      this.#asked = [];
      this.#sendFrame({ action: 'who' });
      if (first && this.#maxSeq === 0) this.#askHistory({ action: 'history' }, 'latest');
      else this.#askHistory({ action: 'history', since: this.#contiguous() }, 'since');
      this.#pump();
      clearInterval(this.#pingTimer);
      this.#pingTimer = setInterval(() => this.#sendFrame({ action: 'ping' }), PING_EVERY);
    });
    ws.addEventListener('message', (ev) => {
      if (ws !== this.#socket) return;
      this.#receive(ev.data);
    });
    ws.addEventListener('close', () => {
      if (ws !== this.#socket) return;
      this.#socket = null;
      clearTimeout(this.#connectTimer);
      clearInterval(this.#pingTimer);
      this.#markPending();
      if (!this.#stopped) this.#retry();
    });
  }

  // Detaches and closes the current socket, if any.
  #drop(code, reason) {
    const ws = this.#socket;
    if (!ws) return;
    this.#socket = null;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#pingTimer);
    this.#markPending();
    try { ws.close(code, reason); } catch { /* already closing */ }
  }

  // Every unacked item is pending again: it goes out on the next connection.
  #markPending() {
    for (const item of this.#outbox) item.status = 'pending';
  }

  #retry() {
    if (!navigator.onLine) {
      this.#setState(OFFLINE, { reason: 'network' });
      return;
    }
    this.#attempt++;
    if (this.#attempt > this.#opts.maxAttempts) {
      this.#setState(OFFLINE, { reason: 'unreachable', attempt: this.#attempt - 1 });
      return;
    }
    const delay = backoffDelay(this.#attempt, { base: this.#opts.baseDelay, cap: this.#opts.maxDelay });
    this.#setState(RECONNECTING, { attempt: this.#attempt, delay });
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  // Sends a frame if the socket is open; reports whether it did.
  #sendFrame(frame) {
    const ws = this.#socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false; // the close event follows
    }
  }

  // Holds the outbox for ms: the refused item (every one awaiting, if the
  // server did not say which) is pending again, and what is pending goes
  // out in order when the hold ends.
  #pauseSending(ms, clientMsgId) {
    this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + ms);
    for (const item of this.#outbox) {
      if (item.status === 'awaiting' && (!clientMsgId || item.clientMsgId === clientMsgId)) item.status = 'pending';
    }
    clearTimeout(this.#pauseTimer);
    this.#pauseTimer = setTimeout(() => {
      this.#pausedUntil = 0;
      this.#pump();
    }, this.#pausedUntil - Date.now());
  }

  // Sends the oldest pending item of the outbox, one at a time: the next
  // goes when this one is acked or refused. One message in flight keeps the
  // room's order the order they were written in, whatever the server
  // refuses for a while (rate_limited, internal); a human does not type
  // faster than a round trip.
  #pump() {
    if (Date.now() < this.#pausedUntil) return; // sent when the pause ends
    if (this.#outbox.some((it) => it.status === 'awaiting')) return;
    const next = this.#outbox.find((it) => it.status === 'pending');
    if (next) this.#transmit(next);
  }

  #transmit(item) {
    const frame = item.kind === 'direct'
      ? { action: 'direct message', to: item.to, text: item.text, clientMsgId: item.clientMsgId }
      : { action: 'chat message', text: item.text, clientMsgId: item.clientMsgId };
    if (this.#sendFrame(frame)) {
      item.status = 'awaiting';
      this.#emit('sent', item);
    }
  }

  // The highest seq up to which every seq is held (or known skipped).
  #contiguous() {
    let n = 0;
    while (this.#seqs.has(n + 1)) n++;
    return Math.max(n, this.#maxSeq - 1000);
  }

  // Takes a room message; reports whether it is new to the page.
  #take(m) {
    if (typeof m.id !== 'string' || this.#seen.has(m.id)) return false;
    this.#seen.add(m.id);
    if (Number.isInteger(m.seq) && m.seq > 0) this.#hold(m.seq);
    return true;
  }

  #hold(seq) {
    this.#seqs.add(seq);
    clearTimeout(this.#gaps.get(seq));
    this.#gaps.delete(seq);
    for (let s = this.#maxSeq + 1; s < seq; s++) {
      if (!this.#seqs.has(s) && !this.#gaps.has(s)) {
        this.#gaps.set(s, setTimeout(() => this.#fillGap(s), GAP_WAIT));
      }
    }
    this.#maxSeq = Math.max(this.#maxSeq, seq);
  }

  // Asks once for what follows a seq still missing; if history does not
  // have it either, the server skipped it.
  #fillGap(seq) {
    if (!this.#gaps.has(seq)) return;
    this.#gaps.delete(seq);
    this.#seqs.add(seq); // asked for once: from now on counted as held
    this.#askHistory({ action: 'history', since: seq - 1 }, 'since');
  }

  #receive(data) {
    if (typeof data !== 'string') return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== 'object') return;
    switch (frame.type) {
      case 'chat message':
        if (typeof frame.text === 'string' && this.#take(frame)) this.#emit('message', frame);
        return;
      case 'history': {
        const fresh = Array.isArray(frame.messages) ? frame.messages.filter((m) => m && typeof m.text === 'string' && this.#take(m)) : [];
        const more = frame.more === true;
        const kind = (more ? this.#asked[0] : this.#asked.shift()) ?? 'since';
        this.#emit('history', { messages: fresh, next: frame.next ?? null, more, kind });
        if (frame.next && Number.isInteger(frame.next.since)) this.#askHistory({ action: 'history', since: frame.next.since }, 'since');
        return;
      }
      case 'ack': {
        const i = this.#outbox.findIndex((it) => it.clientMsgId === frame.clientMsgId);
        if (i < 0) return; // a second ack of a resend
        const [item] = this.#outbox.splice(i, 1);
        item.status = 'sent';
        queueMicrotask(() => this.#pump());
        if (typeof frame.id === 'string') {
          item.serverId = frame.id;
          this.#seen.add(frame.id);
        }
        if (Number.isInteger(frame.seq)) {
          item.seq = frame.seq;
          this.#hold(frame.seq);
        }
        this.#emit('ack', { item, ack: frame });
        return;
      }
      case 'error': {
        const code = String(frame.code ?? 'error');
        const message = String(frame.message ?? '');
        if (code === 'not_connected') {
          this.#restart(); // the server forgot this connection: a new one
          return;
        }
        if (code === 'rate_limited') {
          // Too fast: nothing was stored. Hold the outbox, then send it
          // again in order.
          this.#pauseSending(Math.max(100, Number(frame.retryAfterMs) || 1000), frame.clientMsgId);
          this.#emit('ratelimited', { retryAfterMs: Number(frame.retryAfterMs) || 0, message });
          return;
        }
        if (code === 'internal') {
          // Nothing was stored: what awaits its ack goes again shortly.
          setTimeout(() => { this.#markPending(); this.#pump(); }, RESEND_AFTER_INTERNAL);
        } else if (REFUSED.has(code)) {
          const i = this.#outbox.findIndex((it) => it.status === 'awaiting');
          if (i >= 0) {
            const [item] = this.#outbox.splice(i, 1);
            item.status = 'refused';
            queueMicrotask(() => this.#pump());
            this.#emit('refused', { item, code, message });
            return;
          }
        }
        this.#emit('servererror', { code, message });
        return;
      }
      case 'members': case 'joined': case 'left': case 'typing': case 'renamed':
        this.#emit(frame.type, frame);
        return;
      case 'direct message':
        if (typeof frame.text === 'string' && typeof frame.id === 'string' && !this.#seen.has(frame.id)) {
          this.#seen.add(frame.id);
          this.#emit('direct', frame);
        }
        return;
      case undefined:
        if (typeof frame.message === 'string') {
          // API Gateway's own frames: {"message": "Internal server error", ...}
          this.#emit('servererror', { code: 'gateway', message: frame.message });
        }
        return;
      default:
    }
  }

  #setState(state, detail = {}) {
    this.#state = state;
    this.#emit('state', { state, ...detail });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
