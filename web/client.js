// ChatClient: one WebSocket to the chat, reconnected with exponential backoff
// and full jitter, and an outbox for what is typed while disconnected.
//
// Delivery is at most once, never twice. The protocol has no
// acknowledgements and no message IDs from the client, so the server cannot
// tell a resent message from a new one. A message leaves the outbox when
// socket.send() returned on an OPEN socket; from then on it is the browser's.
// If the connection drops right after, the message is not resent: the server
// may have broadcast it already. What the browser can tell us is how many
// bytes it never handed to the network (bufferedAmount): messages whose bytes
// were still buffered when the socket closed certainly did not arrive, and
// are reported as "undelivered" so that the page can offer to send them
// again. The person decides; the client never resends on its own.

import { backoffDelay, socketURL } from './text.js';

export const CONNECTING = 'connecting';
export const ONLINE = 'online';
export const RECONNECTING = 'reconnecting';
export const OFFLINE = 'offline';

const encoder = new TextEncoder();

/**
 * Events (CustomEvent, details in parentheses):
 *   state       ({state, reason, attempt, delay}) the connection state changed
 *   message     (a chat message frame from the server)
 *   servererror ({code, message}) an error frame, or a gateway message frame
 *   sent        (outbox item) an item was handed to an OPEN socket
 *   undelivered (outbox item) an item's bytes never left the browser
 */
export class ChatClient extends EventTarget {
  #base;
  #name;
  #room;
  #opts;
  #socket = null;
  #timer = 0;
  #connectTimer = 0;
  #attempt = 0;
  #state = CONNECTING;
  #everOnline = false;
  #stopped = true;
  #outbox = [];
  #nextID = 1;
  // Bytes handed to the current socket, and what was sent on it, to tell
  // afterwards which messages never left the browser.
  #bytesSent = 0;
  #inFlight = [];

  /**
   * @param {object} o
   * @param {string} o.url     the WebSocket URL from config.json
   * @param {string} o.name    display name
   * @param {string} o.room    room
   * @param {number} [o.maxAttempts=10] failed attempts in a row before giving up (offline)
   * @param {number} [o.baseDelay=500]  backoff base, ms
   * @param {number} [o.maxDelay=30000] backoff cap, ms
   * @param {number} [o.connectTimeout=15000] a handshake slower than this is abandoned
   */
  constructor({ url, name, room, maxAttempts = 10, baseDelay = 500, maxDelay = 30000, connectTimeout = 15000 }) {
    super();
    this.#base = url;
    this.#name = name;
    this.#room = room;
    this.#opts = { maxAttempts, baseDelay, maxDelay, connectTimeout };
  }

  get state() { return this.#state; }
  get name() { return this.#name; }
  get room() { return this.#room; }
  /** Items waiting for a connection, oldest first. */
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

  /** Reconnects under another name. */
  setName(name) {
    this.#name = name;
    this.#restart();
  }

  /**
   * Reconnects to another room. What waits in the outbox was written for the
   * old room, so it is dropped.
   */
  setRoom(room) {
    this.#room = room;
    this.#outbox = [];
    this.#restart();
  }

  /**
   * Queues text and sends it now if the socket is open. Returns the outbox
   * item, {id, text, status}, where status is 'pending' or 'sent'.
   */
  send(text) {
    const item = { id: this.#nextID++, text, status: 'pending' };
    this.#outbox.push(item);
    this.#flush();
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
    this.#everOnline = false;
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
    let ws;
    try {
      ws = new WebSocket(socketURL(this.#base, this.#name, this.#room));
    } catch (err) {
      // A malformed URL (or one the page's CSP forbids) throws here.
      this.#setState(OFFLINE, { reason: 'config', message: String(err && err.message || err) });
      return;
    }
    this.#socket = ws;
    this.#bytesSent = 0;
    this.#inFlight = [];
    this.#connectTimer = setTimeout(() => {
      if (ws.readyState === WebSocket.CONNECTING) ws.close();
    }, this.#opts.connectTimeout);
    ws.addEventListener('open', () => {
      if (ws !== this.#socket) return;
      clearTimeout(this.#connectTimer);
      this.#attempt = 0;
      this.#everOnline = true;
      this.#setState(ONLINE);
      this.#flush();
    });
    ws.addEventListener('message', (ev) => {
      if (ws !== this.#socket) return;
      this.#receive(ev.data);
    });
    ws.addEventListener('close', () => {
      if (ws !== this.#socket) return;
      this.#socket = null;
      clearTimeout(this.#connectTimer);
      this.#reportUndelivered(ws);
      if (!this.#stopped) this.#retry();
    });
  }

  // Detaches and closes the current socket, if any.
  #drop(code, reason) {
    const ws = this.#socket;
    if (!ws) return;
    this.#socket = null;
    clearTimeout(this.#connectTimer);
    this.#reportUndelivered(ws);
    try { ws.close(code, reason); } catch { /* already closing */ }
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

  #flush() {
    const ws = this.#socket;
    while (this.#outbox.length > 0 && ws && ws.readyState === WebSocket.OPEN) {
      const item = this.#outbox[0];
      const frame = JSON.stringify({ action: 'chat message', text: item.text });
      try {
        ws.send(frame);
      } catch {
        break; // stays in the outbox; the close event follows
      }
      this.#outbox.shift();
      item.status = 'sent';
      this.#bytesSent += encoder.encode(frame).length;
      this.#inFlight.push({ item, end: this.#bytesSent });
      this.#pruneInFlight(ws);
      this.#emit('sent', item);
    }
  }

  // Forgets the sent items whose bytes have all left the browser.
  #pruneInFlight(ws) {
    const left = this.#bytesSent - ws.bufferedAmount;
    while (this.#inFlight.length > 0 && this.#inFlight[0].end <= left) this.#inFlight.shift();
  }

  #reportUndelivered(ws) {
    this.#pruneInFlight(ws);
    const lost = this.#inFlight;
    this.#inFlight = [];
    for (const { item } of lost) {
      item.status = 'undelivered';
      this.#emit('undelivered', item);
    }
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
    if (frame.type === 'chat message' && typeof frame.text === 'string') {
      this.#emit('message', frame);
    } else if (frame.type === 'error') {
      this.#emit('servererror', { code: String(frame.code ?? 'error'), message: String(frame.message ?? '') });
    } else if (frame.type === undefined && typeof frame.message === 'string') {
      // API Gateway's own frames: {"message": "Internal server error", ...}
      this.#emit('servererror', { code: 'gateway', message: frame.message });
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
