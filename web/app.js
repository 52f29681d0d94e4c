// The chat page: wires the DOM to a ChatClient. Every piece of text that
// comes from the network or the person is put in the page with textContent,
// never as HTML.

import { ChatClient, CONNECTING, ONLINE, RECONNECTING, OFFLINE } from './client.js';
import { MAX_TEXT, checkName, checkText, codePointLength, formatClock, roomFromURL } from './text.js';

const NAME_KEY = 'chat.name';
const COUNTER_FROM = MAX_TEXT - 200; // show the counter this close to the limit
const ANNOUNCE_KEEP = 5; // lines kept in the live region

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
  newMessages: $('new-messages'),
  announcer: $('announcer'),
  composer: $('composer'),
  input: $('message-input'),
  hint: $('composer-hint'),
  hintText: $('hint-text'),
  counter: $('counter'),
  dialog: $('name-dialog'),
  nameForm: $('name-form'),
  nameInput: $('name-input'),
  nameError: $('name-error'),
  nameCancel: $('name-cancel'),
};

let client = null;
let name = loadName();
let room = roomFromURL(location.href);
let unseen = 0;

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

// ---- configuration -----------------------------------------------------------

// The WebSocket URL: ?ws= wins, else config.json next to the page.
async function socketBase() {
  const override = new URLSearchParams(location.search).get('ws');
  if (override) return override;
  const res = await fetch(new URL('config.json', document.baseURI), { cache: 'no-cache' });
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  const cfg = await res.json();
  if (typeof cfg.websocketUrl !== 'string' || cfg.websocketUrl === '') {
    throw new Error('config.json has no websocketUrl');
  }
  return cfg.websocketUrl;
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

// Appends li, following the conversation unless the reader scrolled up.
function append(li, { own = false } = {}) {
  const follow = own || isAtBottom();
  ui.list.append(li);
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

function timeElement(date) {
  const t = el('time', 'time', formatClock(date));
  if (!Number.isNaN(date.getTime())) {
    t.dateTime = date.toISOString();
    t.title = date.toLocaleString();
  }
  return t;
}

function messageElement({ from, text, date, own }) {
  const li = el('li', own ? 'message own' : 'message');
  const meta = el('p', 'meta');
  meta.append(el('span', 'from', from));
  if (own) meta.append(el('span', 'you', '(you)'));
  meta.append(' ', timeElement(date));
  li.append(meta, el('p', 'text', text));
  return li;
}

function systemLine(text, kind = 'info') {
  const li = el('li', `system ${kind}`);
  li.append(el('p', 'text', text));
  append(li);
  announce(text);
}

function showIncoming(msg) {
  const from = typeof msg.from === 'string' ? msg.from : '?';
  const li = messageElement({ from, text: msg.text, date: new Date(msg.sentAt), own: false });
  if (typeof msg.id === 'string') li.dataset.id = msg.id;
  append(li);
  announce(`${from}: ${msg.text}`);
}

// Own messages appear at once; the server never echoes them back.
const ownElements = new Map(); // outbox item id -> li
function showOwn(item) {
  const li = messageElement({ from: name, text: item.text, date: new Date(), own: true });
  li.dataset.outboxId = String(item.id);
  ownElements.set(item.id, li);
  markOwn(item);
  append(li, { own: true });
}

function markOwn(item) {
  const li = ownElements.get(item.id);
  if (!li) return;
  li.classList.toggle('pending', item.status === 'pending');
  li.classList.toggle('undelivered', item.status === 'undelivered');
  li.querySelector('.delivery')?.remove();
  if (item.status === 'pending') {
    li.querySelector('.meta').append(el('span', 'delivery', 'waiting for the connection…'));
  } else if (item.status === 'undelivered') {
    const note = el('span', 'delivery', 'not delivered: the connection dropped. ');
    const again = el('button', 'link-button', 'Send again');
    again.type = 'button';
    again.addEventListener('click', () => {
      li.remove();
      ownElements.delete(item.id);
      sendText(item.text);
    });
    note.append(again);
    li.querySelector('.meta').append(note);
  } else {
    ownElements.delete(item.id); // sent: nothing more will change
  }
}

// ---- composing -----------------------------------------------------------------

function sendText(text) {
  const item = client.send(text);
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
  }
});

ui.input.addEventListener('input', () => {
  if (ui.hint.dataset.code === 'empty_text') setHint(null);
  updateCounter();
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
  } else if (state === OFFLINE && message) {
    text = `Offline: ${message}`;
  }
  ui.statusText.textContent = text;
  ui.retry.hidden = state !== OFFLINE || reason === 'network' || reason === 'no-name';
}

ui.retry.addEventListener('click', () => {
  if (client) client.start();
  else connect();
});

// ---- name --------------------------------------------------------------------------

function showName() {
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

ui.changeName.addEventListener('click', openNameDialog);

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
  name = chosen;
  saveName(name);
  showName();
  ui.dialog.close();
  if (!client) {
    connect();
  } else if (changed) {
    systemLine(`You are now ${name}.`);
    client.setName(name);
  }
});

// ---- room --------------------------------------------------------------------------

function showRoom() {
  ui.room.textContent = `#${room.room}`;
  document.title = `#${room.room} · Chat`;
  if (room.invalid !== null) {
    systemLine(`"${room.invalid}" is not a room name (lowercase letters, digits and -, at most 32); you are in #${room.room}.`, 'error');
  }
}

window.addEventListener('hashchange', () => {
  const next = roomFromURL(location.href);
  if (next.room === room.room && next.invalid === room.invalid) return;
  room = next;
  ui.list.replaceChildren();
  ownElements.clear();
  showRoom();
  client?.setRoom(room.room);
});

// ---- start -------------------------------------------------------------------------

async function connect() {
  showState({ state: CONNECTING });
  let base;
  try {
    base = await socketBase();
  } catch (err) {
    showState({ state: OFFLINE, message: 'the chat configuration could not be loaded' });
    systemLine(`Could not load the configuration: ${err.message}`, 'error');
    return;
  }
  client = new ChatClient({ url: base, name, room: room.room });
  client.addEventListener('state', (ev) => showState(ev.detail));
  client.addEventListener('message', (ev) => showIncoming(ev.detail));
  client.addEventListener('sent', (ev) => markOwn(ev.detail));
  client.addEventListener('undelivered', (ev) => markOwn(ev.detail));
  client.addEventListener('servererror', (ev) => {
    const { code, message } = ev.detail;
    systemLine(`The server refused a message (${code}): ${message}`, 'error');
  });
  client.start();
}

showName();
showRoom();
updateCounter();
if (name) {
  connect();
} else {
  showState({ state: OFFLINE, reason: 'no-name' });
  openNameDialog();
}
