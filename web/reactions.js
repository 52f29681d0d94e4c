// The dialogs of messages that live: the reaction picker (common emoji,
// and a typed one) and the confirmation of a deletion. Both are <dialog>
// elements shown modally: the keyboard stays in them, Escape closes them,
// and focus goes back where it was.

/** The emoji the picker offers first. */
export const COMMON_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(text, className, type = 'button') {
  const b = el('button', className, text);
  b.type = type;
  return b;
}

let picker = null;

// Made once: a dialog with a button per common emoji and a field for
// another one.
function makePicker() {
  const dialog = el('dialog', 'reaction-picker');
  dialog.id = 'reaction-picker';
  dialog.setAttribute('aria-labelledby', 'reaction-picker-title');
  const form = el('form', 'reaction-form');
  form.method = 'dialog';
  form.noValidate = true;
  const title = el('h2', 'reaction-title', 'React');
  title.id = 'reaction-picker-title';
  const grid = el('div', 'emoji-grid');
  grid.setAttribute('role', 'group');
  grid.setAttribute('aria-label', 'Common emoji');
  for (const emoji of COMMON_EMOJI) {
    const b = button(emoji, 'emoji-choice');
    b.dataset.emoji = emoji;
    b.setAttribute('aria-label', `React with ${emoji}`);
    grid.append(b);
  }
  const label = el('label', '', 'Another emoji');
  label.htmlFor = 'reaction-input';
  const input = el('input', 'reaction-input');
  input.id = 'reaction-input';
  input.type = 'text';
  input.autocomplete = 'off';
  input.spellcheck = false;
  input.maxLength = 32;
  const add = button('Add', 'button primary', 'submit');
  add.id = 'reaction-add';
  const cancel = button('Cancel', 'button secondary');
  const row = el('div', 'reaction-typed');
  row.append(input, add);
  const actions = el('div', 'actions');
  actions.append(cancel);
  form.append(title, grid, label, row, actions);
  dialog.append(form);
  document.body.append(dialog);
  picker = { dialog, title, grid, input, cancel, form, choose: null, returnTo: null };
  grid.addEventListener('click', (ev) => {
    const b = ev.target instanceof Element ? ev.target.closest('button.emoji-choice') : null;
    if (b) pick(b.dataset.emoji);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const typed = input.value.trim();
    if (typed !== '') pick(typed); // the server says whether it is one emoji (invalid_emoji)
  });
  cancel.addEventListener('click', () => dialog.close());
  // The close event comes in a task of its own: one of a picker opened
  // again meanwhile is not this one's.
  dialog.addEventListener('close', () => {
    if (dialog.open) return;
    picker.choose = null;
    picker.returnTo?.focus();
  });
}

function pick(emoji) {
  const choose = picker.choose;
  picker.choose = null;
  picker.dialog.close();
  choose?.(emoji);
}

/**
 * Shows the reaction picker for one message.
 * @param {{label: string, returnTo: HTMLElement, choose: (emoji: string) => void}} o
 */
export function openReactionPicker({ label, returnTo, choose }) {
  if (!picker) makePicker();
  picker.title.textContent = label;
  picker.input.value = '';
  picker.choose = choose;
  picker.returnTo = returnTo;
  picker.dialog.showModal();
  picker.grid.querySelector('button')?.focus();
}

let confirmDelete = null;

function makeDeleteDialog() {
  const dialog = el('dialog', 'delete-dialog');
  dialog.id = 'delete-dialog';
  dialog.setAttribute('aria-labelledby', 'delete-title');
  dialog.setAttribute('aria-describedby', 'delete-quote');
  const title = el('h2', '', 'Delete this message?');
  title.id = 'delete-title';
  const quote = el('blockquote', 'delete-quote');
  quote.id = 'delete-quote';
  const help = el('p', 'help', 'It is removed for everyone, and from the chat\'s storage.');
  const cancel = button('Cancel', 'button secondary');
  cancel.id = 'delete-cancel';
  const ok = button('Delete', 'button danger');
  ok.id = 'delete-confirm';
  const actions = el('div', 'actions');
  actions.append(cancel, ok);
  dialog.append(title, quote, help, actions);
  document.body.append(dialog);
  confirmDelete = { dialog, quote, cancel, confirm: null, returnTo: null };
  cancel.addEventListener('click', () => dialog.close());
  ok.addEventListener('click', () => {
    const confirm = confirmDelete.confirm;
    confirmDelete.confirm = null;
    dialog.close();
    confirm?.();
  });
  dialog.addEventListener('close', () => {
    if (dialog.open) return; // opened again meanwhile
    confirmDelete.quote.textContent = ''; // a deleted text does not stay in the page
    confirmDelete.returnTo?.focus();
  });
}

/**
 * Asks whether to delete a message; confirm runs if the person says so.
 * @param {{text: string, returnTo: HTMLElement, confirm: () => void}} o
 */
export function openDeleteDialog({ text, returnTo, confirm }) {
  if (!confirmDelete) makeDeleteDialog();
  confirmDelete.quote.textContent = text;
  confirmDelete.confirm = confirm;
  confirmDelete.returnTo = returnTo;
  confirmDelete.dialog.showModal();
  confirmDelete.cancel.focus(); // the safe choice first
}
