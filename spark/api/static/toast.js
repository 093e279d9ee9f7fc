// Toasts for every outcome of an action, and the confirm dialog guarding destructive ones.

import { h } from './format.js';

const MAX_TOASTS = 5;

/** kind: ok | error | warn | info. Stays 6 s (errors 10 s); a close button removes it earlier. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h(`div.toast.toast-${kind}`, { role: kind === 'error' ? 'alert' : 'status', dataset: { kind } },
    h('span', {}, message),
    h('button.toast-close', { type: 'button', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  box.append(item);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  setTimeout(() => item.remove(), kind === 'error' ? 10000 : 6000);
  return item;
}

/** Explain a failed mutation in one toast: refused, rate-limited (with the wait), busy, unreachable. */
export function toastError(action, err, { notFoundMeansWriteOff = false } = {}) {
  if (err.status === 429) {
    toast(`${action} refused: rate limit reached. Try again in ${err.retryAfter ?? 60} s.`, 'warn');
  } else if (err.status === 503) {
    const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : '';
    toast(`${action} refused: the server is busy (${err.message}).${wait}`, 'warn');
  } else if (err.status === 401) {
    toast(`${action} refused: the admin token was not accepted. Check it under "Admin token".`, 'error');
  } else if (err.status === 404 && notFoundMeansWriteOff) {
    toast(`${action} refused: write routes are switched off on this server.`, 'error');
  } else if (err.status === 0) {
    toast(`${action} failed: the server could not be reached.`, 'error');
  } else {
    toast(`${action} refused: ${err.message}`, 'error');
  }
}

/** Resolve true when the user confirms in the modal dialog (Escape or "Keep it" resolve false). */
export function confirmDialog(text, confirmLabel) {
  const dialog = document.getElementById('confirm-dialog');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-yes').textContent = confirmLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
    dialog.showModal();
    document.getElementById('confirm-yes').focus();
  });
}
