// ChatClient: one WebSocket to the chat, reconnected with exponential backoff
// and full jitter, with exactly-once delivery of what the person sends and
// of what the room and the person's private conversations say
// (docs/protocol.md, "The client's duty").
//
// Who. The page's user is named by the server from a secret the page keeps
// and offers as a second subprotocol ("anon." + secret), or from the
// sign-in token. The "who" reply says which user ID and name this
// connection has; frames name people by user ID.
//
// Sending. Every message gets a random clientMsgId and stays in the outbox
// until the server acks it. After every (re)connect whatever is unacked is
// sent again with the same clientMsgId: the server stores a clientMsgId
// once and acks a resend with the first ack, so a resend never shows twice.
//
// Receiving. The room and each private conversation are streams: every
// message carries its stream's seq and epoch. For each stream the client
// keeps a watermark: the highest seq up to which every seq is held or known
// to be skipped. Above it, a missing seq is a gap. After every (re)connect
// it asks each stream for the history after its watermark (the room's
// latest page on the first connect, a conversation's whole history the
// first time), and a gap still open 2 s after it appeared is asked for the
// same way. A gap is resolved only by a history reply that covers it: a
// seq the reply should have held and did not is one the server skipped.
// A request whose reply does not come (throttled, failed, or the socket
// dropped) is asked again, with backoff. Live frames and history are
// merged by id: a message arriving twice is passed on once.

import { backoffDelay, socketURL } from './text.js';

export const CONNECTING = 'connecting';
export const ONLINE = 'online';
export const RECONNECTING = 'reconnecting';
export const OFFLINE = 'offline';

/** The subprotocol of this protocol; the server echoes it. */
export const SUBPROTOCOL = 'chat.v1';

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
// Error codes that refuse one message for what it is: the message named by
// the error's clientMsgId, else the oldest message awaiting its ack (a
// connection's frames are handled in order). Sending it again would not
// help.
const REFUSED = new Set(['invalid_json', 'invalid_field', 'empty_text', 'text_too_long', 'invalid_utf8',
  'control_char', 'no_such_member',
  // A change (edit, delete, react) refused, or a message the review refused.
  'not_author', 'deleted', 'no_such_message', 'invalid_emoji', 'too_many_reactions', 'denied']);
// The stream entries that change a message (docs/protocol.md, "Messages
// that live"): passed on as 'change' events, in seq order, never as messages.
const CHANGES = new Set(['edit', 'delete', 'reaction']);
// Error codes that refuse a rename: the name stays what it was.
const RENAME_REFUSED = new Set(['name_taken', 'invalid_name', 'name_fixed']);

const USER_ID = /^[au][0-9a-v]{26}$/;
const SECRET = /^[A-Za-z0-9_-]{22,128}$/;

/** A random clientMsgId: 22 characters of [A-Za-z0-9_-] (128 bits). */
export function newClientMsgId() {
  return randomBase64URL(16);
}

/** A new secret for the anon. subprotocol: 43 characters of base64url (256 bits). */
export function newSecret() {
  return randomBase64URL(32);
}

/** Whether s can be presented as a secret. */
export function isSecret(s) {
  return typeof s === 'string' && SECRET.test(s);
}

/** Whether s is a user ID. */
export function isUserID(s) {
  return typeof s === 'string' && USER_ID.test(s);
}

/** The ID of the private conversation of two users: their IDs, sorted, joined by "+". */
export function conversationID(a, b) {
  return a < b ? `${a}+${b}` : `${b}+${a}`;
}

/** The other person of a conversation, seen from userId (null if userId is not in it). */
export function conversationPeer(conversation, userId) {
  const [a, b] = String(conversation).split('+');
  if (a === userId) return b ?? null;
  if (b === userId) return a;
  return null;
}

function isConversationID(s) {
  if (typeof s !== 'string') return false;
  const [a, b, rest] = s.split('+');
  return rest === undefined && isUserID(a) && isUserID(b) && a < b;
}

function randomBase64URL(n) {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// One stream of messages in seq order: the room, or one private
// conversation (conversation is its ID, null for the room).
class Stream {
  constructor(conversation) {
    this.conversation = conversation;
    this.seen = new Set(); // ids of the messages passed on
    // The epoch: the name of the order its seqs belong to. Another epoch
    // means the order started again (the server's store is new): what is
    // held means nothing now, and the stream is loaded anew.
    this.epoch = null;
    this.reset();
  }

  // Forgets what is known of the stream's order. The watermark of the
  // room is unknown until its latest page tells where the page starts; a
  // conversation is read from its beginning.
  reset() {
    this.upTo = this.conversation === null ? null : 0;
    this.seqs = new Set(); // seqs held above the watermark
    this.changes = new Map(); // seq -> change event not passed on yet (above the watermark)
    this.maxSeq = 0;
    this.maxSeqLog = []; // [time, maxSeq] of the last few seconds, oldest first
    clearTimeout(this.gapTimer);
    this.gapTimer = 0;
  }
}

/**
 * Events (CustomEvent, details in parentheses). Where conversation is
 * null, the room is meant; else the private conversation of that ID.
 *   state        ({state, reason, attempt, delay}) the connection state changed
 *   message      (a room's chat message frame, new to this page: live)
 *   direct       (a direct message frame, new to this page: live)
 *   history      ({messages, next, more, kind, conversation}) a history reply's messages new
 *                to this page, oldest first; kind is its request's: latest, since or before
 *   ack          ({item, ack}) an outbox item was stored: item.serverId is ack.id, item.seq ack.seq
 *   refused      ({item, code, message}) the server refused an outbox item for what it is
 *   renamefailed ({code, message}) a rename was refused (name_taken…): the name is unchanged
 *   servererror  ({code, message}) an error frame, or a gateway message frame
 *   epoch        ({epoch, conversation}) the stream's order started again (the server's
 *                store is new): what was shown of it is void; its history follows
 *   conversation ({conversation, with}) a private conversation new to this client: its
 *                history is asked for
 *   forbidden    ({conversation}) the server refused a conversation's history: it is not
 *                this user's, and is forgotten
 *   members      (the who reply; client.userId is now you.userId)
 *   joined, left, typing, renamed (the frames of those types)
 *   sent         (outbox item) an item was handed to an OPEN socket
 *   change       (an edit, delete or reaction event, with conversation) a change of a
 *                message, live, from history, or this page's own once acked; passed on
 *                once each, in seq order (when every seq below it is held or skipped)
 *   blocked      ({blocked}) the people this user has blocked, after a block request
 */
export class ChatClient extends EventTarget {
  #base;
  #name;
  #room;
  #secret;
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
  #userId = null; // who's you.userId
  #room$ = new Stream(null);
  #conversations = new Map(); // conversation ID -> Stream
  #lastTyping = 0;
  // History requests on this socket whose reply has not ended, by
  // requestId: {stream, frame, kind, bound, attempt, timer, firstSeq}.
  // The server echoes requestId in every frame of a reply.
  #requests = new Map();
  #nextRequest = 1;
  #token = null; // async () => a token for the handshake, when signed in
  #opening = 0; // the latest #open, so a slow token cannot open a stale socket
  #pausedUntil = 0; // rate_limited: send nothing from the outbox before this
  #pauseTimer = 0;
  #ackTimer = 0; // the message in flight is sent again if no answer comes
  #resendTimer = 0;
  #inHistory = false; // taking a history frame's entries: its changes are passed after its messages

  /**
   * @param {object} o
   * @param {string} o.url     the WebSocket URL from config.json
   * @param {string} o.name    display name asked for
   * @param {string} o.room    room
   * @param {string} [o.secret] the person's secret (anonymous use): offered as the
   *                            subprotocol "anon." + secret, so that the server knows
   *                            the same person again
   * @param {number} [o.maxAttempts=10] failed attempts in a row before giving up (offline)
   * @param {number} [o.baseDelay=500]  backoff base, ms
   * @param {number} [o.maxDelay=10000] backoff cap, ms
   * @param {number} [o.connectTimeout=15000] a handshake slower than this is abandoned
   * @param {() => Promise<string>} [o.token] the sign-in token for each handshake
   */
  constructor({ url, name, room, secret = null, maxAttempts = 10, baseDelay = 500, maxDelay = 10000, connectTimeout = 15000, token = null }) {
    super();
    this.#token = token;
    this.#base = url;
    this.#name = name;
    this.#room = room;
    this.#secret = isSecret(secret) ? secret : null;
    this.#opts = { maxAttempts, baseDelay, maxDelay, connectTimeout };
  }

  get state() { return this.#state; }
  get name() { return this.#name; }
  get room() { return this.#room; }
  /** This connection's user ID, from the last who reply (null before it). */
  get userId() { return this.#userId; }
  /** Items waiting for their ack, oldest first. */
  get pending() { return [...this.#outbox]; }
  /** The room's watermark (every seq up to it is held or skipped), or null. */
  get upTo() { return this.#room$.upTo; }
  /** The private conversations this client follows. */
  get conversations() { return [...this.#conversations.keys()]; }
  /** A conversation's watermark, or null if it is not followed. */
  upToOf(conversation) { return this.#conversations.get(conversation)?.upTo ?? null; }

  /** Connects, or reconnects at once when waiting or offline. */
  start() {
    this.#stopped = false;
    if (!this.#listening) {
      this.#listening = true;
      window.addEventListener('online', this.#onOnline);
      window.addEventListener('offline', this.#onOffline);
      if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this.#onVisible);
    }
    this.#attempt = 0;
    this.#open();
  }

  /** Closes the connection for good (the outbox is kept). */
  stop() {
    this.#stopped = true;
    this.#drop(1000, 'bye');
    clearTimeout(this.#timer);
    clearTimeout(this.#ackTimer);
    clearTimeout(this.#resendTimer);
    window.removeEventListener('online', this.#onOnline);
    window.removeEventListener('offline', this.#onOffline);
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this.#onVisible);
    this.#listening = false;
  }

  /** Takes a name to ask for on the next connections. */
  setName(name) {
    this.#name = name;
  }

  /**
   * Asks the server for a new name; every member gets "renamed", or this
   * client "renamefailed". Reports whether the request went out.
   */
  rename(name) {
    return this.#sendFrame({ action: 'rename', name });
  }

  /**
   * Reconnects to another room. What waits in the outbox was written for the
   * old room, so it is dropped, and so is what is known of the old room and
   * its conversations.
   */
  setRoom(room) {
    this.#room = room;
    this.#outbox = [];
    this.#dropRequests();
    this.#room$.reset();
    this.#room$.seen.clear();
    this.#room$.epoch = null;
    for (const s of this.#conversations.values()) s.reset();
    this.#conversations.clear();
    this.#everOnline = false;
    this.#restart();
  }

  /**
   * Queues text for the room and sends it now if the socket is open.
   * Returns the outbox item, {id, clientMsgId, text, status, conversation}:
   * status is 'pending' until the ack, then 'sent'.
   */
  send(text) {
    return this.#queue({ kind: 'room', conversation: null, text });
  }

  /**
   * Queues a private message to the person toId, in the room. Needs the
   * who reply (the conversation's ID is made of both user IDs).
   */
  sendDirect(toId, text) {
    const conversation = this.#userId ? conversationID(this.#userId, toId) : null;
    if (conversation) this.addConversation(conversation);
    return this.#queue({ kind: 'direct', toId, conversation, text });
  }

  /**
   * Follows a private conversation: its history is asked for now (when
   * connected) and after every reconnect. Reports whether it was new.
   */
  addConversation(conversation) {
    if (!isConversationID(conversation) || this.#conversations.has(conversation)) return false;
    const stream = new Stream(conversation);
    this.#conversations.set(conversation, stream);
    this.#emit('conversation', { conversation, with: this.#userId ? conversationPeer(conversation, this.#userId) : null });
    if (this.#socket && this.#socket.readyState === WebSocket.OPEN) this.#askSince(stream);
    return true;
  }

  /** Queues an edit of this user's message at seq target (of the conversation, or the room). */
  edit(target, text, conversation = null) {
    return this.#queue({ kind: 'edit', conversation, target, text });
  }

  /** Queues the deletion of this user's message at seq target. */
  deleteMessage(target, conversation = null) {
    return this.#queue({ kind: 'delete', conversation, target });
  }

  /** Queues adding (op 'add') or removing ('remove') this user's reaction emoji to the message at seq target. */
  react(target, emoji, op, conversation = null) {
    return this.#queue({ kind: 'react', conversation, target, emoji, op });
  }

  /** Blocks (or unblocks) a person; the server answers with the list ('blocked'). Reports whether it went out. */
  block(userId, blocked) {
    return this.#sendFrame({ action: 'block', userId, blocked: blocked === true });
  }

  /** Asks for the members of the room. */
  who() {
    this.#sendFrame({ action: 'who' });
  }

  /**
   * Asks how many messages other rooms got since the seqs given
   * ({room: seq}); the answer comes as an `unread` event.
   */
  unread(rooms) {
    if (rooms && Object.keys(rooms).length > 0) this.#sendFrame({ action: 'unread', rooms });
  }

  /**
   * Tells the room the person is typing, or, with toId, that person alone;
   * at most once every 2 s.
   */
  typing(toId) {
    const now = Date.now();
    if (now - this.#lastTyping < TYPING_EVERY) return;
    const frame = toId ? { action: 'typing', toId } : { action: 'typing' };
    if (this.#sendFrame(frame)) this.#lastTyping = now;
  }

  /** Asks for the room's page of messages before seq (load older). */
  loadBefore(seq) {
    this.#askHistory(this.#room$, { action: 'history', before: seq, limit: 50 }, 'before');
  }

  #stream(conversation) {
    if (conversation === null || conversation === undefined) return this.#room$;
    if (!this.#conversations.has(conversation)) this.addConversation(conversation);
    return this.#conversations.get(conversation) ?? null;
  }

  // Sends a history request with a requestId and waits for its reply: one
  // that does not come in time is asked again. bound is, for a since
  // request, the highest seq whose gaps its reply may resolve.
  #askHistory(stream, frame, kind, bound = 0, attempt = 0) {
    const requestId = `h${this.#nextRequest++}`;
    const sent = stream.conversation === null ? { ...frame, requestId } : { ...frame, conversation: stream.conversation, requestId };
    if (!this.#sendFrame(sent)) return; // asked again on the next open
    const req = { stream, frame, kind, bound, attempt, timer: 0, firstSeq: 0 };
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
      this.#reask(req, req.attempt + 1);
    }, wait);
  }

  // Asks a request again, unless its stream was dropped meanwhile.
  #reask(req, attempt) {
    if (!this.#live(req.stream)) return;
    this.#askHistory(req.stream, req.frame, req.kind, req.bound, attempt);
  }

  #live(stream) {
    return stream === this.#room$ || this.#conversations.get(stream.conversation) === stream;
  }

  #dropRequests() {
    for (const req of this.#requests.values()) clearTimeout(req.timer);
    this.#requests.clear();
  }

  // Asks for every message of the stream after its watermark. Its reply
  // may resolve the gaps up to the highest seq known GAP_WAIT ago: a seq
  // missing for less than that may still be being stored.
  #askSince(stream) {
    const since = stream.upTo;
    if (since === null) return;
    const cutoff = Date.now() - GAP_WAIT;
    let bound = since;
    for (const [at, seq] of stream.maxSeqLog) if (at <= cutoff) bound = Math.max(bound, seq);
    this.#askHistory(stream, { action: 'history', since }, 'since', bound);
  }

  #queue(fields) {
    const item = { id: this.#nextID++, clientMsgId: newClientMsgId(), status: 'pending', ...fields };
    this.#outbox.push(item);
    this.#pump();
    return item;
  }

  #listening = false;
  // The network is back, or the person looks at the page again: a page
  // that is not online tries at once, whatever its backoff had left to
  // wait (a handshake under way starts again, with a fresh attempt count).
  #onOnline = () => this.#now('online');
  #onVisible = () => {
    if (document.visibilityState === 'visible') this.#now('visible');
  };

  #now(reason) {
    if (this.#stopped || this.#state === ONLINE) return;
    this.#attempt = 0;
    this.#open(reason);
  }

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

  #open(reason) {
    clearTimeout(this.#timer);
    this.#drop(1000, 'reconnect');
    if (!navigator.onLine) {
      this.#setState(OFFLINE, { reason: 'network' });
      return;
    }
    this.#setState(this.#everOnline || this.#attempt > 0 ? RECONNECTING : CONNECTING, { attempt: this.#attempt, reason });
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
    // Signed in, the token names the user: the secret is not offered.
    const protocols = !token && this.#secret ? [SUBPROTOCOL, `anon.${this.#secret}`] : [SUBPROTOCOL];
    try {
      ws = new WebSocket(socketURL(this.#base, token ? '' : this.#name, this.#room, token), protocols);
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
      this.#everOnline = true;
      this.#setState(ONLINE);
      // The client's duty: who is here, what was missed, what is unacked.
      this.#dropRequests();
      this.#sendFrame({ action: 'who' });
      if (this.#room$.upTo === null) this.#askHistory(this.#room$, { action: 'history' }, 'latest');
      else this.#askSince(this.#room$);
      for (const stream of this.#conversations.values()) this.#askSince(stream);
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
  // order the messages were written in, whatever the server refuses for a
  // while (rate_limited, internal); a human does not type faster than a
  // round trip.
  #pump() {
    if (Date.now() < this.#pausedUntil) return; // sent when the pause ends
    if (this.#outbox.some((it) => it.status === 'awaiting')) return;
    const next = this.#outbox.find((it) => it.status === 'pending');
    if (next) this.#transmit(next);
  }

  #transmit(item) {
    const frame = item.kind === 'direct'
      ? { action: 'direct message', toId: item.toId, text: item.text, clientMsgId: item.clientMsgId }
      : item.kind === 'room' ? { action: 'chat message', text: item.text, clientMsgId: item.clientMsgId }
        : changeFrame(item);
    // A message sent before may be stored: the server looks it up before
    // it takes a seq, so that the resend leaves no gap.
    if (item.tries > 0) frame.resend = true;
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

  // Takes a message of stream; reports whether it is new to the page.
  #take(stream, m) {
    this.#checkEpoch(stream, m.epoch);
    if (typeof m.id !== 'string' || stream.seen.has(m.id)) return false;
    stream.seen.add(m.id);
    if (Number.isInteger(m.seq) && m.seq > 0) this.#hold(stream, m.seq);
    return true;
  }

  // A frame of another epoch than the one held: the stream's order started
  // again. Everything known of the old one is dropped, the page is told
  // ('epoch'), and the stream is read anew: the room's latest page, a
  // conversation from its beginning.
  #checkEpoch(stream, epoch) {
    if (typeof epoch !== 'string' || epoch === '' || epoch === stream.epoch) return;
    const first = stream.epoch === null;
    stream.epoch = epoch;
    if (first) return;
    stream.seen.clear();
    stream.reset();
    for (const [id, req] of this.#requests) {
      if (req.stream !== stream) continue;
      clearTimeout(req.timer);
      this.#requests.delete(id);
    }
    this.#emit('epoch', { epoch, conversation: stream.conversation });
    if (stream.conversation === null) this.#askHistory(stream, { action: 'history' }, 'latest');
    else this.#askSince(stream);
  }

  // Marks seq held, moves the watermark, and watches for gaps.
  #hold(stream, seq) {
    if (stream.upTo !== null && seq <= stream.upTo) return;
    stream.seqs.add(seq);
    if (seq > stream.maxSeq) {
      stream.maxSeq = seq;
      const now = Date.now();
      stream.maxSeqLog.push([now, seq]);
      while (stream.maxSeqLog.length > 1 && stream.maxSeqLog[1][0] <= now - GAP_WAIT) stream.maxSeqLog.shift();
    }
    this.#advance(stream);
  }

  // Moves the watermark over held seqs; with a gap above it, asks for it
  // once it has been open GAP_WAIT, unless a since request is on its way.
  #advance(stream) {
    if (stream.upTo === null) return;
    while (stream.seqs.has(stream.upTo + 1)) stream.seqs.delete(++stream.upTo);
    this.#passChanges(stream);
    if (stream.upTo >= stream.maxSeq || stream.gapTimer) return;
    stream.gapTimer = setTimeout(() => {
      stream.gapTimer = 0;
      if (!this.#live(stream) || stream.upTo === null || stream.upTo >= stream.maxSeq) return;
      if ([...this.#requests.values()].some((r) => r.stream === stream && r.kind === 'since')) {
        this.#advance(stream); // that reply may close it; look again after it
        return;
      }
      this.#askSince(stream);
    }, GAP_WAIT);
  }

  // A history reply has ended: a latest reply starts the stream just
  // below its first message; a since reply resolves every gap it covers
  // up to its bound (what it did not hold there, the server skipped).
  #replyEnded(req, next) {
    const { stream } = req;
    if (req.kind === 'latest' && stream.upTo === null) {
      stream.upTo = req.firstSeq > 0 ? req.firstSeq - 1 : 0;
      for (const s of stream.seqs) if (s <= stream.upTo) stream.seqs.delete(s);
    } else if (req.kind === 'since' && stream.upTo !== null && req.frame.since <= stream.upTo) {
      const covered = next && Number.isInteger(next.since) ? Math.min(next.since, req.bound) : req.bound;
      if (covered > stream.upTo) {
        stream.upTo = covered;
        for (const s of stream.seqs) if (s <= covered) stream.seqs.delete(s);
      }
    }
    if (req.kind === 'since' && next && Number.isInteger(next.since)) {
      // The reply stopped at its cap: the rest, with the same bound.
      this.#askHistory(stream, { action: 'history', since: next.since }, 'since', req.bound);
    }
    this.#advance(stream);
  }

  // Passes on the changes held at or below the watermark, in seq order:
  // every message and change before them has been passed on.
  #passChanges(stream) {
    if (this.#inHistory || stream.upTo === null || stream.changes.size === 0) return;
    const ready = [...stream.changes.keys()].filter((seq) => seq <= stream.upTo).sort((a, b) => a - b);
    for (const seq of ready) {
      const change = stream.changes.get(seq);
      stream.changes.delete(seq);
      if (this.#live(stream)) this.#emit('change', { ...change, conversation: stream.conversation });
    }
  }

  // A change of stream, new to the page: held until the watermark passes it.
  #takeChange(stream, change) {
    if (!Number.isInteger(change.seq) || change.seq <= 0) return;
    stream.changes.set(change.seq, change);
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
        if (typeof frame.text === 'string' && this.#take(this.#room$, frame)) this.#emit('message', frame);
        return;
      case 'direct message': {
        if (typeof frame.text !== 'string') return;
        const stream = this.#stream(frame.conversation);
        if (stream && this.#take(stream, frame)) this.#emit('direct', frame);
        return;
      }
      case 'edit': case 'delete': case 'reaction': {
        const stream = typeof frame.conversation === 'string' ? this.#stream(frame.conversation) : this.#room$;
        if (!stream || !Number.isInteger(frame.seq)) return;
        this.#checkEpoch(stream, frame.epoch);
        if (typeof frame.id !== 'string' || stream.seen.has(frame.id)) return;
        stream.seen.add(frame.id);
        this.#takeChange(stream, frame);
        this.#hold(stream, frame.seq);
        this.#passChanges(stream);
        return;
      }
      case 'blocked':
        if (Array.isArray(frame.blocked)) this.#emit('blocked', { blocked: frame.blocked.filter(isUserID) });
        return;
      case 'history': {
        const requestId = typeof frame.requestId === 'string' ? frame.requestId : '';
        const req = this.#requests.get(requestId);
        // A reply to a request that was given up on (or to no request)
        // is merged like live frames, and resolves nothing; one of a
        // conversation no longer followed is dropped.
        const stream = req ? req.stream
          : typeof frame.conversation === 'string' ? this.#conversations.get(frame.conversation) : this.#room$;
        if (!stream || !this.#live(stream)) return;
        const messages = Array.isArray(frame.messages) ? frame.messages.filter((m) => m && typeof m.text === 'string') : [];
        const more = frame.more === true;
        if (req && req.firstSeq === 0 && messages.length > 0 && Number.isInteger(messages[0].seq)) req.firstSeq = messages[0].seq;
        const kind = req ? req.kind : 'since';
        // Changes are held until the watermark passes them; those of a
        // page of older messages are already in its messages' state.
        this.#inHistory = true;
        let fresh;
        try {
          fresh = messages.filter((m) => {
            if (!CHANGES.has(m.type)) return this.#take(stream, m);
            if (kind !== 'before' && this.#take(stream, m)) this.#takeChange(stream, m);
            return false;
          });
        } finally {
          this.#inHistory = false;
        }
        this.#emit('history', { messages: fresh, next: frame.next ?? null, more, kind: req ? req.kind : 'since', conversation: stream.conversation });
        this.#passChanges(stream);
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
        if (typeof frame.conversation === 'string') item.conversation = frame.conversation;
        const stream = this.#stream(item.kind === 'room' ? null : item.conversation);
        if (stream) {
          this.#checkEpoch(stream, frame.epoch);
          // The sender does not get its own change broadcast: the ack
          // stands for it (once: history may have brought it already).
          if (CHANGES.has(changeType(item.kind)) && typeof frame.id === 'string' && !stream.seen.has(frame.id)) {
            this.#takeChange(stream, ownChange(item, frame, this.#userId, this.#name));
          }
          if (typeof frame.id === 'string') stream.seen.add(frame.id);
          if (Number.isInteger(frame.seq)) this.#hold(stream, frame.seq);
          this.#passChanges(stream);
        }
        if (typeof frame.id === 'string') item.serverId = frame.id;
        if (Number.isInteger(frame.seq)) item.seq = frame.seq;
        this.#emit('ack', { item, ack: frame });
        return;
      }
      case 'error':
        this.#error(frame);
        return;
      case 'members':
        if (frame.you && isUserID(frame.you.userId)) this.#userId = frame.you.userId;
        this.#emit('members', frame);
        // A conversation begun while this client was away: read it from
        // its beginning.
        if (Array.isArray(frame.conversations)) {
          for (const c of frame.conversations) if (c && typeof c.id === 'string') this.addConversation(c.id);
        }
        return;
      case 'joined': case 'left': case 'typing': case 'renamed':
        this.#emit(frame.type, frame);
        return;
      case 'unread':
        if (frame.rooms && typeof frame.rooms === 'object') this.#emit('unread', frame.rooms);
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

  #error(frame) {
    const code = String(frame.code ?? 'error');
    const message = String(frame.message ?? '');
    if (code === 'not_connected') {
      this.#restart(); // the server forgot this connection: a new one
      return;
    }
    const req = typeof frame.requestId === 'string' ? this.#requests.get(frame.requestId) : undefined;
    if (typeof frame.requestId === 'string') {
      // A history request was refused; the outbox is not concerned.
      if (!req) return; // given up on already
      clearTimeout(req.timer);
      this.#requests.delete(frame.requestId);
      if (code === 'rate_limited') {
        // Over the read budget: asked again once the wait is over.
        const wait = Math.max(100, Number(frame.retryAfterMs) || 1000);
        req.timer = setTimeout(() => this.#reask(req, req.attempt + 1), wait);
        return;
      }
      if (code === 'forbidden' && req.stream.conversation !== null) {
        // Not this user's conversation (another account on this browser):
        // forgotten, never asked again.
        req.stream.reset();
        this.#conversations.delete(req.stream.conversation);
        this.#emit('forbidden', { conversation: req.stream.conversation });
        return;
      }
      this.#emit('servererror', { code, message });
      return;
    }
    if (code === 'rate_limited') {
      // Too fast: nothing was stored. Hold the outbox, then send it
      // again in order.
      this.#pauseSending(Math.max(100, Number(frame.retryAfterMs) || 1000), frame.clientMsgId);
      this.#emit('ratelimited', { retryAfterMs: Number(frame.retryAfterMs) || 0, message });
      return;
    }
    if (RENAME_REFUSED.has(code)) {
      this.#emit('renamefailed', { code, message });
      return;
    }
    if (code === 'internal') {
      // Nothing was stored: what awaits its ack goes again shortly.
      this.#resendSoon(RESEND_AFTER_INTERNAL);
    } else if (REFUSED.has(code)) {
      const named = typeof frame.clientMsgId === 'string';
      const i = this.#outbox.findIndex((it) => (named ? it.clientMsgId === frame.clientMsgId : it.status === 'awaiting'));
      if (i >= 0) {
        const [item] = this.#outbox.splice(i, 1);
        item.status = 'refused';
        queueMicrotask(() => this.#pump());
        this.#emit('refused', { item, code, message });
        return;
      }
    }
    this.#emit('servererror', { code, message });
  }

  #setState(state, detail = {}) {
    this.#state = state;
    this.#emit('state', { state, ...detail });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

// The event type of an outbox item's kind ('react' is stored as 'reaction').
function changeType(kind) {
  return kind === 'react' ? 'reaction' : kind;
}

// The frame of an edit, delete or react item.
function changeFrame(item) {
  const frame = { action: item.kind, target: item.target, clientMsgId: item.clientMsgId };
  if (item.kind === 'edit') frame.text = item.text;
  if (item.kind === 'react') Object.assign(frame, { emoji: item.emoji, op: item.op });
  if (item.conversation) frame.conversation = item.conversation;
  return frame;
}

// The event an acked change of this page's stands for.
function ownChange(item, ack, userId, name) {
  const change = { type: changeType(item.kind), id: ack.id, seq: ack.seq, epoch: ack.epoch, target: item.target, fromId: userId, from: name, own: true };
  if (item.kind === 'edit') Object.assign(change, { text: typeof ack.text === 'string' ? ack.text : item.text, editedAt: ack.sentAt });
  if (item.kind === 'react') Object.assign(change, { emoji: item.emoji, op: item.op });
  return change;
}
