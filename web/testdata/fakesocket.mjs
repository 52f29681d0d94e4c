// The browser globals web/client.js uses, for its Node unit tests
// (client_unit.mjs, changes_unit.mjs): a window for the online and offline
// events, navigator.onLine, CustomEvent, and a WebSocket the test opens,
// feeds and closes. Import it before client.js.

export const windowEvents = new EventTarget();
globalThis.window = {
  addEventListener: (...a) => windowEvents.addEventListener(...a),
  removeEventListener: (...a) => windowEvents.removeEventListener(...a),
};
if (typeof globalThis.navigator === 'undefined' || globalThis.navigator.onLine === undefined) {
  Object.defineProperty(globalThis, 'navigator', { value: { onLine: true }, configurable: true });
}
if (typeof globalThis.CustomEvent === 'undefined') {
  globalThis.CustomEvent = class extends Event {
    constructor(type, { detail } = {}) { super(type); this.detail = detail; }
  };
}

// A WebSocket that the test opens, feeds and closes.
export class FakeSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all = [];

  constructor(url, protocols) {
    super();
    this.url = url;
    this.protocols = protocols;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    FakeSocket.all.push(this);
  }

  send(data) {
    if (this.readyState !== FakeSocket.OPEN) throw new Error('not open');
    this.sent.push(JSON.parse(data));
  }

  close() {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.dispatchEvent(new Event('close'));
  }

  // The test's side.
  open() {
    this.readyState = FakeSocket.OPEN;
    this.dispatchEvent(new Event('open'));
  }

  deliver(frame) {
    const ev = new Event('message');
    ev.data = JSON.stringify(frame);
    this.dispatchEvent(ev);
  }

  // The frames sent since the last call.
  take() {
    const out = this.sent;
    this.sent = [];
    return out;
  }
}
globalThis.WebSocket = FakeSocket;
Math.random = () => 0; // reconnect delays (full jitter) of 0
