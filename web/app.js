// The chat page: wires the DOM to a ChatClient. Every piece of text that
// comes from the network or the person is put in the page with textContent,
// never as HTML.

import { Session } from './auth.js';
import { ChatClient, CONNECTING, ONLINE, RECONNECTING, OFFLINE } from './client.js';
import {
  MAX_TEXT, checkName, checkText, codePointLength, formatClock, nameHue, roomFromURL, typingLine,
} from './text.js';

const NAME_KEY = 'chat.name';
const ROOMS_KEY = 'chat.rooms';
const COUNTER_FROM = MAX_TEXT - 200; // show the counter this close to the limit
const ANNOUNCE_KEEP = 5; // lines kept in the live region
const TYPING_SHOWN = 4000; // a typing name is cleared after this without news
const RECENT_ROOMS = 8;

const $ = (id) => document.getElementById(id);
const ui = {
  room: $('room-name'),
  status: $('status'),
  statusText: $('status-text'),
  retry: $('retry'),
  changeName: $('change-name'),
  nameLabel: $('name-label'),
  log: $('log'),
  list: $('messages'),
  loadOlder: $('load-older'),
  newMessages: $('new-messages'),
  announcer: $('announcer'),
  typing: $('typing'),
  composer: $('composer'),
  input: $('message-input'),
  hint: $('composer-hint'),
  hintText: $('hint-text'),
  counter: $('counter'),
  dmTarget: $('dm-target'),
  dmName: $('dm-name'),
  dmCancel: $('dm-cancel'),
  dialog: $('name-dialog'),
  nameForm: $('name-form'),
  nameInput: $('name-input'),
  nameError: $('name-error'),
  nameCancel: $('name-cancel'),
  roomForm: $('room-form'),
  roomInput: $('room-input'),
  roomError: $('room-error'),
  recentRooms: $('recent-rooms'),
  people: $('people'),
  peopleList: $('people-list'),
  onlineCount: $('online-count'),
  peopleToggle: $('people-toggle'),
  onlineCountToggle: $('online-count-toggle'),
};

let client = null;
let name = loadName();
let room = roomFromURL(location.href);
let unseen = 0;
let dmTo = null; // the name private messages go to, or null for the room
let olderCursor = null; // before of the next "load older" page
let session = null; // the sign-in, when config.json asks for one

// ---- storage ---------------------------------------------------------------

function loadName() {
  try {
    const stored = localStorage.getItem(NAME_KEY);
    const { name: ok } = checkName(stored);
    return ok ?? '';
  } catch {
    return ''; // storage can be disabled
  }
}

function saveName(value) {
  try {
    localStorage.setItem(NAME_KEY, value);
  } catch {
    /* the name then lasts for this visit only */
  }
}

function recentRooms() {
  try {
    const list = JSON.parse(localStorage.getItem(ROOMS_KEY) ?? '[]');
    return Array.isArray(list) ? list.filter((r) => typeof r === 'string' && roomFromURL(`http://x/#${r}`).invalid === null) : [];
  } catch {
    return [];
  }
}

function rememberRoom(r) {
  const list = [r, ...recentRooms().filter((x) => x !== r)].slice(0, RECENT_ROOMS);
  try {
    localStorage.setItem(ROOMS_KEY, JSON.stringify(list));
  } catch { /* not kept */ }
  ui.recentRooms.replaceChildren(...list.map((x) => Object.assign(document.createElement('option'), { value: x })));
}

// ---- configuration -----------------------------------------------------------

// The configuration: config.json next to the page, whose websocketUrl ?ws=
// overrides. auth, if present, is the issuer to sign in with.
async function loadConfig() {
  const override = new URLSearchParams(location.search).get('ws');
  const res = await fetch(new URL('config.json', document.baseURI), { cache: 'no-cache' });
  if (!res.ok) {
    if (override) return { websocketUrl: override };
    throw new Error(`config.json answered ${res.status}`);
  }
  const cfg = await res.json();
  if (override) cfg.websocketUrl = override;
  if (typeof cfg.websocketUrl !== 'string' || cfg.websocketUrl === '') {
    throw new Error('config.json has no websocketUrl');
  }
  if (cfg.auth && (typeof cfg.auth.issuer !== 'string' || typeof cfg.auth.clientId !== 'string')) {
    throw new Error('config.json has an auth without issuer and clientId');
  }
  return cfg;
}

// ---- messages ----------------------------------------------------------------

function isAtBottom() {
  const { scrollHeight, scrollTop, clientHeight } = ui.log;
  return scrollHeight - scrollTop - clientHeight < 48;
}

function scrollToBottom() {
  ui.log.scrollTop = ui.log.scrollHeight;
  unseen = 0;
  ui.newMessages.hidden = true;
}

// Places li in the room's order: before the first shown message with a
// higher seq, or the first own message still waiting for its ack (it will
// be newer), else at the end. Notices keep their place.
function place(li, seq) {
  if (Number.isInteger(seq)) {
    li.dataset.seq = String(seq);
    for (const other of ui.list.children) {
      const later = other.dataset.seq ? Number(other.dataset.seq) > seq : other.classList.contains('pending');
      if (later) {
        ui.list.insertBefore(li, other);
        return other.classList.contains('pending');
      }
    }
  }
  ui.list.append(li);
  return true;
}

// Shows li, following the conversation unless the reader scrolled up.
function append(li, { own = false, seq } = {}) {
  const follow = own || isAtBottom();
  const atEnd = place(li, seq);
  if (!atEnd) return; // an older message filled in above
  if (follow) {
    scrollToBottom();
  } else {
    unseen++;
    ui.newMessages.textContent = unseen === 1 ? '1 new message ↓' : `${unseen} new messages ↓`;
    ui.newMessages.hidden = false;
  }
}

function announce(text) {
  const p = document.createElement('p');
  p.textContent = text;
  ui.announcer.append(p);
  while (ui.announcer.childElementCount > ANNOUNCE_KEEP) ui.announcer.firstElementChild.remove();
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function nameElement(who, className = 'from') {
  const span = el('span', `${className} name-color`, who);
  span.style.setProperty('--hue', String(nameHue(who)));
  return span;
}

function timeElement(date) {
  const t = el('time', 'time', formatClock(date));
  if (!Number.isNaN(date.getTime())) {
    t.dateTime = date.toISOString();
    t.title = date.toLocaleString();
  }
  return t;
}

function messageElement({ from, text, date, own, privateTo }) {
  const li = el('li', own ? 'message own' : 'message');
  const meta = el('p', 'meta');
  meta.append(nameElement(from));
  if (own) meta.append(el('span', 'you', '(you)'));
  if (privateTo !== undefined) {
    li.classList.add('private');
    meta.append(el('span', 'private-label', own ? `private to ${privateTo}` : 'private'));
  }
  meta.append(' ', timeElement(date));
  li.append(meta, el('p', 'text', text));
  return li;
}

function systemLine(text, kind = 'info', { speak = true } = {}) {
  const li = el('li', `system ${kind}`);
  li.append(el('p', 'text', text));
  append(li);
  if (speak) announce(text);
}

function showIncoming(msg, { fromHistory = false } = {}) {
  const from = typeof msg.from === 'string' ? msg.from : '?';
  // A message this page sent whose ack was lost comes back in history:
  // it is the pending one, not a new one.
  const own = typeof msg.clientMsgId === 'string' && ownElements.get(msg.clientMsgId);
  if (own) {
    own.dataset.id = msg.id;
    return;
  }
  const li = messageElement({ from, text: msg.text, date: new Date(msg.sentAt), own: false });
  if (typeof msg.id === 'string') li.dataset.id = msg.id;
  append(li, { seq: msg.seq });
  if (!fromHistory) announce(`${from}: ${msg.text}`);
  clearTyping(from);
}

// Own messages appear at once, pending until the server acks them.
const ownElements = new Map(); // clientMsgId -> li
function showOwn(item) {
  const li = messageElement({ from: name, text: item.text, date: new Date(), own: true,
    privateTo: item.kind === 'direct' ? item.to : undefined });
  li.dataset.clientMsgId = item.clientMsgId;
  ownElements.set(item.clientMsgId, li);
  markOwn(item);
  append(li, { own: true });
}

function markOwn(item) {
  const li = ownElements.get(item.clientMsgId);
  if (!li) return;
  const pending = item.status === 'pending' || item.status === 'awaiting';
  li.classList.toggle('pending', pending);
  li.classList.toggle('undelivered', item.status === 'refused');
  li.querySelector('.delivery')?.remove();
  if (pending) {
    li.querySelector('.meta').append(el('span', 'delivery',
      client && client.state === ONLINE ? 'sending…' : 'waiting for the connection…'));
  } else if (item.status === 'refused') {
    li.querySelector('.meta').append(el('span', 'delivery', `not sent: ${item.reason ?? 'refused'}`));
  }
  if (item.status === 'sent') {
    if (item.serverId) li.dataset.id = item.serverId;
    if (Number.isInteger(item.seq)) li.dataset.seq = String(item.seq);
    ownElements.delete(item.clientMsgId);
  }
}

// ---- typing --------------------------------------------------------------------

const typingNames = new Map(); // name -> timer
function showTyping(from) {
  if (from === name) return;
  clearTimeout(typingNames.get(from));
  typingNames.set(from, setTimeout(() => clearTyping(from), TYPING_SHOWN));
  renderTyping();
}

function clearTyping(from) {
  if (!typingNames.has(from)) return;
  clearTimeout(typingNames.get(from));
  typingNames.delete(from);
  renderTyping();
}

function renderTyping() {
  ui.typing.textContent = typingLine([...typingNames.keys()]);
}

// ---- people --------------------------------------------------------------------

function countText(n) {
  return `${n} online`;
}

// The online list: set by "who" after each connect, then kept up to date
// from the joined, left and renamed notices, with no request per notice.
const people = { names: [], count: 0 };

function showMembers({ members, count }) {
  people.names = members.map((m) => m.name);
  people.count = count;
  renderPeople();
}

function updatePeople(count, change) {
  people.count = count ?? people.count;
  change(people.names);
  // As the server orders "who": case-insensitively, then exactly.
  const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  people.names.sort((a, b) => cmp(a.toLowerCase(), b.toLowerCase()) || cmp(a, b));
  renderPeople();
}

function renderPeople() {
  const { names, count } = people;
  ui.onlineCount.textContent = countText(count);
  ui.onlineCountToggle.textContent = countText(count);
  const items = names.map((who) => {
    const li = document.createElement('li');
    if (who === name) {
      li.append(nameElement(who, 'member'), ' ', el('span', 'you', '(you)'));
      return li;
    }
    const b = el('button', 'member-button');
    b.type = 'button';
    b.append(nameElement(who, 'member'));
    b.setAttribute('aria-label', `Write to ${who} privately`);
    b.addEventListener('click', () => setDirect(who));
    li.append(b);
    return li;
  });
  ui.peopleList.replaceChildren(...items);
}

function setDirect(to) {
  dmTo = to;
  ui.dmName.textContent = to ?? '';
  ui.dmTarget.hidden = to === null;
  ui.input.placeholder = to === null ? 'Write a message…' : `Write to ${to} privately…`;
  ui.people.classList.remove('open');
  ui.peopleToggle.setAttribute('aria-expanded', 'false');
  ui.input.focus();
}

ui.dmCancel.addEventListener('click', () => setDirect(null));

ui.peopleToggle.addEventListener('click', () => {
  const open = ui.people.classList.toggle('open');
  ui.peopleToggle.setAttribute('aria-expanded', String(open));
  if (open) ui.peopleList.querySelector('button')?.focus();
});

// ---- composing -----------------------------------------------------------------

function sendText(text) {
  const item = dmTo === null ? client.send(text) : client.sendDirect(dmTo, text);
  showOwn(item);
}

function updateCounter() {
  const n = codePointLength(ui.input.value);
  const over = n > MAX_TEXT;
  ui.counter.textContent = n >= COUNTER_FROM ? `${n} / ${MAX_TEXT}` : '';
  ui.counter.classList.toggle('over', over);
  ui.input.setAttribute('aria-invalid', String(over));
  if (!over && ui.hint.dataset.code === 'text_too_long') setHint(null);
}

function setHint(problem) {
  ui.hintText.textContent = problem ? problem.message : '';
  if (problem) ui.hint.dataset.code = problem.code;
  else delete ui.hint.dataset.code;
}

function submitMessage() {
  if (!client) return;
  // Blank lines and spaces around the message are not part of it.
  const text = ui.input.value.trim();
  const problem = checkText(text);
  setHint(problem);
  if (problem) {
    ui.input.focus();
    return;
  }
  sendText(text);
  ui.input.value = '';
  updateCounter();
  ui.input.focus();
}

ui.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  submitMessage();
});

ui.input.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    submitMessage();
  } else if (ev.key === 'Escape' && dmTo !== null) {
    setDirect(null);
  }
});

ui.input.addEventListener('input', () => {
  if (ui.hint.dataset.code === 'empty_text') setHint(null);
  updateCounter();
  if (client && ui.input.value.trim() !== '') client.typing();
});

// ---- scrolling -------------------------------------------------------------------

ui.log.addEventListener('scroll', () => {
  if (isAtBottom()) {
    unseen = 0;
    ui.newMessages.hidden = true;
  }
});

ui.newMessages.addEventListener('click', () => {
  scrollToBottom();
  ui.input.focus();
});

ui.loadOlder.addEventListener('click', () => {
  if (client && olderCursor !== null) client.loadBefore(olderCursor);
});

// ---- connection state ------------------------------------------------------------

const STATE_TEXT = {
  [CONNECTING]: 'Connecting…',
  [ONLINE]: 'Online',
  [RECONNECTING]: 'Reconnecting…',
  [OFFLINE]: 'Offline',
};

function showState({ state, reason, delay, message }) {
  ui.status.dataset.state = state;
  let text = STATE_TEXT[state] ?? state;
  if (state === RECONNECTING && delay > 1000) {
    text = `Reconnecting in ${Math.round(delay / 1000)} s…`;
  } else if (state === OFFLINE && reason === 'network') {
    text = 'Offline: no network';
  } else if (state === OFFLINE && reason === 'unreachable') {
    text = 'Offline: the chat server cannot be reached';
  } else if (state === OFFLINE && reason === 'no-name') {
    text = 'Not connected: choose a name';
  } else if (state === OFFLINE && reason === 'signed-out') {
    text = message ? `Not connected: ${message}` : 'Not connected: sign in';
  } else if (state === OFFLINE && message) {
    text = `Offline: ${message}`;
  }
  ui.statusText.textContent = text;
  ui.retry.hidden = state !== OFFLINE || reason === 'network' || reason === 'no-name' || reason === 'signed-out';
  if (client) for (const item of client.pending) markOwn(item);
}

ui.retry.addEventListener('click', () => {
  if (client) client.start();
  else location.reload(); // the configuration could not be loaded
});

// ---- name --------------------------------------------------------------------------

function showName() {
  if (session) {
    // Signed in, the name is the account's: the button signs in or out.
    ui.nameLabel.textContent = session.signedIn ? `${name} · Sign out` : 'Sign in';
    ui.changeName.querySelector('.visually-hidden').textContent = session.signedIn ? `Signed in as ${name}. ` : '';
    ui.changeName.removeAttribute('aria-haspopup');
    return;
  }
  ui.nameLabel.textContent = name || 'Choose a name';
}

function openNameDialog() {
  ui.nameInput.value = name;
  ui.nameError.textContent = '';
  ui.nameCancel.hidden = !name; // the first time, a name is needed
  ui.dialog.showModal();
  ui.nameInput.focus();
  ui.nameInput.select();
}

ui.changeName.addEventListener('click', () => {
  if (!session) {
    openNameDialog();
  } else if (session.signedIn) {
    session.signOut();
  } else {
    session.signIn().catch((err) => systemLine(`Could not sign in: ${err.message}`, 'error'));
  }
});

ui.dialog.addEventListener('cancel', (ev) => {
  if (!name) ev.preventDefault(); // Escape cannot skip the first choice
});

ui.dialog.addEventListener('close', () => {
  ui.input.focus();
});

ui.nameCancel.addEventListener('click', () => ui.dialog.close());

ui.nameForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const { name: chosen, error } = checkName(ui.nameInput.value);
  if (error) {
    ui.nameError.textContent = error;
    ui.nameInput.setAttribute('aria-invalid', 'true');
    ui.nameInput.focus();
    return;
  }
  ui.nameInput.removeAttribute('aria-invalid');
  const changed = chosen !== name;
  const old = name;
  name = chosen;
  saveName(name);
  showName();
  ui.dialog.close();
  if (!client && pendingConfig) {
    connect(pendingConfig);
  } else if (changed && old) {
    // Renamed without reconnecting; "renamed" comes back to every member.
    client.setName(name);
    client.rename(name);
  }
});

// ---- room --------------------------------------------------------------------------

function showRoom() {
  ui.room.textContent = `#${room.room}`;
  document.title = `#${room.room} · Chat`;
  rememberRoom(room.room);
  if (room.invalid !== null) {
    systemLine(`"${room.invalid}" is not a room name (lowercase letters, digits and -, at most 32); you are in #${room.room}.`, 'error');
  }
}

ui.roomForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const raw = ui.roomInput.value.trim().toLowerCase();
  const next = roomFromURL(`http://x/#${encodeURIComponent(raw)}`);
  if (raw === '' || next.invalid !== null) {
    ui.roomError.textContent = 'A room name has lowercase letters, digits and -, at most 32.';
    ui.roomInput.setAttribute('aria-invalid', 'true');
    return;
  }
  ui.roomError.textContent = '';
  ui.roomInput.removeAttribute('aria-invalid');
  ui.roomInput.value = '';
  location.hash = next.room; // hashchange switches
});

// Forgets what the message list shows: on a room switch, and when the
// room's history starts again.
function clearRoomView() {
  ui.list.replaceChildren();
  ownElements.clear();
  olderCursor = null;
  ui.loadOlder.hidden = true;
}

window.addEventListener('hashchange', () => {
  const next = roomFromURL(location.href);
  if (next.room === room.room && next.invalid === room.invalid) return;
  room = next;
  clearRoomView();
  typingNames.clear();
  renderTyping();
  setDirect(null);
  showRoom();
  client?.setRoom(room.room);
  announce(`You are in #${room.room}.`);
});

// ---- start -------------------------------------------------------------------------

function wire(c) {
  c.addEventListener('state', (ev) => showState(ev.detail));
  c.addEventListener('message', (ev) => showIncoming(ev.detail));
  c.addEventListener('history', (ev) => {
    const { messages, next, kind } = ev.detail;
    const keep = ui.log.scrollHeight - ui.log.scrollTop;
    for (const m of messages) showIncoming(m, { fromHistory: true });
    if (kind === 'before') {
      // Older messages came in above: keep the reader where they were.
      ui.log.scrollTop = ui.log.scrollHeight - keep;
    }
    if (kind !== 'since') {
      // A backward page (the latest on joining, or older ones) says
      // whether older messages remain.
      olderCursor = next && Number.isInteger(next.before) ? next.before : null;
      ui.loadOlder.hidden = olderCursor === null;
    }
  });
  c.addEventListener('epoch', () => {
    // The server's history started again (its store is new): the room is
    // shown anew from its latest page, which the client asks for. What this
    // page is still sending stays (its outbox goes to the new history).
    const sending = [...ownElements.values()];
    clearRoomView();
    for (const li of sending) {
      ownElements.set(li.dataset.clientMsgId, li);
      ui.list.append(li);
    }
    systemLine('The chat server started a new history for this room: showing it anew.');
  });
  c.addEventListener('sent', (ev) => markOwn(ev.detail));
  c.addEventListener('ack', (ev) => markOwn(ev.detail.item));
  c.addEventListener('refused', (ev) => {
    const { item, code, message } = ev.detail;
    item.reason = code === 'no_such_member' ? `${item.to} is not in this room` : message;
    markOwn(item);
    systemLine(`Not sent (${code}): ${item.reason}`, 'error');
  });
  let slowDownShown = 0;
  c.addEventListener('ratelimited', (ev) => {
    // Once per hold: every message of a burst may be refused.
    if (Date.now() - slowDownShown < ev.detail.retryAfterMs) return;
    slowDownShown = Date.now();
    const s = Math.max(1, Math.ceil(ev.detail.retryAfterMs / 1000));
    systemLine(`You are sending too fast: your messages wait ${s} s and go out in order.`, 'info');
  });
  c.addEventListener('servererror', (ev) => {
    const { code, message } = ev.detail;
    systemLine(`The server refused a message (${code}): ${message}`, 'error');
  });
  c.addEventListener('members', (ev) => showMembers(ev.detail));
  c.addEventListener('joined', (ev) => {
    const { name: who, count } = ev.detail;
    systemLine(`${who} joined (${countText(count)}).`, 'presence');
    updatePeople(count, (names) => { if (!names.includes(who)) names.push(who); });
  });
  c.addEventListener('left', (ev) => {
    const { name: who, count, stillHere } = ev.detail;
    systemLine(`${who} left (${countText(count)}).`, 'presence');
    clearTyping(who);
    updatePeople(count, (names) => {
      if (!stillHere && names.includes(who)) names.splice(names.indexOf(who), 1);
    });
  });
  c.addEventListener('renamed', (ev) => {
    const { from, name: to } = ev.detail;
    systemLine(to === name && from !== name ? `You are now ${to}.` : `${from} is now ${to}.`, 'presence');
    clearTyping(from);
    updatePeople(null, (names) => {
      if (names.includes(from)) names.splice(names.indexOf(from), 1);
      if (!names.includes(to)) names.push(to);
    });
  });
  c.addEventListener('typing', (ev) => showTyping(String(ev.detail.from)));
  c.addEventListener('direct', (ev) => {
    const m = ev.detail;
    const li = messageElement({ from: m.from, text: m.text, date: new Date(m.sentAt), own: false, privateTo: m.to });
    li.dataset.id = m.id;
    append(li);
    announce(`Private message from ${m.from}: ${m.text}`);
    clearTyping(m.from);
  });
}

async function connect(cfg) {
  showState({ state: CONNECTING });
  const token = session ? () => session.token() : null;
  client = new ChatClient({ url: cfg.websocketUrl, name: session ? '' : name, room: room.room, token });
  wire(client);
  client.start();
}

// With sign-in, the page finishes a sign-in the issuer sent it back from,
// or waits for the person to sign in.
async function startSignedIn(cfg) {
  session = new Session(cfg.auth);
  session.addEventListener('signedout', () => {
    client?.stop();
    client = null;
    name = '';
    showName();
    showState({ state: OFFLINE, reason: 'signed-out' });
  });
  try {
    await session.completeSignIn();
  } catch (err) {
    systemLine(err.message, 'error');
  }
  name = session.name;
  showName();
  if (session.signedIn) {
    connect(cfg);
  } else {
    showState({ state: OFFLINE, reason: 'signed-out' });
  }
}

async function start() {
  showName();
  showRoom();
  updateCounter();
  let cfg;
  try {
    cfg = await loadConfig();
  } catch (err) {
    showState({ state: OFFLINE, message: 'the chat configuration could not be loaded' });
    systemLine(`Could not load the configuration: ${err.message}`, 'error');
    return;
  }
  if (cfg.auth) {
    await startSignedIn(cfg);
  } else if (name) {
    connect(cfg);
  } else {
    showState({ state: OFFLINE, reason: 'no-name' });
    pendingConfig = cfg;
    openNameDialog();
  }
}

let pendingConfig = null; // the configuration, until a name is chosen

start();
