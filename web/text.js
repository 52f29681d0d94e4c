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
