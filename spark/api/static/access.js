// Whether this page may mutate, and if not, why: the server's flags (/api/config) and the stored token.

import { api, getToken, onTokenChange, routes } from './api.js';

const CONFIG_EVERY_MS = 30000;

class Access extends EventTarget {
  constructor() {
    super();
    this.config = null; // {adminEnabled, writeEnabled, impl} once read
    this.timer = null;
    onTokenChange(() => this.#changed());
  }

  async load() {
    try {
      const config = await api(routes.config());
      const changed = JSON.stringify(config) !== JSON.stringify(this.config);
      this.config = config;
      if (changed) this.#changed();
    } catch {
      // Keep the last known flags; the badge already says when the server is unreachable.
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), CONFIG_EVERY_MS);
  }

  /** '' when mutations are allowed, else the reason shown beside the disabled buttons. */
  reason() {
    if (!this.config) return 'Reading the server settings…';
    if (this.config.adminEnabled !== true) {
      return 'Admin actions are disabled on this server (ADMIN_ENABLED is not true).';
    }
    if (this.config.writeEnabled !== true) return 'The write plugin is switched off on this server.';
    if (!getToken()) return 'Enter the admin token (top right) to start or cancel runs.';
    return '';
  }

  #changed() {
    this.dispatchEvent(new Event('change'));
  }
}

export const access = new Access();

/** Keep a button's disabled state and reason in step with `access`; returns an unsubscribe function. */
export function guardButton(button, reasonEl) {
  const apply = () => {
    const reason = access.reason();
    button.disabled = Boolean(reason);
    button.title = reason;
    button.dataset.reason = reason;
    if (reasonEl) {
      reasonEl.textContent = reason;
      reasonEl.hidden = !reason;
    }
  };
  apply();
  access.addEventListener('change', apply);
  return () => access.removeEventListener('change', apply);
}
