// ChatClient: one WebSocket to the chat, reconnected with exponential backoff
// and full jitter, with exactly-once delivery of what the person sends and
// of what the room says (docs/protocol.md, "The client's duty").
//
// Sending. Every message gets a random clientMsgId and stays in the outbox
// until the server acks it. After every (re)connect whatever is unacked is
// sent again with the same clientMsgId: the server stores a clientMsgId
// once and acks a resend with the first ack, so a resend never shows twice.
//
// Receiving. Every room message carries the room's seq. The client keeps a
// watermark: the highest seq up to which every seq is held or known to be
// skipped. Above it, a missing seq is a gap. After every (re)connect it
// asks for the history after the watermark (the latest page on the first
// connect), and a gap still open 2 s after it appeared is asked for the
// same way. A gap is resolved only by a history reply that covers it:
// a seq the reply should have held and did not is one the server skipped.
// A request whose reply does not come (throttled, failed, or the socket
// dropped) is asked again, with backoff. Live frames and history are
// merged by id: a message arriving twice is passed on once.

import { backoffDelay, socketURL } from './text.js';

export const CONNECTING = 'connecting';
export const ONLINE = 'online';
export const RECONNECTING = 'reconnecting';
export const OFFLINE = 'offline';

const PING_EVERY = 5 * 60 * 1000; // under API Gateway's 10-minute idle timeout
const GAP_WAIT = 2000; // a missing seq is asked for after this
const REPLY_WAIT = 5000; // a history request unanswered this long is asked again (doubling, to 30 s)
const REPLY_WAIT_CAP = 30000;
const TYPING_EVERY = 2000; // the server drops typing notices closer than this
const RESEND_AFTER_INTERNAL = 2000;
// A message with neither an ack nor an error this long after it was sent
// (its frame throttled or failed at the gateway, which does not say which
// frame it was) is sent again, flagged as a resend.
const ACK_WAIT = 10000;
// Error codes that refuse one message for what it is: the oldest message
// awaiting its ack is the one refused (a connection's frames are handled
// in order), and sending it again would not help.
const REFUSED = new Set(['invalid_json', 'invalid_field', 'empty_text', 'text_too_long', 'invalid_utf8',
  'control_char', 'no_such_member', 'not_delivered']);

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
 *   epoch       ({epoch}) the room's order started again (the server's store is new):
 *               what was shown of the room is void; its latest page follows
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
  // The watermark: every seq up to it is held or known skipped; null until
  // the first reply tells where the room's stream starts for this page.
  #upTo = null;
  // The room's epoch: the name of the order its seqs belong to. Another
  // epoch means the order started again (the server's store is new): what
  // is held means nothing now, and the room is loaded anew.
  #epoch = null;
  #seqs = new Set(); // seqs held above the watermark
  #maxSeq = 0;
  #maxSeqLog = []; // [time, maxSeq] of the last few seconds, oldest first
  #gapTimer = 0;
  #lastTyping = 0;
  // History requests on this socket whose reply has not ended, by
  // requestId: {frame, kind, bound, attempt, timer, firstSeq}. The server
  // echoes requestId in every frame of a reply.
  #requests = new Map();
  #nextRequest = 1;
  #token = null; // async () => a token for the handshake, when signed in
  #opening = 0; // the latest #open, so a slow token cannot open a stale socket
  #pausedUntil = 0; // rate_limited: send nothing from the outbox before this
  #pauseTimer = 0;
  #ackTimer = 0; // the message in flight is sent again if no answer comes
  #resendTimer = 0;

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
    this.#resetStream();
    this.#epoch = null;
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

  /** The watermark (every seq up to it is held or skipped), or null. */
  get upTo() { return this.#upTo; }

  // Forgets what is known of the room's stream.
  #resetStream() {
    this.#upTo = null;
    this.#seqs.clear();
    this.#maxSeq = 0;
    this.#maxSeqLog = [];
    clearTimeout(this.#gapTimer);
    this.#gapTimer = 0;
    this.#dropRequests();
  }

  // Sends a history request with a requestId and waits for its reply: one
  // that does not come in time is asked again. bound is, for a since
  // request, the highest seq whose gaps its reply may resolve.
  #askHistory(frame, kind, bound = 0, attempt = 0) {
    const requestId = `h${this.#nextRequest++}`;
    if (!this.#sendFrame({ ...frame, requestId })) return; // asked again on the next open
    const req = { frame, kind, bound, attempt, timer: 0, firstSeq: 0 };
    this.#requests.set(requestId, req);
    this.#armRequest(requestId, req);
  }

  #armRequest(requestId, req) {
    clearTimeout(req.timer);
    const wait = Math.min(REPLY_WAIT * 2 ** req.attempt, REPLY_WAIT_CAP) * (0.75 + Math.random() / 2);
    req.timer = setTimeout(() => {
      if (this.#requests.get(requestId) !== req) return;
      this.#requests.delete(requestId);
      // No reply: throttled ("Too Many Requests"), failed, or lost.
      this.#askHistory(req.frame, req.kind, req.bound, req.attempt + 1);
    }, wait);
  }

  #dropRequests() {
    for (const req of this.#requests.values()) clearTimeout(req.timer);
    this.#requests.clear();
  }

  // Asks for every message after the watermark. Its reply may resolve the
  // gaps up to the highest seq known GAP_WAIT ago: a seq missing for less
  // than that may still be being stored.
  #askSince() {
    const since = this.#upTo;
    if (since === null) return;
    const cutoff = Date.now() - GAP_WAIT;
    let bound = since;
    for (const [at, seq] of this.#maxSeqLog) if (at <= cutoff) bound = Math.max(bound, seq);
    this.#askHistory({ action: 'history', since }, 'since', bound);
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
      this.#dropRequests();
      this.#sendFrame({ action: 'who' });
      if (this.#upTo === null) this.#askHistory({ action: 'history' }, 'latest');
      else this.#askSince();
      this.#pump();
      clearInterval(this.#pingTimer);
      this.#pingTimer = setInterval(() => this.#sendFrame({ action: 'ping' }), PING_EVERY);
    });
    ws.addEventListener('message', (ev) => {
      if (ws !== this.#socket) return;
      this.#receive(ev.data);
    });
    // A socket that fails ends with close in browsers; some WebSocket
    // implementations (Node's) fire only error when the handshake fails.
    // Either ends it, once.
    const ended = () => {
      if (ws !== this.#socket) return;
      this.#socket = null;
      clearTimeout(this.#connectTimer);
      clearInterval(this.#pingTimer);
      this.#markPending();
      this.#dropRequests();
      if (!this.#stopped) this.#retry();
    };
    ws.addEventListener('close', ended);
    ws.addEventListener('error', ended);
  }

  // Detaches and closes the current socket, if any.
  #drop(code, reason) {
    const ws = this.#socket;
    if (!ws) return;
    this.#socket = null;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#pingTimer);
    this.#markPending();
    this.#dropRequests();
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
    // A room message sent before may be stored: the server looks it up
    // before it takes a seq, so that the resend leaves no gap.
    if (item.kind !== 'direct' && item.tries > 0) frame.resend = true;
    if (this.#sendFrame(frame)) {
      item.tries = (item.tries ?? 0) + 1;
      item.status = 'awaiting';
      const socket = this.#socket;
      clearTimeout(this.#ackTimer);
      this.#ackTimer = setTimeout(() => {
        if (item.status === 'awaiting' && this.#socket === socket) this.#resendSoon(0);
      }, ACK_WAIT);
      this.#emit('sent', item);
    }
  }

  // What awaits its answer is sent again after ms: the server stored
  // nothing (internal), or the gateway dropped a frame without saying
  // which (Too Many Requests, Internal server error). A resend of a stored
  // message is only acked again.
  #resendSoon(ms) {
    clearTimeout(this.#resendTimer);
    this.#resendTimer = setTimeout(() => { this.#markPending(); this.#pump(); }, ms);
  }

  // Takes a room message; reports whether it is new to the page.
  #take(m) {
    this.#checkEpoch(m.epoch);
    if (typeof m.id !== 'string' || this.#seen.has(m.id)) return false;
    this.#seen.add(m.id);
    if (Number.isInteger(m.seq) && m.seq > 0) this.#hold(m.seq);
    return true;
  }

  // A frame of another epoch than the one held: the room's order started
  // again. Everything known of the old one is dropped, the page is told
  // ('epoch'), and the latest page of the new order is asked for.
  #checkEpoch(epoch) {
    if (typeof epoch !== 'string' || epoch === '' || epoch === this.#epoch) return;
    const first = this.#epoch === null;
    this.#epoch = epoch;
    if (first) return;
    this.#seen.clear();
    this.#resetStream();
    this.#emit('epoch', { epoch });
    this.#askHistory({ action: 'history' }, 'latest');
  }

  // Marks seq held, moves the watermark, and watches for gaps.
  #hold(seq) {
    if (this.#upTo !== null && seq <= this.#upTo) return;
    this.#seqs.add(seq);
    if (seq > this.#maxSeq) {
      this.#maxSeq = seq;
      const now = Date.now();
      this.#maxSeqLog.push([now, seq]);
      while (this.#maxSeqLog.length > 1 && this.#maxSeqLog[1][0] <= now - GAP_WAIT) this.#maxSeqLog.shift();
    }
    this.#advance();
  }

  // Moves the watermark over held seqs; with a gap above it, asks for it
  // once it has been open GAP_WAIT, unless a since request is on its way.
  #advance() {
    if (this.#upTo === null) return;
    while (this.#seqs.has(this.#upTo + 1)) this.#seqs.delete(++this.#upTo);
    if (this.#upTo >= this.#maxSeq || this.#gapTimer) return;
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = 0;
      if (this.#upTo === null || this.#upTo >= this.#maxSeq) return;
      if ([...this.#requests.values()].some((r) => r.kind === 'since')) {
        this.#advance(); // that reply may close it; look again after it
        return;
      }
      this.#askSince();
    }, GAP_WAIT);
  }

  // A history reply has ended: a latest reply starts the stream just
  // below its first message; a since reply resolves every gap it covers
  // up to its bound (what it did not hold there, the server skipped).
  #replyEnded(req, next) {
    if (req.kind === 'latest' && this.#upTo === null) {
      this.#upTo = req.firstSeq > 0 ? req.firstSeq - 1 : 0;
      for (const s of this.#seqs) if (s <= this.#upTo) this.#seqs.delete(s);
    } else if (req.kind === 'since' && this.#upTo !== null && req.frame.since <= this.#upTo) {
      const covered = next && Number.isInteger(next.since) ? Math.min(next.since, req.bound) : req.bound;
      if (covered > this.#upTo) {
        this.#upTo = covered;
        for (const s of this.#seqs) if (s <= covered) this.#seqs.delete(s);
      }
    }
    if (req.kind === 'since' && next && Number.isInteger(next.since)) {
      // The reply stopped at its cap: the rest, with the same bound.
      this.#askHistory({ action: 'history', since: next.since }, 'since', req.bound);
    }
    this.#advance();
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
        const messages = Array.isArray(frame.messages) ? frame.messages.filter((m) => m && typeof m.text === 'string') : [];
        const more = frame.more === true;
        const requestId = typeof frame.requestId === 'string' ? frame.requestId : '';
        const req = this.#requests.get(requestId);
        if (req && req.firstSeq === 0 && messages.length > 0 && Number.isInteger(messages[0].seq)) req.firstSeq = messages[0].seq;
        const fresh = messages.filter((m) => this.#take(m));
        // A reply to a request that was given up on (or to no request) is
        // merged like live frames, and resolves nothing.
        this.#emit('history', { messages: fresh, next: frame.next ?? null, more, kind: req ? req.kind : 'since' });
        if (!req) return;
        if (more) {
          this.#armRequest(requestId, req); // the rest is coming
          return;
        }
        clearTimeout(req.timer);
        this.#requests.delete(requestId);
        this.#replyEnded(req, frame.next);
        return;
      }
      case 'ack': {
        const i = this.#outbox.findIndex((it) => it.clientMsgId === frame.clientMsgId);
        if (i < 0) return; // a second ack of a resend
        const [item] = this.#outbox.splice(i, 1);
        item.status = 'sent';
        queueMicrotask(() => this.#pump());
        this.#checkEpoch(frame.epoch);
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
        if (code === 'rate_limited' && typeof frame.requestId === 'string') {
          // A read over its budget: that history request is asked again
          // once the wait is over; the outbox is not concerned.
          const req = this.#requests.get(frame.requestId);
          if (req) {
            clearTimeout(req.timer);
            this.#requests.delete(frame.requestId);
            const wait = Math.max(100, Number(frame.retryAfterMs) || 1000);
            req.timer = setTimeout(() => this.#askHistory(req.frame, req.kind, req.bound, req.attempt + 1), wait);
          }
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
          this.#resendSoon(RESEND_AFTER_INTERNAL);
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
          // They do not say which frame failed: a message awaiting its ack
          // may be the one, and goes again after a while (history
          // requests have timers of their own).
          if (this.#outbox.some((it) => it.status === 'awaiting')) {
            this.#resendSoon(backoffDelay(2, { base: RESEND_AFTER_INTERNAL, cap: 4 * RESEND_AFTER_INTERNAL }) + 250);
          }
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
