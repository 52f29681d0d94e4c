// Pure helpers shared by the page: the protocol's limits and the rules the
// server applies, so that the page refuses what the server would refuse.
// No DOM access here.

/** The server's limit on a message, in characters (Unicode code points). */
export const MAX_TEXT = 2000;
/** The server's limit on a display name, in characters. */
export const MAX_NAME = 32;
/** The room used when the URL names none. */
export const DEFAULT_ROOM = 'general';

const ROOM = /^[a-z0-9-]{1,32}$/;
// Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the
// ASCII space.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u;

/**
 * The length of s in Unicode code points, as the server counts it
 * (utf8.RuneCountInString), not in UTF-16 units (s.length).
 */
export function codePointLength(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Checks a message before it is sent. Returns null when it can be sent, or
 * {code, message} like the server's error frames.
 */
export function checkText(text) {
  // Blank: white space and invisible format characters (zero width space…).
  if (/^[\s\p{Cf}]*$/u.test(text)) {
    return { code: 'empty_text', message: 'Type a message first.' };
  }
  // Control characters other than tab and newline.
  if (/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/.test(text)) {
    return { code: 'control_char', message: 'The message has an invisible control character; remove it.' };
  }
  const n = codePointLength(text);
  if (n > MAX_TEXT) {
    return {
      code: 'text_too_long',
      message: `Too long: ${n} characters, the limit is ${MAX_TEXT}. Remove ${n - MAX_TEXT}.`,
    };
  }
  return null;
}

/**
 * Normalises and checks a display name. Returns {name} or {error}.
 */
export function checkName(raw) {
  const name = String(raw ?? '').trim();
  if (name === '') return { error: 'Choose a name.' };
  if (codePointLength(name) > MAX_NAME) {
    return { error: `A name can have at most ${MAX_NAME} characters.` };
  }
  if (!PRINTABLE.test(name)) {
    return { error: 'A name can only have printable characters.' };
  }
  return { name };
}

/**
 * The room named by a URL: ?room=, else #room, else the default room.
 * Returns {room, invalid} where invalid is the refused input, if any.
 */
export function roomFromURL(url) {
  const u = new URL(url);
  let raw = u.searchParams.get('room');
  if (raw === null || raw === '') raw = decodeURIComponent(u.hash.replace(/^#/, ''));
  raw = raw.trim().toLowerCase();
  if (raw === '') return { room: DEFAULT_ROOM, invalid: null };
  if (!ROOM.test(raw)) return { room: DEFAULT_ROOM, invalid: raw };
  return { room: raw, invalid: null };
}

/**
 * The WebSocket URL to dial: the configured base URL with the name and room
 * in the query string.
 */
export function socketURL(base, name, room, token = '') {
  const u = new URL(base);
  // Percent-encoded (a space is %20), not form-encoded as URLSearchParams
  // does (a space is +): a query string read as RFC 3986 keeps "+" as a
  // plus sign, and "Ann Lee" would arrive as "Ann+Lee".
  const kept = u.search.slice(1).split('&').filter((p) => p !== '' && !/^(name|room|token)=/.test(p));
  if (name) kept.push(`name=${encodeURIComponent(name)}`);
  kept.push(`room=${encodeURIComponent(room)}`);
  // Signed in: the token goes in the query string, the authorizer's
  // identity source (browsers cannot set headers on a WebSocket).
  if (token) kept.push(`token=${encodeURIComponent(token)}`);
  u.search = kept.join('&');
  return u.toString();
}

/** HH:MM in the local time zone, or '' for an unreadable time. */
export function formatClock(date) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return '';
  const pad = (v) => String(v).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * The delay before reconnect attempt number attempt (1, 2, ...): exponential
 * backoff with full jitter, a random delay between 0 and
 * min(cap, base * 2^(attempt-1)) milliseconds.
 */
export function backoffDelay(attempt, { base = 500, cap = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * A stable hue (0-359) for a name, so that each name keeps its colour on
 * every page (FNV-1a over its UTF-16 units).
 */
export function nameHue(name) {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 360;
}

/** The typing line: who is typing, in words. */
export function typingLine(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}

// ---- reading: links, mentions, days ------------------------------------------

// A URL candidate: http:// or https:// and what follows up to white space.
// Anything else (javascript:, data:, www.…) is never a link.
const LINK = /\bhttps?:\/\/[^\s<>"'`]+/giu;
// A mention's wire form: <@USERID> (docs in web/README.md, "Mentions").
const MENTION = /<@([au][0-9a-v]{26})>/g;

/**
 * The link a candidate URL makes, or null: only http: and https: with an
 * ASCII host and no user name, as the browser would go to it.
 */
export function safeLink(raw) {
  let u;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') return null;
  if (u.username || u.password) return null; // https://bank.com@evil.example/ deceives
  // A host written with other letters than ASCII's may imitate another
  // (раураl.com, in Cyrillic): it stays text.
  if (u.hostname.split('.').some((label) => label.startsWith('xn--'))) return null;
  return u.href;
}

function trimURL(raw) {
  let url = raw;
  while (url.length > 0) {
    const last = url[url.length - 1];
    if (last === ')') {
      // A closing parenthesis belongs to the URL when it opened one there.
      const opens = url.split('(').length - 1;
      const closes = url.split(')').length - 1;
      if (opens >= closes) return url;
    } else if (!'.,;:!?»”’]}'.includes(last)) {
      return url;
    }
    url = url.slice(0, -1);
  }
  return url;
}

/**
 * A message's text in pieces, in order: {text} plain, {text, href} a
 * link, {mention: userId, text} a mention (text is its wire form, shown as
 * is when the person is not known). Joined, the pieces' text is the
 * message's.
 */
export function segments(text) {
  const out = [];
  const plain = (s) => {
    if (s === '') return;
    let at = 0;
    for (const m of s.matchAll(MENTION)) {
      if (m.index > at) out.push({ text: s.slice(at, m.index) });
      out.push({ mention: m[1], text: m[0] });
      at = m.index + m[0].length;
    }
    if (at < s.length) out.push({ text: s.slice(at) });
  };
  let at = 0;
  for (const m of text.matchAll(LINK)) {
    const raw = trimURL(m[0]);
    const href = safeLink(raw);
    if (href === null) continue;
    plain(text.slice(at, m.index));
    out.push({ text: raw, href });
    at = m.index + raw.length;
  }
  plain(text.slice(at));
  return out;
}

/** The user IDs a text mentions, once each, in order. */
export function mentions(text) {
  return [...new Set([...String(text).matchAll(MENTION)].map((m) => m[1]))];
}

/** Whether a and b fall on the same local day. */
export function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A day separator's label: Today, Yesterday, or the date. */
export function dayLabel(date, now = new Date()) {
  if (sameDay(date, now)) return 'Today';
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1, 12);
  if (sameDay(date, yesterday)) return 'Yesterday';
  const opts = { weekday: 'long', day: 'numeric', month: 'long' };
  if (date.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return date.toLocaleDateString(undefined, opts);
}

/** The full date and time of a message, for hover and screen readers. */
export function fullTime(date) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return '';
  return date.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' });
}

/** Messages of one person this close in time are grouped under one name. */
export const GROUP_WITHIN = 5 * 60 * 1000;

/**
 * Whether a message follows the previous one under the same name: the
 * same author, on the same day, within GROUP_WITHIN.
 */
export function grouped(prev, cur) {
  if (!prev || !cur || !prev.fromId || prev.fromId !== cur.fromId) return false;
  const d = cur.at - prev.at;
  return d >= 0 && d <= GROUP_WITHIN && sameDay(new Date(prev.at), new Date(cur.at));
}
