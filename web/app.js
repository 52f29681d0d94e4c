// The chat page: wires the DOM to a ChatClient. Every piece of text that
// comes from the network or the person is put in the page with textContent,
// never as HTML.
//
// The page shows views: the room, and one thread per private conversation,
// each with its own message list; one is shown at a time, the others count
// what is unread. People are known by their user ID: "(you)", the online
// list and the threads follow IDs, names are only shown.

import { Session } from './auth.js';
import { installChanges } from './changes.js';
import {
  ChatClient, CONNECTING, ONLINE, RECONNECTING, OFFLINE, conversationID, conversationPeer, isSecret, newSecret,
} from './client.js';
import {
  MAX_TEXT, checkName, checkText, codePointLength, dayLabel, formatClock, fullTime, grouped, nameHue, roomFromURL,
  mentions, sameDay, segments, typingLine,
} from './text.js';

const NAME_KEY = 'chat.name';
const SECRET_KEY = 'chat.secret';
const ROOMS_KEY = 'chat.rooms';
const THREADS_KEY = 'chat.threads';
const NOTIFY_KEY = 'chat.notify'; // '1': the person asked for desktop notifications
const READ_KEY = 'chat.read'; // {room: the highest seq of the room the person has seen}
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
  nameStatus: $('name-status'),
  threads: $('threads'),
  threadList: $('thread-list'),
  threadRoom: $('thread-room'),
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
  roomList: $('room-list'),
  nameInitial: $('name-initial'),
  people: $('people'),
  peopleList: $('people-list'),
  onlineCount: $('online-count'),
  peopleToggle: $('people-toggle'),
  mentionList: $('mention-list'),
  notify: $('notify'),
  signOutDialog: $('signout-dialog'),
  signOutCancel: $('signout-cancel'),
  signOutConfirm: $('signout-confirm'),
  hintSignIn: $('hint-sign-in'),
  notifyState: $('notify-state'),
  onlineCountToggle: $('online-count-toggle'),
};

let client = null;
let chosenName = loadName(); // the name the person chose (kept in localStorage)
// Who this page is: the user ID and the name the server gave it (who's
// you). The name may differ from the chosen one ("Ann (2)").
const me = { userId: null, name: chosenName };
let renaming = null; // the name a rename asked for, until renamed or refused
let room = roomFromURL(location.href);
let unseen = 0;
let olderCursor = null; // before of the room's next "load older" page
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

// The person's secret: made once, kept in this browser. Whoever holds it is
// this user for the server; it goes nowhere but the handshake.
function loadSecret() {
  try {
    const stored = localStorage.getItem(SECRET_KEY);
    if (isSecret(stored)) return stored;
    const fresh = newSecret();
    localStorage.setItem(SECRET_KEY, fresh);
    return fresh;
  } catch {
    return newSecret(); // storage disabled: the same person for this visit only
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

// The other recent rooms' unread counts, as the server last counted them
// ({room: {count, more}}), asked after each connect and once a minute while
// the page is visible.
let otherRooms = {};
const UNREAD_EVERY = 60 * 1000;

function askUnread() {
  if (!client || client.state !== ONLINE) return;
  const rooms = {};
  for (const r of recentRooms()) {
    if (r !== room.room) rooms[r] = storedRoomRead(r) ?? 0;
  }
  client.unread(rooms);
}

setInterval(() => {
  if (document.visibilityState === 'visible') askUnread();
}, UNREAD_EVERY);

function rememberRoom(r) {
  const list = [r, ...recentRooms().filter((x) => x !== r)].slice(0, RECENT_ROOMS);
  try {
    localStorage.setItem(ROOMS_KEY, JSON.stringify(list));
  } catch { /* not kept */ }
  ui.recentRooms.replaceChildren(...list.map((x) => Object.assign(document.createElement('option'), { value: x })));
  renderRooms();
}

// The rooms joined or visited lately, the current one marked, with its
// unread count (the page follows one room at a time: the others' counts
// are not known).
function renderRooms() {
  const items = recentRooms().map((r) => {
    const a = el('a', 'room-link');
    a.href = `#${r}`;
    a.append(el('span', 'room-link-name', `#${r}`));
    // The current room's count is the page's own; the others' come from
    // the server's "unread" answer (its threads count on their own buttons).
    const current = r === room.room;
    if (current) a.setAttribute('aria-current', 'page');
    const n = current ? roomView.unread : (otherRooms[r]?.count ?? 0);
    if (n > 0) {
      const more = !current && otherRooms[r]?.more;
      const badge = el('span', 'badge', more ? `${n}+` : String(n));
      badge.append(el('span', 'visually-hidden', n === 1 && !more ? ' unread message' : ' unread messages'));
      a.append(' ', badge);
    }
    const li = el('li');
    li.append(a);
    return li;
  });
  ui.roomList.replaceChildren(...items);
}

// The private conversations of each room, so that a reload shows their
// threads again: {room: [{id, with, name, read}]}, read being the highest
// seq the person has seen.
function storedThreads() {
  try {
    const all = JSON.parse(localStorage.getItem(THREADS_KEY) ?? '{}');
    return all && typeof all === 'object' && !Array.isArray(all) ? all : {};
  } catch {
    return {};
  }
}

function saveThreads() {
  const all = storedThreads();
  all[room.room] = [...threads.values()].map((v) => ({ id: v.conversation, with: v.with, name: v.name, read: v.read }));
  if (all[room.room].length === 0) delete all[room.room];
  try {
    localStorage.setItem(THREADS_KEY, JSON.stringify(all));
  } catch { /* not kept */ }
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

// ---- views: the room and the private threads ------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A view: its message list, what is unread, who types there. A thread also
// has the person (with: their user ID, name: as last known) and read, the
// highest seq the person has seen in it.
// sinceRead is read as it was when the view was opened: the "new since you
// left" line goes above the first message after it (none if null).
function newView(conversation, list, button) {
  return { conversation, list, button, unread: 0, maxSeq: 0, typing: new Map(), with: null, name: '', read: 0, sinceRead: null };
}

const roomView = newView(null, ui.list, ui.threadRoom);
const threads = new Map(); // conversation ID -> view
let active = roomView;
roomView.read = storedRoomRead(room.room) ?? 0;
roomView.sinceRead = storedRoomRead(room.room);

function viewOf(conversation) {
  return conversation ? threads.get(conversation) ?? null : roomView;
}

function threadName(view) {
  return people.byId.get(view.with)?.name ?? (view.name || 'someone');
}

// The thread of a conversation, made if new: a list in the log and a
// button in the conversations bar.
function ensureThread(conversation, { name = '', read = 0 } = {}) {
  let view = threads.get(conversation);
  if (view) return view;
  const list = el('ol', 'messages thread');
  list.hidden = true;
  list.dataset.conversation = conversation;
  ui.log.append(list);
  const button = el('button', 'thread-button');
  button.type = 'button';
  button.dataset.conversation = conversation;
  view = newView(conversation, list, button);
  view.with = me.userId ? conversationPeer(conversation, me.userId) : null;
  view.name = name;
  view.read = Number.isInteger(read) ? read : 0;
  view.sinceRead = view.read > 0 ? view.read : null;
  button.addEventListener('click', () => activate(view));
  const li = el('li');
  li.append(button);
  ui.threadList.append(li);
  threads.set(conversation, view);
  ui.threads.hidden = false;
  renderThreadButton(view);
  saveThreads();
  return view;
}

function forgetThread(conversation) {
  const view = threads.get(conversation);
  if (!view) return;
  if (active === view) activate(roomView);
  view.list.remove();
  view.button.closest('li').remove();
  threads.delete(conversation);
  ui.threads.hidden = threads.size === 0;
  saveThreads();
}

function renderThreadButton(view) {
  const label = view === roomView ? `#${room.room}` : threadName(view);
  const parts = [el('span', 'thread-name', label)];
  if (view.unread > 0) {
    const badge = el('span', 'badge', String(view.unread));
    badge.append(el('span', 'visually-hidden', view.unread === 1 ? ' unread message' : ' unread messages'));
    parts.push(' ', badge);
  }
  view.button.replaceChildren(...parts);
  renderTitle();
  if (view !== roomView) view.button.title = `Private conversation with ${label}`;
}

// The tab's title: the unread count of every view, then the room.
function totalUnread() {
  let n = roomView.unread;
  for (const v of threads.values()) n += v.unread;
  return n;
}

function renderTitle() {
  const n = totalUnread();
  document.title = n > 0 ? `(${n}) #${room.room} · Chat` : `#${room.room} · Chat`;
  renderRooms();
}

// What the person has seen of a view: kept for threads (storedThreads) and
// for the room (chat.read).
function saveRead(view) {
  if (view !== roomView) {
    saveThreads();
    return;
  }
  try {
    const all = JSON.parse(localStorage.getItem(READ_KEY) ?? '{}');
    const next = all && typeof all === 'object' && !Array.isArray(all) ? all : {};
    next[room.room] = view.read;
    localStorage.setItem(READ_KEY, JSON.stringify(next));
  } catch { /* not kept */ }
}

function storedRoomRead(r) {
  try {
    const v = JSON.parse(localStorage.getItem(READ_KEY) ?? '{}')?.[r];
    return Number.isInteger(v) && v > 0 ? v : null;
  } catch {
    return null;
  }
}

// The shown view is seen: its count stops, its messages are read.
function markSeen(view) {
  if (document.hidden || view !== active) return;
  view.unread = 0;
  if (view.maxSeq > view.read) {
    view.read = view.maxSeq;
    saveRead(view);
  }
  renderThreadButton(view);
}

document.addEventListener('visibilitychange', () => {
  markSeen(active);
  relabelDays();
});

// "Today" becomes "Yesterday" at midnight: the separators are labelled
// again then, and whenever the tab shows again.
function relabelDays() {
  for (const sep of document.querySelectorAll('#log .day-separator')) {
    const at = Number(sep.nextElementSibling?.dataset.at);
    if (at) sep.replaceChildren(el('span', '', dayLabel(new Date(at), new Date())));
  }
}

function relabelAtMidnight() {
  const now = new Date();
  const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 1);
  setTimeout(() => {
    relabelDays();
    relabelAtMidnight();
  }, next - now);
}
relabelAtMidnight();

// Shows view: its list, its typing line, the composer's target.
function activate(view) {
  const changed = active !== view;
  active = view;
  for (const v of [roomView, ...threads.values()]) {
    v.list.hidden = v !== view;
    if (v === view) v.button.setAttribute('aria-current', 'true');
    else v.button.removeAttribute('aria-current');
  }
  markSeen(view);
  renderThreadButton(view);
  const name = view === roomView ? null : threadName(view);
  ui.dmName.textContent = name ?? '';
  ui.dmTarget.hidden = name === null;
  ui.input.placeholder = name === null ? 'Write a message…' : `Write to ${name} privately…`;
  ui.log.setAttribute('aria-label', name === null ? `Messages in #${room.room}` : `Private messages with ${name}`);
  ui.loadOlder.hidden = view !== roomView || olderCursor === null;
  ui.people.classList.remove('open');
  ui.peopleToggle.setAttribute('aria-expanded', 'false');
  renderTyping();
  scrollToBottom();
  if (changed) announce(name === null ? `Back in #${room.room}.` : `Private conversation with ${name}.`);
}

ui.threadRoom.addEventListener('click', () => activate(roomView));

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

// Places li in its list's order: before the first shown message with a
// higher seq, or the first own message still waiting for its ack (it will
// be newer), else at the end. Notices keep their place.
function place(list, li, seq) {
  if (Number.isInteger(seq)) {
    li.dataset.seq = String(seq);
    for (const other of list.children) {
      const later = other.dataset.seq ? Number(other.dataset.seq) > seq : other.classList.contains('pending');
      if (later) {
        // Before the message's day separator, if it has one.
        let at = other;
        while (at.previousElementSibling?.matches('.day-separator, .since-line')) at = at.previousElementSibling;
        list.insertBefore(li, at);
        return other.classList.contains('pending');
      }
    }
  }
  list.append(li);
  return true;
}

// Shows li in view, following the conversation unless the reader scrolled
// up (in the view shown).
// An empty room says so, until its first message.
function renderEmptyRoom() {
  const empty = ui.list.querySelector(':scope > .empty-room');
  if (ui.list.querySelector(':scope > li.message')) {
    empty?.remove();
  } else if (!empty) {
    const li = el('li', 'empty-room');
    li.append(el('p', 'text', `No messages in #${room.room} yet. Say hello!`));
    ui.list.prepend(li);
  }
}

function append(view, li, { own = false, seq } = {}) {
  if (Number.isInteger(seq)) view.maxSeq = Math.max(view.maxSeq, seq);
  if (view === roomView && li.classList.contains('message')) ui.list.querySelector(':scope > .empty-room')?.remove();
  if (view !== active) {
    place(view.list, li, seq);
    decorate(li);
    return;
  }
  const follow = own || isAtBottom();
  const atEnd = place(view.list, li, seq);
  decorate(li);
  if (!atEnd) return; // an older message filled in above
  if (follow) {
    scrollToBottom();
  } else if (li.classList.contains('message')) {
    // Notices (joined, left) are not messages to catch up on.
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

function nameElement(who, className = 'from') {
  const span = el('span', `${className} name-color`, who);
  span.style.setProperty('--hue', String(nameHue(who)));
  return span;
}

// The time of a message: HH:MM in place, the full date on hover and for
// screen readers (which read the hidden text, not the short one).
function timeElements(date) {
  const t = el('time', 'time', formatClock(date));
  if (Number.isNaN(date.getTime())) return [t];
  t.dateTime = date.toISOString();
  t.title = fullTime(date);
  t.setAttribute('aria-hidden', 'true');
  return [t, el('span', 'visually-hidden full-time', fullTime(date))];
}

// A message's text: links and mentions are elements, everything else text
// nodes. No piece of a message is ever parsed as HTML.
function textElement(text) {
  const p = el('p', 'text');
  for (const seg of segments(text)) {
    if (seg.href) {
      const a = el('a', 'link', seg.text);
      a.href = seg.href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      p.append(a);
    } else if (seg.mention) {
      const m = el('span', 'mention', seg.text);
      m.dataset.userId = seg.mention;
      p.append(m);
    } else {
      p.append(seg.text);
    }
  }
  renderMentions(p);
  return p;
}

// Mentions show the person's current name; one of someone not known here
// stays as written (plain text). A message that mentions the reader is
// marked.
function renderMentions(p) {
  let me$ = false;
  for (const m of p.querySelectorAll('.mention')) {
    const id = m.dataset.userId;
    const person = people.byId.get(id) ?? (id === me.userId && me.name ? { name: me.name } : null);
    // Someone not in the room: their last known name, as plain text.
    const name = person?.name ?? knownNames.get(id);
    m.textContent = name ? `@${name}` : `<@${id}>`;
    m.classList.toggle('known', !!person);
    if (id === me.userId && me.userId) me$ = true;
  }
  p.closest('li')?.classList.toggle('mentions-me', me$);
}

function messageElement({ from, fromId, text, date }) {
  const li = el('li', 'message');
  if (fromId) li.dataset.fromId = fromId;
  if (!Number.isNaN(date.getTime())) li.dataset.at = String(date.getTime());
  const meta = el('p', 'meta');
  meta.append(nameElement(from), ' ', ...timeElements(date));
  li.append(meta, textElement(text));
  renderMentions(li.querySelector('.text'));
  markAuthor(li);
  return li;
}

// The messages around li after it took its place: a day separator (a
// line of its own, just above) before the first message of a day, and a
// message grouped under the name of the one before it (the same person, a
// few minutes apart, nothing between).
function decorate(li) {
  decorateOne(li);
  let next = li.nextElementSibling;
  while (next && !next.classList.contains('message')) next = next.nextElementSibling;
  if (next) decorateOne(next);
}

function decorateOne(li) {
  if (!li.classList.contains('message') || !li.dataset.at) return;
  const at = Number(li.dataset.at);
  let prevAt = null;
  for (let o = li.previousElementSibling; o; o = o.previousElementSibling) {
    if (o.classList.contains('message') && o.dataset.at) {
      prevAt = Number(o.dataset.at);
      break;
    }
  }
  const newDay = prevAt === null || !sameDay(new Date(prevAt), new Date(at));
  let sep = li.previousElementSibling?.classList.contains('day-separator') ? li.previousElementSibling : null;
  if (newDay) {
    if (!sep) {
      sep = el('li', 'day-separator');
      li.before(sep);
    }
    sep.replaceChildren(el('span', '', dayLabel(new Date(at), new Date())));
  } else {
    sep?.remove();
  }
  const prev = li.previousElementSibling;
  const prevMsg = !newDay && prev && prev.classList.contains('message') && prev.dataset.at
    ? { fromId: prev.dataset.fromId, at: Number(prev.dataset.at) } : null;
  li.classList.toggle('grouped', grouped(prevMsg, { fromId: li.dataset.fromId, at }));
}

// A message is the person's own when its author is this page's user: on
// any tab, before and after a reload or a rename.
function markAuthor(li) {
  const own = li.classList.contains('pending') || li.dataset.clientMsgId !== undefined
    || (me.userId !== null && li.dataset.fromId === me.userId);
  li.classList.toggle('own', own);
  const you = li.querySelector('.meta .you');
  if (own && !you) li.querySelector('.meta .from').after(' ', el('span', 'you', '(you)'));
  if (!own && you) you.remove();
}

function markAuthors() {
  for (const li of document.querySelectorAll('#log li.message')) markAuthor(li);
}

function systemLine(text, kind = 'info', { speak = true, view = roomView } = {}) {
  const li = el('li', `system ${kind}`);
  li.append(el('p', 'text', text));
  append(view, li);
  if (speak) announce(text);
}

// Shows a message of view (the room's chat message, or a thread's direct
// message), live or from history.
function showIncoming(view, msg, { fromHistory = false } = {}) {
  const from = typeof msg.from === 'string' ? msg.from : '?';
  const fromId = typeof msg.fromId === 'string' ? msg.fromId : '';
  // A message this page sent whose ack was lost comes back in history:
  // it is the pending one, not a new one.
  const pending = typeof msg.clientMsgId === 'string' && ownElements.get(msg.clientMsgId);
  if (pending) {
    pending.dataset.id = msg.id;
    return;
  }
  if (fromId && !knownNames.has(fromId)) knownNames.set(fromId, from);
  const li = messageElement({ from, fromId, text: msg.text, date: new Date(msg.sentAt) });
  if (typeof msg.id === 'string') li.dataset.id = msg.id;
  append(view, li, { seq: msg.seq });
  const own = li.classList.contains('own');
  if (view !== roomView) learnName(view, msg);
  if (fromHistory && !own && view.sinceRead !== null && Number.isInteger(msg.seq) && msg.seq > view.sinceRead
    && !view.list.querySelector('.since-line')) {
    // The first message the person has not seen, coming back.
    const line = el('li', 'since-line');
    line.append(el('span', '', 'New since you left'));
    const sep = li.previousElementSibling;
    view.list.insertBefore(line, sep?.classList.contains('day-separator') ? sep : li);
  }
  const seen = view === active && !document.hidden;
  if (!own && !seen) {
    // Unread: in a thread whatever the person has not seen (kept across
    // reloads), in the room what came live while it was not looked at.
    if (view === roomView ? !fromHistory : Number.isInteger(msg.seq) && msg.seq > view.read) {
      view.unread++;
      renderThreadButton(view);
    }
  } else if (seen && Number.isInteger(msg.seq) && msg.seq > view.read) {
    view.read = msg.seq;
    saveRead(view);
  }
  if (!own && !fromHistory) {
    maybeNotify(view, msg);
    announce(view === roomView ? `${from}: ${msg.text}` : `Private message from ${from}: ${msg.text}`);
  }
  clearTyping(view, fromId);
}

// A thread learns its person's name from their messages.
function learnName(view, msg) {
  const name = msg.fromId === view.with ? msg.from : msg.toId === view.with ? msg.to : null;
  if (typeof name === 'string' && name !== view.name) {
    view.name = name;
    renderThreadButton(view);
    saveThreads();
  }
}

// Own messages appear at once, pending until the server acks them.
const ownElements = new Map(); // clientMsgId -> li
function showOwn(item, view) {
  const li = messageElement({ from: me.name, fromId: me.userId, text: item.text, date: new Date() });
  li.dataset.clientMsgId = item.clientMsgId;
  ownElements.set(item.clientMsgId, li);
  markOwn(item);
  append(view, li, { own: true });
}

function markOwn(item) {
  const li = ownElements.get(item.clientMsgId);
  if (!li) return;
  const pending = item.status === 'pending' || item.status === 'awaiting';
  li.classList.toggle('pending', pending);
  li.classList.toggle('undelivered', item.status === 'refused');
  markAuthor(li);
  li.querySelector('.delivery')?.remove();
  if (pending) {
    li.querySelector('.meta').append(el('span', 'delivery',
      client && client.state === ONLINE ? 'sending…' : 'waiting for the connection…'));
  } else if (item.status === 'refused') {
    li.querySelector('.meta').append(el('span', 'delivery', item.reason ?? 'not sent'));
  }
  if (item.status === 'sent') {
    if (item.serverId) li.dataset.id = item.serverId;
    if (Number.isInteger(item.seq)) li.dataset.seq = String(item.seq);
    ownElements.delete(item.clientMsgId);
  }
}

// ---- typing --------------------------------------------------------------------

// Who types, per view: user ID -> {name, timer}.
function showTyping(view, fromId, name) {
  if (!fromId || fromId === me.userId) return;
  clearTimeout(view.typing.get(fromId)?.timer);
  view.typing.set(fromId, { name, timer: setTimeout(() => clearTyping(view, fromId), TYPING_SHOWN) });
  if (view === active) renderTyping();
}

function clearTyping(view, fromId) {
  const t = view.typing.get(fromId);
  if (!t) return;
  clearTimeout(t.timer);
  view.typing.delete(fromId);
  if (view === active) renderTyping();
}

function clearAllTyping() {
  for (const v of [roomView, ...threads.values()]) {
    for (const t of v.typing.values()) clearTimeout(t.timer);
    v.typing.clear();
  }
  renderTyping();
}

function renderTyping() {
  ui.typing.textContent = typingLine([...active.typing.values()].map((t) => t.name));
}

// ---- people --------------------------------------------------------------------

function countText(n) {
  return `${n} online`;
}

// The online list, one entry per person: set by "who" after each connect,
// then kept up to date from the joined, left and renamed notices (by user
// ID), with no request per notice.
const people = { byId: new Map(), count: 0 };

function showMembers({ members, count }) {
  people.byId = new Map();
  for (const m of Array.isArray(members) ? members : []) {
    if (m && typeof m.userId === 'string') {
      people.byId.set(m.userId, { name: String(m.name ?? ''), connections: m.connections });
      knownNames.set(m.userId, String(m.name ?? ''));
    }
  }
  people.count = Number.isInteger(count) ? count : people.byId.size;
  renderPeople();
}

function renderPeople() {
  ui.onlineCount.textContent = client ? countText(people.count) : 'People';
  ui.onlineCountToggle.textContent = client ? countText(people.count) : 'Rooms';
  // As the server orders "who": case-insensitively, then exactly.
  const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  const sorted = [...people.byId].sort(([, a], [, b]) => cmp(a.name.toLowerCase(), b.name.toLowerCase()) || cmp(a.name, b.name));
  const items = sorted.map(([userId, person]) => {
    const li = document.createElement('li');
    li.dataset.userId = userId;
    if (userId === me.userId) {
      li.append(nameElement(person.name, 'member'), ' ', el('span', 'you', '(you)'));
      return li;
    }
    const b = el('button', 'member-button');
    b.type = 'button';
    b.append(nameElement(person.name, 'member'));
    b.setAttribute('aria-label', `Write to ${person.name} privately`);
    b.addEventListener('click', () => openThread(userId));
    li.append(b);
    return li;
  });
  ui.peopleList.replaceChildren(...items);
  for (const [id, p] of people.byId) knownNames.set(id, p.name);
  renderAllMentions();
  for (const v of threads.values()) renderThreadButton(v);
  if (active !== roomView) ui.dmName.textContent = threadName(active);
}

// Opens the private thread with a person of the online list.
function openThread(userId) {
  if (!client || !me.userId) return;
  const conversation = conversationID(me.userId, userId);
  const view = ensureThread(conversation, { name: people.byId.get(userId)?.name ?? '' });
  view.with = userId;
  client.addConversation(conversation);
  activate(view);
  ui.input.focus();
}

ui.dmCancel.addEventListener('click', () => {
  activate(roomView);
  ui.input.focus();
});

ui.peopleToggle.addEventListener('click', () => {
  const open = ui.people.classList.toggle('open');
  ui.peopleToggle.setAttribute('aria-expanded', String(open));
  if (open) ui.peopleList.querySelector('button')?.focus();
});

// ---- composing -----------------------------------------------------------------

// ---- notifications -----------------------------------------------------------------
//
// Opt-in: the button asks for the browser's permission (a user gesture).
// Then a private message, or a message that mentions the person, arriving
// while the tab is hidden shows a desktop notification.

function notifyWanted() {
  try {
    return localStorage.getItem(NOTIFY_KEY) === '1';
  } catch {
    return false;
  }
}

function renderNotify() {
  const supported = typeof window.Notification === 'function';
  const permission = supported ? Notification.permission : 'unsupported';
  const on = supported && permission === 'granted' && notifyWanted();
  ui.notify.hidden = !supported || permission === 'denied';
  ui.notify.textContent = on ? 'Turn notifications off' : 'Turn notifications on';
  ui.notify.setAttribute('aria-pressed', String(on));
  ui.notifyState.textContent = !supported ? 'This browser cannot show notifications.'
    : permission === 'denied' ? 'Blocked in the browser’s settings for this site.'
      : on ? 'On: mentions and private messages show while this tab is hidden.'
        : 'Off: nothing shows outside this tab.';
}

ui.notify.addEventListener('click', async () => {
  if (typeof window.Notification !== 'function') return;
  if (Notification.permission === 'granted' && notifyWanted()) {
    try { localStorage.setItem(NOTIFY_KEY, '0'); } catch { /* for this visit */ }
    renderNotify();
    return;
  }
  let permission = Notification.permission;
  if (permission !== 'granted') permission = await Notification.requestPermission();
  try { localStorage.setItem(NOTIFY_KEY, permission === 'granted' ? '1' : '0'); } catch { /* for this visit */ }
  renderNotify();
});

// The text of a message as read: mentions with their names.
function readableText(text) {
  return segments(text).map((s) => (s.mention ? `@${people.byId.get(s.mention)?.name ?? knownNames.get(s.mention) ?? 'someone'}` : s.text)).join('');
}

function maybeNotify(view, msg) {
  if (!document.hidden || typeof window.Notification !== 'function' || Notification.permission !== 'granted' || !notifyWanted()) return;
  const isPrivate = view !== roomView;
  if (!isPrivate && !(me.userId && mentions(msg.text).includes(me.userId))) return;
  const from = typeof msg.from === 'string' ? msg.from : 'Someone';
  const title = isPrivate ? `${from} (private)` : `${from} in #${room.room}`;
  try {
    const n = new Notification(title, { body: readableText(msg.text).slice(0, 200), tag: `chat-${msg.id ?? ''}` });
    n.onclick = () => {
      window.focus();
      activate(view);
      n.close?.();
    };
  } catch { /* some browsers allow notifications from a service worker only */ }
}

// ---- mentions ----------------------------------------------------------------------
//
// Typing @ offers the room's people (arrows and Enter or Tab, or the
// mouse). A picked person shows as @Name in the box and goes out as
// <@userId> (web/README.md, "Mentions"): a rename does not break it.

const picked = new Map(); // "@Name" as written in the box -> user ID
let mentionQuery = null; // {start, end} of the @word being completed
let mentionIndex = 0;

// Every name the page has seen, by user ID: a mention of someone not in the
// room shows their last known name, as plain text.
const knownNames = new Map();

function mentionCandidates(query) {
  const q = query.toLowerCase();
  return [...people.byId]
    .filter(([id, p]) => id !== me.userId && p.name.toLowerCase().includes(q))
    .sort(([, a], [, b]) => Number(!a.name.toLowerCase().startsWith(q)) - Number(!b.name.toLowerCase().startsWith(q))
      || a.name.localeCompare(b.name))
    .slice(0, 8);
}

function closeMentions() {
  mentionQuery = null;
  ui.mentionList.hidden = true;
  ui.mentionList.replaceChildren();
  ui.input.removeAttribute('aria-activedescendant');
}

// Looks at the word before the caret: an @word opens the list.
function updateMentions() {
  const caret = ui.input.selectionStart;
  const before = ui.input.value.slice(0, caret);
  const m = /(^|\s)@([^\s@<>]{0,32})$/u.exec(before);
  if (!m || !client) {
    closeMentions();
    return;
  }
  const found = mentionCandidates(m[2]);
  if (found.length === 0) {
    closeMentions();
    return;
  }
  mentionQuery = { start: caret - m[2].length - 1, end: caret };
  mentionIndex = Math.min(mentionIndex, found.length - 1);
  ui.mentionList.replaceChildren(...found.map(([id, p], i) => {
    const li = el('li', 'mention-option');
    li.id = `mention-option-${i}`;
    li.setAttribute('role', 'option');
    li.dataset.userId = id;
    li.append(nameElement(p.name, 'member'));
    li.setAttribute('aria-selected', String(i === mentionIndex));
    // mousedown, not click: the box keeps the focus.
    li.addEventListener('mousedown', (ev) => {
      ev.preventDefault();
      pickMention(id);
    });
    return li;
  }));
  ui.mentionList.hidden = false;
  ui.input.setAttribute('aria-activedescendant', `mention-option-${mentionIndex}`);
}

function moveMention(by) {
  const n = ui.mentionList.childElementCount;
  mentionIndex = (mentionIndex + by + n) % n;
  updateMentions();
}

function pickMention(userId) {
  const person = people.byId.get(userId);
  if (!person || !mentionQuery) return;
  const shown = `@${person.name}`;
  picked.set(shown, userId);
  const v = ui.input.value;
  const after = v.slice(mentionQuery.end);
  const insert = after.startsWith(' ') ? shown : `${shown} `;
  ui.input.value = v.slice(0, mentionQuery.start) + insert + after;
  const caret = mentionQuery.start + insert.length;
  ui.input.setSelectionRange(caret, caret);
  mentionIndex = 0;
  closeMentions();
  ui.input.focus();
}

// The text as sent: every @Name picked in the box becomes <@userId>
// (longest names first, so that "@Ann Lee" wins over "@Ann").
function wireText(text) {
  let out = text;
  for (const shown of [...picked.keys()].sort((a, b) => b.length - a.length)) {
    out = out.split(shown).join(`<@${picked.get(shown)}>`);
  }
  return out;
}

// Shows every mention again with the names known now.
function renderAllMentions() {
  for (const p of document.querySelectorAll('#log .text')) {
    if (p.querySelector('.mention')) renderMentions(p);
  }
}

function sendText(text) {
  const view = active;
  const item = view === roomView ? client.send(text) : client.sendDirect(view.with, text);
  showOwn(item, view);
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
  if (session && !session.signedIn) {
    showSignedOutHint();
    return;
  }
  if (!client) return;
  // Blank lines and spaces around the message are not part of it.
  const text = ui.input.value.trim();
  const problem = checkText(text);
  setHint(problem);
  if (problem) {
    ui.input.focus();
    return;
  }
  sendText(wireText(text));
  picked.clear();
  closeMentions();
  ui.input.value = '';
  updateCounter();
  ui.input.focus();
}

ui.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  submitMessage();
});

ui.input.addEventListener('blur', () => closeMentions());
ui.input.addEventListener('click', () => updateMentions());

ui.input.addEventListener('keydown', (ev) => {
  if (mentionQuery && !ui.mentionList.hidden) {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      moveMention(ev.key === 'ArrowDown' ? 1 : -1);
      return;
    }
    if ((ev.key === 'Enter' || ev.key === 'Tab') && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      const option = ui.mentionList.children[mentionIndex];
      if (option) pickMention(option.dataset.userId);
      return;
    }
    if (ev.key === 'Escape') {
      ev.preventDefault();
      closeMentions();
      return;
    }
  }
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    submitMessage();
  } else if (ev.key === 'Escape' && active !== roomView) {
    activate(roomView);
  }
});

ui.input.addEventListener('input', () => {
  mentionIndex = 0;
  updateMentions();
  if (ui.hint.dataset.code === 'empty_text') setHint(null);
  updateCounter();
  if (client && ui.input.value.trim() !== '') client.typing(active === roomView ? undefined : active.with);
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
  const waiting = state === RECONNECTING && delay > 0;
  if (waiting && delay > 1000) {
    text = `Connection lost: reconnecting in ${Math.round(delay / 1000)} s…`;
  } else if (state === RECONNECTING && reason === 'online') {
    text = 'Back online: reconnecting…';
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
  // While the page waits to try again, or has given up, it can try now.
  ui.retry.hidden = !(waiting || (state === OFFLINE && reason !== 'network' && reason !== 'no-name' && reason !== 'signed-out'));
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
    ui.nameLabel.textContent = session.signedIn ? `${me.name} · Sign out` : 'Sign in';
    ui.changeName.querySelector('.visually-hidden').textContent = session.signedIn ? `Signed in as ${me.name}. ` : '';
    ui.changeName.removeAttribute('aria-haspopup');
    ui.nameInitial.textContent = session.signedIn ? initialOf(me.name) : '';
    return;
  }
  ui.nameLabel.textContent = me.name || 'Choose a name';
  ui.nameInitial.textContent = me.name ? initialOf(me.name) : '';
}

// A name's first character (a whole emoji or accented letter), for the
// phone's name button: a phone shows it in place of the name.
function initialOf(name) {
  const first = new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(name)[Symbol.iterator]().next().value;
  return first ? first.segment.toUpperCase() : '';
}

// The name's news that stays until it changes: a name taken by someone
// else, at joining or renaming. A status region, read out when it changes.
let nameStatusOf = ''; // what it is about: 'join', 'rename' or ''
function setNameStatus(text, about = '') {
  ui.nameStatus.textContent = text;
  nameStatusOf = text ? about : '';
}

function openNameDialog() {
  ui.nameInput.value = chosenName || me.name;
  ui.nameError.textContent = '';
  ui.nameCancel.hidden = !chosenName; // the first time, a name is needed
  ui.dialog.showModal();
  ui.nameInput.focus();
  ui.nameInput.select();
}

ui.changeName.addEventListener('click', () => {
  if (!session) {
    openNameDialog();
  } else if (session.signedIn) {
    ui.signOutDialog.showModal(); // asks first
    ui.signOutCancel.focus();
  } else {
    signIn();
  }
});

function signIn() {
  session.signIn().catch((err) => systemLine(`Could not sign in: ${err.message}`, 'error'));
}

ui.signOutCancel.addEventListener('click', () => ui.signOutDialog.close());
ui.signOutConfirm.addEventListener('click', () => {
  ui.signOutDialog.close();
  session?.signOut();
});
ui.hintSignIn.addEventListener('click', () => signIn());

// Signed out in sign-in mode, the composer says why nothing can be sent,
// and offers to sign in.
function showSignedOutHint() {
  const out = !!session && !session.signedIn;
  ui.hintSignIn.hidden = !out;
  ui.input.placeholder = out ? 'Sign in to write…' : active === roomView ? 'Write a message…' : ui.input.placeholder;
  if (out) setHint({ code: 'signed_out', message: 'You are signed out: sign in to send messages.' });
  else if (ui.hint.dataset.code === 'signed_out') setHint(null);
}

ui.dialog.addEventListener('cancel', (ev) => {
  if (!chosenName) ev.preventDefault(); // Escape cannot skip the first choice
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
  ui.dialog.close();
  if (!client && pendingConfig) {
    chosenName = chosen;
    me.name = chosen;
    saveName(chosen);
    showName();
    connect(pendingConfig);
    return;
  }
  if (!client || chosen === me.name) return;
  // Renamed without reconnecting: the name is the person's once the server
  // says "renamed" (another person may hold it: name_taken).
  renaming = chosen;
  if (!client.rename(chosen)) {
    // Not connected: the next connection asks for it.
    renaming = null;
    chosenName = chosen;
    me.name = chosen;
    saveName(chosen);
    client.setName(chosen);
    showName();
  }
});

// ---- room --------------------------------------------------------------------------

function showRoom() {
  ui.room.textContent = `#${room.room}`;
  // A long name takes a smaller type, so that a phone's header keeps to
  // two short lines.
  ui.room.classList.toggle('long', room.room.length > 12);
  renderTitle();
  rememberRoom(room.room);
  renderThreadButton(roomView);
  ui.log.setAttribute('aria-label', `Messages in #${room.room}`);
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

// Forgets what the room's message list shows: on a room switch, and when
// the room's history starts again.
function clearRoomView() {
  for (const li of ui.list.querySelectorAll('li[data-client-msg-id]')) ownElements.delete(li.dataset.clientMsgId);
  ui.list.replaceChildren();
  roomView.maxSeq = 0;
  roomView.unread = 0;
  roomView.read = storedRoomRead(room.room) ?? 0;
  roomView.sinceRead = storedRoomRead(room.room);
  olderCursor = null;
  ui.loadOlder.hidden = true;
}

window.addEventListener('hashchange', () => {
  const next = roomFromURL(location.href);
  if (next.room === room.room && next.invalid === room.invalid) return;
  activate(roomView);
  // The threads of the old room are kept in storage; the new room's come
  // back with its "who".
  for (const v of threads.values()) {
    v.list.remove();
    v.button.closest('li').remove();
  }
  threads.clear();
  ui.threads.hidden = true;
  room = next;
  clearRoomView();
  ownElements.clear();
  clearAllTyping();
  setNameStatus('');
  // What belonged to the old room's view: its new-messages button, a
  // composer hint, the people list (the new room's comes with its who).
  unseen = 0;
  ui.newMessages.hidden = true;
  setHint(null);
  showMembers({ members: [], count: 0 });
  showRoom();
  client?.setRoom(room.room);
  announce(`You are in #${room.room}.`);
});

// ---- start -------------------------------------------------------------------------

// who's reply: who this page is, who is here, and which private
// conversations it has in this room.
function takeMembers(frame) {
  const you = frame.you;
  if (you && typeof you.userId === 'string') {
    const changed = me.userId !== you.userId;
    me.userId = you.userId;
    if (typeof you.name === 'string' && you.name !== '') {
      me.name = you.name;
      // The server gave another name than the one asked for: someone in
      // the room holds it. The chosen one stays kept for next time.
      if (!session && chosenName && you.name !== chosenName) {
        setNameStatus(`${chosenName} is taken in this room: others see you as ${you.name}.`, 'join');
      } else if (nameStatusOf === 'join') {
        setNameStatus('');
      }
    }
    showName();
    if (changed) {
      markAuthors();
      for (const v of threads.values()) v.with = conversationPeer(v.conversation, me.userId);
    }
    // The threads this browser knew in this room (its own only: another
    // account may have used it).
    for (const t of storedThreads()[room.room] ?? []) {
      if (!t || typeof t.id !== 'string' || conversationPeer(t.id, me.userId) === null) continue;
      ensureThread(t.id, { name: typeof t.name === 'string' ? t.name : '', read: t.read });
      client.addConversation(t.id);
    }
  }
  showMembers(frame);
}

function wire(c) {
  c.addEventListener('state', (ev) => {
    showState(ev.detail);
    if (ev.detail.state === ONLINE) askUnread();
  });
  c.addEventListener('message', (ev) => showIncoming(roomView, ev.detail));
  c.addEventListener('direct', (ev) => {
    const m = ev.detail;
    const view = ensureThread(m.conversation);
    showIncoming(view, m);
  });
  c.addEventListener('conversation', (ev) => {
    const view = ensureThread(ev.detail.conversation);
    if (!view.with && ev.detail.with) view.with = ev.detail.with;
  });
  c.addEventListener('forbidden', (ev) => forgetThread(ev.detail.conversation));
  c.addEventListener('history', (ev) => {
    const { messages, next, kind, conversation } = ev.detail;
    const view = conversation ? ensureThread(conversation) : roomView;
    const keep = ui.log.scrollHeight - ui.log.scrollTop;
    for (const m of messages) showIncoming(view, m, { fromHistory: true });
    if (view !== roomView) return;
    if (kind === 'latest') renderEmptyRoom();
    if (kind === 'before' && active === roomView) {
      // Older messages came in above: keep the reader where they were.
      ui.log.scrollTop = ui.log.scrollHeight - keep;
    }
    if (kind !== 'since') {
      // A backward page (the latest on joining, or older ones) says
      // whether older messages remain.
      olderCursor = next && Number.isInteger(next.before) ? next.before : null;
      ui.loadOlder.hidden = olderCursor === null || active !== roomView;
    }
  });
  c.addEventListener('epoch', (ev) => {
    // The server's history started again (its store is new): the stream is
    // shown anew from what the client asks for now. What this page is
    // still sending stays (its outbox goes to the new history).
    const view = viewOf(ev.detail.conversation);
    if (!view) return;
    const sending = [...view.list.querySelectorAll('li.pending')];
    if (view === roomView) {
      clearRoomView();
      roomView.read = 0;
      roomView.sinceRead = null;
      saveRead(roomView);
    } else {
      view.list.replaceChildren();
      view.maxSeq = 0;
      view.read = 0;
      view.sinceRead = null;
      view.unread = 0;
      renderThreadButton(view);
    }
    for (const li of sending) {
      ownElements.set(li.dataset.clientMsgId, li);
      view.list.append(li);
    }
    systemLine(view === roomView ? 'The chat server started a new history for this room: showing it anew.'
      : 'The chat server started a new history for this conversation: showing it anew.', 'info', { view });
  });
  c.addEventListener('sent', (ev) => markOwn(ev.detail));
  c.addEventListener('ack', (ev) => markOwn(ev.detail.item));
  c.addEventListener('refused', (ev) => {
    const { item, code, message } = ev.detail;
    const view = viewOf(item.conversation) ?? roomView;
    if (code === 'no_such_member') {
      item.reason = `not delivered: ${view === roomView ? 'that person' : threadName(view)} is not in this room`;
    } else {
      item.reason = `not sent: ${message}`;
    }
    markOwn(item);
    systemLine(`${item.reason[0].toUpperCase()}${item.reason.slice(1)} (${code}).`, 'error', { view });
  });
  let slowDownShown = 0;
  c.addEventListener('ratelimited', (ev) => {
    // Once per hold: every message of a burst may be refused.
    if (Date.now() - slowDownShown < ev.detail.retryAfterMs) return;
    slowDownShown = Date.now();
    const s = Math.max(1, Math.ceil(ev.detail.retryAfterMs / 1000));
    systemLine(`You are sending too fast: your messages wait ${s} s and go out in order.`, 'info', { view: active });
  });
  c.addEventListener('servererror', (ev) => {
    const { code, message } = ev.detail;
    systemLine(`The server refused a message (${code}): ${message}`, 'error');
  });
  c.addEventListener('renamefailed', (ev) => {
    const { code, message } = ev.detail;
    const asked = renaming;
    renaming = null;
    const text = code === 'name_taken' && asked
      ? `${asked} is taken in this room: you are still ${me.name}.`
      : `Your name was not changed (${code}: ${message}); you are still ${me.name}.`;
    setNameStatus(text, 'rename');
    systemLine(text, 'error', { speak: false, view: active }); // the status region reads it out
  });
  c.addEventListener('members', (ev) => takeMembers(ev.detail));
  c.addEventListener('unread', (ev) => {
    otherRooms = ev.detail;
    renderRooms();
  });
  c.addEventListener('joined', (ev) => {
    const { userId, name: who, count } = ev.detail;
    if (typeof userId !== 'string') return;
    systemLine(`${who} joined (${countText(count)}).`, 'presence');
    people.byId.set(userId, { name: String(who), connections: 1 });
    people.count = Number.isInteger(count) ? count : people.byId.size;
    renderPeople();
  });
  c.addEventListener('left', (ev) => {
    const { userId, name: who, count } = ev.detail;
    if (typeof userId !== 'string') return;
    systemLine(`${who} left (${countText(count)}).`, 'presence');
    for (const v of [roomView, ...threads.values()]) clearTyping(v, userId);
    people.byId.delete(userId);
    people.count = Number.isInteger(count) ? count : people.byId.size;
    renderPeople();
  });
  c.addEventListener('renamed', (ev) => {
    const { userId, from, name: to } = ev.detail;
    if (typeof userId !== 'string' || typeof to !== 'string') return;
    if (userId === me.userId) {
      me.name = to;
      renaming = null;
      if (!session) {
        // The person chose it (here or on another tab): kept for next time.
        chosenName = to;
        saveName(to);
        client?.setName(to);
        setNameStatus('');
      }
      showName();
      systemLine(`You are now ${to}.`, 'presence');
    } else {
      systemLine(`${from} is now ${to}.`, 'presence');
    }
    const person = people.byId.get(userId);
    if (person) person.name = to;
    for (const v of [roomView, ...threads.values()]) {
      const t = v.typing.get(userId);
      if (t) t.name = to;
      if (v.with === userId) {
        v.name = to;
        saveThreads();
      }
    }
    renderPeople();
    renderTyping();
  });
  c.addEventListener('typing', (ev) => {
    const { conversation, fromId, from } = ev.detail;
    const view = typeof conversation === 'string' ? threads.get(conversation) : roomView;
    if (view) showTyping(view, typeof fromId === 'string' ? fromId : '', String(from ?? '?'));
  });
}

const secret = loadSecret();

async function connect(cfg) {
  showState({ state: CONNECTING });
  const token = session ? () => session.token() : null;
  client = new ChatClient({ url: cfg.websocketUrl, name: session ? '' : chosenName, room: room.room, secret, token });
  // Edits, deletions, reactions and blocks (changes.js): before wire, so
  // that what a blocked person says never reaches the page.
  installChanges(client, {
    me, log: ui.log, composer: ui.composer, input: ui.input, peopleList: ui.peopleList,
    listOf: (conversation) => viewOf(conversation)?.list ?? null,
    activeConversation: () => active.conversation,
    notice: (text, conversation) => systemLine(text, 'error', { view: viewOf(conversation) ?? roomView }),
    announce,
    nameOf: (userId) => people.byId.get(userId)?.name ?? null,
    // An edited text is shown as the app shows texts: links and mentions.
    setText: (li, text) => {
      const p = textElement(text);
      renderMentions(p);
      li.querySelector('.text').replaceWith(p);
    },
  });
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
    me.name = '';
    me.userId = null;
    showName();
    showState({ state: OFFLINE, reason: 'signed-out' });
    // Nobody is known while signed out: the list comes back with the next
    // sign-in's who.
    showMembers({ members: [], count: 0 });
    showSignedOutHint();
  });
  try {
    await session.completeSignIn();
  } catch (err) {
    systemLine(err.message, 'error');
  }
  me.name = session.name;
  showName();
  if (session.signedIn) {
    connect(cfg);
  } else {
    showState({ state: OFFLINE, reason: 'signed-out' });
    showSignedOutHint();
  }
}

async function start() {
  renderNotify();
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
  } else if (chosenName) {
    connect(cfg);
  } else {
    showState({ state: OFFLINE, reason: 'no-name' });
    pendingConfig = cfg;
    openNameDialog();
  }
}

let pendingConfig = null; // the configuration, until a name is chosen

start();
