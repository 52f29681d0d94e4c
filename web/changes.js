// Messages that live (docs/protocol.md, "Messages that live: edits,
// deletions, reactions, blocks"), on the page: the client's 'change'
// events applied to the messages shown, the state history entries carry
// (editedAt, deleted, reactions), the controls of each message (React;
// Edit and Delete on your own), the Up arrow that edits your last message,
// and blocking from the online list. Every text from the network is put in
// the page with textContent, never as HTML.
//
// The app shows messages; this module finds them by their seq in the list
// of their view (li.message[data-seq]) and adds to them. It listens to the
// client before the app does, so that what a blocked person says never
// reaches the app.

import { openDeleteDialog, openReactionPicker } from './reactions.js';
import { checkText } from './text.js';

const DELETED_TEXT = 'message deleted';
const FOLLOWING = 48; // px from the bottom: the reader follows the conversation (as app.js)

/**
 * Installs the changes on a client; call it before the app wires its own
 * listeners.
 * @param {import('./client.js').ChatClient} client
 * @param {object} page the app's parts:
 *   me ({userId}), log, composer, input, peopleList (elements),
 *   listOf(conversation) the message list of a view (null: the room),
 *   activeConversation() the view shown (null: the room),
 *   notice(text, conversation) a line for the person in a view,
 *   announce(text) read out by screen readers,
 *   nameOf(userId) a person's name if known,
 *   setText(li, text) (optional) shows a message's new text as the app shows texts
 *   (links, mentions); by default its .text gets textContent.
 */
let uninstall = null; // the page's listeners of the previous client (signed out and in again)

export function installChanges(client, page) {
  uninstall?.();
  const abort = new AbortController();
  const { signal } = abort;
  const blocked = new Set(); // user IDs this user has blocked
  const reactions = new WeakMap(); // li -> Map(emoji -> Set(userId))
  const names = new Map(); // userId -> name, from the events
  let editing = null; // {li, seq, conversation} while the composer edits a message

  const nameOf = (userId) => page.nameOf(userId) ?? names.get(userId) ?? 'someone';
  const find = (conversation, seq) => {
    const list = page.listOf(conversation ?? null);
    return list && Number.isInteger(seq) ? list.querySelector(`li.message[data-seq="${seq}"]`) : null;
  };
  const isBlocked = (userId) => typeof userId === 'string' && blocked.has(userId);

  // ---- what a blocked person says never reaches the app -------------------------

  client.addEventListener('message', (ev) => {
    if (isBlocked(ev.detail.fromId)) ev.stopImmediatePropagation();
    else after();
  });
  client.addEventListener('typing', (ev) => {
    if (isBlocked(ev.detail.fromId)) ev.stopImmediatePropagation();
  });
  client.addEventListener('direct', () => after());
  client.addEventListener('history', (ev) => {
    const { messages, conversation, kind } = ev.detail;
    if (conversation === null) {
      for (let i = messages.length - 1; i >= 0; i--) if (isBlocked(messages[i].fromId)) messages.splice(i, 1);
    }
    const states = messages.filter((m) => m.deleted === true || typeof m.editedAt === 'string' || (m.reactions && typeof m.reactions === 'object'));
    after(() => {
      for (const m of states) applyState(find(conversation, m.seq), m);
    }, { above: kind === 'before' });
  });
  client.addEventListener('ack', (ev) => {
    const { item, ack } = ev.detail;
    after(() => {
      // The review may have rewritten the message: the ack says how.
      if ((item.kind === 'room' || item.kind === 'direct') && typeof ack.text === 'string') {
        const li = find(item.conversation ?? null, ack.seq);
        if (li) setText(li, ack.text);
      }
    });
  });
  client.addEventListener('change', (ev) => {
    const change = ev.detail;
    if (typeof change.fromId === 'string' && typeof change.from === 'string') names.set(change.fromId, change.from);
    after(() => applyChange(change));
  });
  client.addEventListener('members', (ev) => {
    const list = ev.detail.blocked;
    if (Array.isArray(list)) setBlocked(list);
    after();
  });
  client.addEventListener('blocked', (ev) => {
    const before = new Set(blocked);
    setBlocked(ev.detail.blocked);
    for (const id of ev.detail.blocked) {
      if (!before.has(id)) page.notice(`You blocked ${nameOf(id)}: their messages are hidden from you.`, null);
    }
    for (const id of before) {
      if (!blocked.has(id)) page.notice(`You unblocked ${nameOf(id)}.`, null);
    }
  });
  client.addEventListener('epoch', () => cancelEdit());

  // Runs fn, and gives new messages their controls, once the app has
  // handled the event (its listeners run after these, synchronously).
  // A log that followed the conversation still does once the messages
  // have grown by their controls and reactions.
  // Older messages loaded above (above): the reader stays where they were.
  function after(fn, { above = false } = {}) {
    queueMicrotask(() => {
      const log = page.log;
      const following = log.scrollHeight - log.scrollTop - log.clientHeight < FOLLOWING;
      const fromBottom = log.scrollHeight - log.scrollTop;
      fn?.();
      decorateAll();
      if (following) log.scrollTop = log.scrollHeight;
      else if (above) log.scrollTop = log.scrollHeight - fromBottom;
    });
  }

  // ---- the state of a message ----------------------------------------------------

  function applyState(li, m) {
    if (!li) return;
    if (m.deleted === true) {
      markDeleted(li);
      return;
    }
    if (typeof m.editedAt === 'string') markEdited(li, m.editedAt);
    if (m.reactions && typeof m.reactions === 'object') {
      const map = new Map();
      for (const [emoji, users] of Object.entries(m.reactions)) {
        if (Array.isArray(users) && users.length > 0) map.set(emoji, new Set(users.filter((u) => typeof u === 'string')));
      }
      reactions.set(li, map);
      renderReactions(li);
    }
  }

  function applyChange(change) {
    const li = find(change.conversation, change.target);
    if (!li) return; // not shown: older than the page, or a blocked person's
    const last = Number(li.dataset.changedAt ?? 0);
    if (change.type === 'delete') {
      markDeleted(li);
      if (!change.own) page.announce(`${nameOf(change.fromId)} deleted a message.`);
      return;
    }
    if (li.classList.contains('deleted')) return;
    if (change.type === 'edit') {
      if (typeof change.text !== 'string' || change.seq < last) return;
      li.dataset.changedAt = String(change.seq);
      setText(li, change.text);
      markEdited(li, change.editedAt);
      if (!change.own) page.announce(`${nameOf(change.fromId)} edited a message: ${change.text}`);
      return;
    }
    if (change.type === 'reaction' && typeof change.emoji === 'string' && typeof change.fromId === 'string') {
      const map = reactions.get(li) ?? new Map();
      const users = map.get(change.emoji) ?? new Set();
      if (change.op === 'remove') users.delete(change.fromId);
      else users.add(change.fromId);
      if (users.size > 0) map.set(change.emoji, users);
      else map.delete(change.emoji);
      reactions.set(li, map);
      renderReactions(li);
    }
  }

  function setText(li, text) {
    if (page.setText) page.setText(li, text);
    else li.querySelector('.text').textContent = text;
  }

  // "(edited)" under the text, not in the name line: a message grouped
  // under the one before it shows no name line.
  function markEdited(li, editedAt) {
    let mark = li.querySelector('.edited');
    if (!mark) {
      mark = document.createElement('p');
      mark.className = 'edited';
      mark.textContent = '(edited)';
      li.querySelector('.text').after(mark);
    }
    const at = new Date(editedAt);
    if (!Number.isNaN(at.getTime())) mark.title = `Edited ${at.toLocaleString()}`;
  }

  // A deleted message keeps its place, its author and its time: its text,
  // its reactions and its controls are gone.
  function markDeleted(li) {
    const text = li.querySelector('.text').textContent;
    if (!li.classList.contains('deleted') && text !== '') {
      // What was read out of it goes too: the text is gone from the page.
      const announcer = li.ownerDocument.getElementById('announcer');
      for (const line of announcer ? [...announcer.children] : []) if (line.textContent.includes(text)) line.remove();
    }
    li.classList.add('deleted');
    li.querySelector('.text').textContent = DELETED_TEXT;
    li.querySelector('.edited')?.remove();
    li.querySelector('.reactions')?.remove();
    li.querySelector('.message-actions')?.remove();
    reactions.delete(li);
    if (editing && editing.li === li) cancelEdit();
  }

  function renderReactions(li) {
    if (li.classList.contains('deleted')) return;
    const map = reactions.get(li) ?? new Map();
    let bar = li.querySelector('.reactions');
    const shown = [...map].map(([emoji, users]) => [emoji, [...users].filter((u) => !blocked.has(u))]).filter(([, users]) => users.length > 0);
    if (shown.length === 0) {
      bar?.remove();
      return;
    }
    if (!bar) {
      bar = document.createElement('div');
      bar.className = 'reactions';
      bar.setAttribute('role', 'group');
      bar.setAttribute('aria-label', 'Reactions');
      (li.querySelector('.edited') ?? li.querySelector('.text')).after(bar);
    }
    bar.replaceChildren(...shown.map(([emoji, users]) => {
      const mine = page.me.userId !== null && users.includes(page.me.userId);
      const who = users.map((u) => (u === page.me.userId ? 'you' : nameOf(u))).join(', ');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'reaction';
      b.dataset.emoji = emoji;
      b.dataset.count = String(users.length);
      b.setAttribute('aria-pressed', String(mine));
      b.title = who;
      b.setAttribute('aria-label', `${emoji} ${users.length}, from ${who}. ${mine ? 'Remove your reaction' : 'Add yours'}`);
      const e = document.createElement('span');
      e.className = 'reaction-emoji';
      e.textContent = emoji;
      const n = document.createElement('span');
      n.className = 'reaction-count';
      n.textContent = String(users.length);
      b.append(e, ' ', n);
      return b;
    }));
  }

  // ---- the controls of each message --------------------------------------------------

  // Every shown message with a seq gets React, Edit and Delete (the last two
  // are shown on the person's own messages only, by the style sheet: a
  // message becomes "own" once the page knows who it is).
  function decorateAll() {
    for (const li of page.log.querySelectorAll('li.message[data-seq]:not(.deleted):not(.has-actions)')) {
      li.classList.add('has-actions');
      const from = li.querySelector('.from')?.textContent ?? '';
      const bar = document.createElement('div');
      bar.className = 'message-actions';
      bar.append(
        control('react', 'React', `React to the message of ${from}`),
        control('edit', 'Edit', 'Edit your message'),
        control('delete', 'Delete', 'Delete your message'),
      );
      li.append(bar);
    }
    if (blocked.size === 0 && !page.log.querySelector('li.message[hidden]')) return;
    for (const li of page.log.querySelectorAll('li.message[data-from-id]')) {
      const hide = li.closest('ol') === page.listOf(null) && blocked.has(li.dataset.fromId);
      if (li.hidden !== hide) li.hidden = hide;
    }
  }

  function control(action, text, label) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `message-action ${action}`;
    b.dataset.action = action;
    b.textContent = text;
    b.setAttribute('aria-label', label);
    if (action === 'react') b.setAttribute('aria-haspopup', 'dialog');
    return b;
  }

  // Where a message lives: its seq, and its conversation (null: the room).
  function placeOf(li) {
    const seq = Number(li.dataset.seq);
    const conversation = li.closest('ol')?.dataset.conversation ?? null;
    return { seq, conversation };
  }

  page.log.addEventListener('click', (ev) => {
    const button = ev.target instanceof Element ? ev.target.closest('button') : null;
    const li = button?.closest('li.message');
    if (!li || li.classList.contains('deleted')) return;
    const { seq, conversation } = placeOf(li);
    if (!Number.isInteger(seq) || seq <= 0) return;
    if (button.classList.contains('reaction')) {
      toggleReaction(li, button.dataset.emoji);
      return;
    }
    switch (button.dataset.action) {
      case 'react':
        openReactionPicker({
          label: `React to the message of ${li.querySelector('.from')?.textContent ?? ''}`,
          returnTo: button,
          choose: (emoji) => toggleReaction(li, emoji, 'add'),
        });
        return;
      case 'edit':
        startEdit(li);
        return;
      case 'delete':
        openDeleteDialog({
          text: li.querySelector('.text').textContent,
          returnTo: page.input,
          confirm: () => {
            if (li.classList.contains('deleted')) return;
            client.deleteMessage(seq, conversation);
          },
        });
        break;
      default:
    }
  }, { signal });

  // Adds the person's reaction, or removes it when it is there (op forces one).
  function toggleReaction(li, emoji, op) {
    const { seq, conversation } = placeOf(li);
    const mine = reactions.get(li)?.get(emoji)?.has(page.me.userId) ?? false;
    const want = op ?? (mine ? 'remove' : 'add');
    if (want === 'add' && mine) return;
    client.react(seq, emoji, want, conversation);
  }

  // ---- editing in the composer ----------------------------------------------------

  let banner = null; // "Editing your message · Cancel", above the message box
  function showBanner(show) {
    if (!banner) {
      banner = document.createElement('p');
      banner.className = 'editing-banner';
      banner.id = 'editing-banner';
      banner.append('Editing your message. Enter saves, Escape cancels. ');
      const cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.className = 'link-button';
      cancel.textContent = 'Cancel editing';
      cancel.addEventListener('click', () => {
        cancelEdit();
        page.input.focus();
      });
      banner.append(cancel);
      page.input.before(banner);
    }
    banner.hidden = !show;
    const described = (page.input.getAttribute('aria-describedby') ?? '').split(' ').filter((s) => s && s !== banner.id);
    if (show) described.unshift(banner.id);
    page.input.setAttribute('aria-describedby', described.join(' '));
  }

  function startEdit(li) {
    if (!li.classList.contains('own') || li.classList.contains('deleted')) return;
    const { seq, conversation } = placeOf(li);
    editing = { li, seq, conversation };
    for (const other of page.log.querySelectorAll('li.editing')) other.classList.remove('editing');
    li.classList.add('editing');
    page.input.value = li.querySelector('.text').textContent;
    showBanner(true);
    page.input.focus();
    page.input.setSelectionRange(page.input.value.length, page.input.value.length);
  }

  function cancelEdit() {
    if (!editing) return;
    editing.li.classList.remove('editing');
    editing = null;
    showBanner(false);
    page.input.value = '';
    page.input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  function saveEdit() {
    const { li, seq, conversation } = editing;
    const text = page.input.value.trim();
    if (text === li.querySelector('.text').textContent || text === '') {
      cancelEdit();
      return;
    }
    const problem = checkText(text);
    if (problem) {
      page.notice(`Your edit was not sent: ${problem.message}`, conversation);
      return;
    }
    client.edit(seq, text, conversation);
    cancelEdit();
  }

  // The person's last message in the view shown, that can be edited.
  function lastOwn() {
    const list = page.listOf(page.activeConversation());
    const own = list ? [...list.querySelectorAll('li.message.own[data-seq]:not(.deleted):not(.pending)')] : [];
    return own.at(-1) ?? null;
  }

  // Before the app's own keys (capture on the form): Enter saves an edit,
  // Escape cancels it, and the Up arrow on an empty box edits the last
  // message.
  page.composer.addEventListener('keydown', (ev) => {
    if (ev.target !== page.input || ev.isComposing) return;
    if (editing) {
      if (ev.key === 'Enter' && !ev.shiftKey) {
        ev.preventDefault();
        ev.stopImmediatePropagation();
        saveEdit();
      } else if (ev.key === 'Escape') {
        ev.preventDefault();
        ev.stopImmediatePropagation();
        cancelEdit();
      }
      return;
    }
    if (ev.key === 'ArrowUp' && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey && page.input.value === '') {
      const li = lastOwn();
      if (!li) return;
      ev.preventDefault();
      ev.stopImmediatePropagation();
      startEdit(li);
    }
  }, { capture: true, signal });
  document.addEventListener('submit', (ev) => {
    if (ev.target !== page.composer || !editing) return;
    ev.preventDefault();
    ev.stopImmediatePropagation();
    saveEdit();
  }, { capture: true, signal });

  // ---- blocking from the online list -------------------------------------------------

  function setBlocked(list) {
    blocked.clear();
    for (const id of list) if (typeof id === 'string') blocked.add(id);
    renderBlockButtons();
    for (const li of page.log.querySelectorAll('li.message')) {
      if (reactions.has(li)) renderReactions(li);
    }
    decorateAll();
  }

  function renderBlockButtons() {
    for (const li of page.peopleList.querySelectorAll('li[data-user-id]')) {
      const userId = li.dataset.userId;
      let b = li.querySelector('.block-button');
      if (userId === page.me.userId) {
        b?.remove();
        continue;
      }
      if (!b) {
        b = document.createElement('button');
        b.type = 'button';
        b.className = 'block-button link-button';
        b.addEventListener('click', () => {
          const now = !blocked.has(userId);
          if (!client.block(userId, now)) page.notice('Not connected: try again once the chat is back online.', null);
        });
        li.append(b);
      }
      const name = page.nameOf(userId) ?? li.textContent;
      const on = blocked.has(userId);
      // The visible word comes from the style sheet (::before), so that the
      // entry's text stays the person's name; the accessible name says all.
      b.dataset.label = on ? 'Unblock' : 'Block';
      b.setAttribute('aria-label', on ? `Unblock ${name}` : `Block ${name}`);
      li.classList.toggle('blocked', on);
    }
  }

  // The app rebuilds the online list on every change: each entry gets its
  // button again.
  const observer = new MutationObserver(() => renderBlockButtons());
  observer.observe(page.peopleList, { childList: true });
  uninstall = () => {
    abort.abort();
    observer.disconnect();
    cancelEdit();
    banner?.remove();
  };
}
