/*
 * Guichet - embeddable chat widget for town hall websites.
 *
 *   <script src="https://HOST/static/widget.js" defer></script>
 *   Optional attributes: data-title="...", data-open="true".
 *
 * Plain JavaScript, no dependencies, no build step. Every request goes to the
 * origin the script was loaded from, so the widget also works when embedded
 * on a third-party site. Message content is only ever inserted as text nodes.
 */
(() => {
  'use strict';

  // document.currentScript is only set during the first synchronous run of
  // the script, so it has to be captured here, before any callback.
  const SCRIPT = document.currentScript ||
    Array.from(document.querySelectorAll('script[src*="widget.js"]')).pop();
  // Guard against the tag being included twice on the same page.
  if (!SCRIPT || window.Guichet) return;

  const SCRIPT_URL = new URL(SCRIPT.src, document.baseURI);
  const ORIGIN = SCRIPT_URL.origin;
  const WS_ORIGIN = ORIGIN.replace(/^http/, 'ws'); // http->ws, https->wss
  const CONFIG = {
    title: (SCRIPT.getAttribute('data-title') || '').trim() || 'Assistant de la mairie',
    openAtLoad: SCRIPT.getAttribute('data-open') === 'true',
  };

  const MAX_LENGTH = 2000;
  const COUNTER_FROM = 1800;        // counter only shows near the limit
  const BACKOFF_MIN = 1000;
  const BACKOFF_MAX = 30000;
  const CONNECT_TIMEOUT = 5000;     // queued messages switch to HTTP after this
  const HISTORY_WAIT = 2000;        // how long to hold sends for the history frame
  const TYPING_TIMEOUT = 60000;     // never leave the indicator spinning forever
  const STORAGE_KEY = 'guichet.session';

  // Kept as \u escapes: the file stays pure ASCII, so accents survive even when
  // a host page or server serves the script without a UTF-8 charset.
  const TEXT = {
    launcher: 'Une question ? Discutez avec l\u2019assistant',
    launcherLabel: 'Une question ?',
    close: 'Fermer la discussion',
    reset: 'Nouvelle conversation',
    confirmReset: 'Commencer une nouvelle conversation ? La conversation affich\u00e9e sera effac\u00e9e de cet \u00e9cran.',
    notice: 'Assistant automatis\u00e9 \u2014 ne saisissez pas de donn\u00e9es sensibles.',
    log: 'Conversation',
    inputLabel: 'Votre message',
    placeholder: 'Posez votre question\u2026',
    hint: 'Entr\u00e9e pour envoyer, Maj + Entr\u00e9e pour aller \u00e0 la ligne.',
    send: 'Envoyer',
    you: 'Vous : ',
    bot: 'Assistant : ',
    typing: 'L\u2019assistant \u00e9crit\u2026',
    quickReplies: 'R\u00e9ponses sugg\u00e9r\u00e9es',
    source: 'Source : ',
    seeAlso: 'Voir aussi la fiche nationale : ',
    updated: ' \u2014 mis \u00e0 jour le ',
    newWindow: ' (nouvelle fen\u00eatre)',
    reconnecting: 'Connexion perdue, nouvelle tentative\u2026',
    networkError: 'Impossible de joindre le service. V\u00e9rifiez votre connexion puis r\u00e9essayez.',
    genericError: 'Une erreur est survenue. Veuillez r\u00e9essayer dans quelques instants.',
    counter: (n) => `${n} / ${MAX_LENGTH} caract\u00e8res`,
    agent: 'Agent de la mairie',
    agentPrefix: 'Agent de la mairie : ',
    agentTyping: 'Un agent \u00e9crit\u2026',
    waiting: (p, s) => `En attente d\u2019un agent : position ${p}` +
      (s ? `, environ ${Math.max(1, Math.round(s / 60))} min` : ''),
    feedbackQuestion: 'Cette r\u00e9ponse vous a-t-elle aid\u00e9 ?',
    useful: 'Utile',
    notUseful: 'Pas utile',
    feedbackThanks: 'Merci pour votre retour.',
  };

  /* ---------------------------------------------------------------- session */

  // localStorage can throw (blocked storage, some private modes, sandboxed
  // iframes); the widget must still work, just without surviving a reload.
  const memoryStore = {};
  function storageGet(key) {
    try { return window.localStorage.getItem(key) || memoryStore[key] || null; } catch (e) { return memoryStore[key] || null; }
  }
  function storageSet(key, value) {
    memoryStore[key] = value;
    try { window.localStorage.setItem(key, value); } catch (e) { /* memory only */ }
  }

  function newSessionId() {
    if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    // randomUUID only exists in secure contexts (e.g. not on plain-http test
    // hosts); build an RFC 4122 v4 id from getRandomValues instead.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function loadSessionId() {
    const stored = storageGet(STORAGE_KEY);
    // Anything else than a UUID ends up in a URL path: don't trust it.
    if (stored && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(stored)) return stored;
    const id = newSessionId();
    storageSet(STORAGE_KEY, id);
    return id;
  }

  const state = { session: loadSessionId(), isOpen: false, typingTimer: null };

  /* -------------------------------------------------------------------- DOM */

  // Small element factory: attributes are set with setAttribute and children
  // appended as nodes/text, so nothing ever goes through the HTML parser.
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of [].concat(children || [])) if (child != null) node.append(child);
    return node;
  }

  // Inline SVG icons are built with createElementNS from constant paths only.
  function icon(pathData, size) {
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', size);
    svg.setAttribute('height', size);
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const path = document.createElementNS(NS, 'path');
    path.setAttribute('d', pathData);
    path.setAttribute('fill', 'currentColor');
    svg.append(path);
    return svg;
  }
  const ICON_CHAT = 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z';
  const ICON_CLOSE = 'M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7l-1.4-1.4L9.2 12 2.9 5.7l1.4-1.4 6.3 6.3 6.3-6.3z';

  const ui = {};

  function buildUi() {
    ui.root = el('div', { class: 'guichet-root', lang: 'fr' });
    // Hidden until widget.css is applied, to avoid a flash of unstyled widget.
    ui.root.style.visibility = 'hidden';

    ui.launcher = el('button', {
      type: 'button', id: 'guichet-launcher', class: 'guichet-launcher',
      'aria-label': TEXT.launcher, 'aria-expanded': 'false', 'aria-controls': 'guichet-panel',
    }, [icon(ICON_CHAT, 24), el('span', { class: 'guichet-launcher-label', text: TEXT.launcherLabel })]);

    ui.reset = el('button', { type: 'button', class: 'guichet-reset', text: TEXT.reset });
    ui.close = el('button', { type: 'button', class: 'guichet-close', 'aria-label': TEXT.close }, icon(ICON_CLOSE, 20));
    ui.status = el('div', { class: 'guichet-status', role: 'status' });
    ui.log = el('div', {
      id: 'guichet-log', class: 'guichet-log', role: 'log', 'aria-live': 'polite',
      'aria-label': TEXT.log, tabindex: '0',
    });
    ui.typing = el('div', { id: 'guichet-typing', class: 'guichet-typing', hidden: true }, [
      el('span', { class: 'guichet-sr', text: TEXT.typing }),
      el('span', { class: 'guichet-dots', 'aria-hidden': 'true' }, [el('span'), el('span'), el('span')]),
    ]);
    ui.log.append(ui.typing);

    ui.input = el('textarea', {
      id: 'guichet-input', class: 'guichet-input', name: 'message', rows: '1',
      maxlength: String(MAX_LENGTH), placeholder: TEXT.placeholder, autocomplete: 'off',
      'aria-describedby': 'guichet-hint guichet-counter',
    });
    ui.send = el('button', { type: 'submit', id: 'guichet-send', class: 'guichet-send', text: TEXT.send });
    ui.counter = el('span', { id: 'guichet-counter', class: 'guichet-counter', hidden: true });
    ui.form = el('form', { class: 'guichet-form', novalidate: true }, [
      el('label', { for: 'guichet-input', class: 'guichet-label', text: TEXT.inputLabel }),
      el('div', { class: 'guichet-row' }, [ui.input, ui.send]),
      el('div', { class: 'guichet-meta' }, [
        el('span', { id: 'guichet-hint', class: 'guichet-hint', text: TEXT.hint }), ui.counter,
      ]),
    ]);

    ui.panel = el('div', {
      id: 'guichet-panel', class: 'guichet-panel', role: 'dialog',
      'aria-labelledby': 'guichet-title', hidden: true,
    }, [
      el('div', { class: 'guichet-header' }, [
        el('h2', { id: 'guichet-title', class: 'guichet-title', text: CONFIG.title }),
        ui.reset, ui.close,
      ]),
      el('p', { class: 'guichet-notice', text: TEXT.notice }),
      ui.status, ui.log, ui.form,
    ]);

    ui.root.append(ui.panel, ui.launcher);
    document.body.append(ui.root);
    loadStylesheet();
    bindEvents();
  }

  function loadStylesheet() {
    const href = new URL('widget.css', SCRIPT_URL).href;
    const reveal = () => { ui.root.style.visibility = ''; };
    if (Array.from(document.querySelectorAll('link[rel="stylesheet"]')).some((l) => l.href === href)) {
      reveal();
      return;
    }
    const link = el('link', { rel: 'stylesheet', href });
    link.addEventListener('load', reveal);
    link.addEventListener('error', reveal); // an unstyled widget beats no widget
    setTimeout(reveal, 3000);
    document.head.append(link);
  }

  function bindEvents() {
    ui.launcher.addEventListener('click', () => (state.isOpen ? close() : open()));
    ui.close.addEventListener('click', () => close());
    ui.reset.addEventListener('click', resetConversation);
    ui.root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && state.isOpen && !e.isComposing) {
        e.preventDefault();
        close();
        ui.launcher.focus();
      }
    });
    ui.form.addEventListener('submit', (e) => {
      e.preventDefault();
      submitInput();
    });
    ui.input.addEventListener('keydown', (e) => {
      // isComposing / keyCode 229: Enter that validates an IME composition.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submitInput();
      }
    });
    ui.input.addEventListener('input', updateInputState);
    ui.input.addEventListener('input', relayTyping);
    window.addEventListener('online', () => { if (conn.started && !conn.ws) connectNow(); });
  }

  /* -------------------------------------------------------- panel and input */

  function open(options) {
    state.isOpen = true;
    ui.panel.hidden = false;
    ui.launcher.setAttribute('aria-expanded', 'true');
    ui.root.classList.add('guichet-is-open');
    ensureConnected();
    scrollToBottom();
    // Opening at page load must not steal focus from the host page.
    if (!options || options.focus !== false) ui.input.focus();
  }

  function close() {
    const hadFocus = ui.panel.contains(document.activeElement);
    state.isOpen = false;
    ui.panel.hidden = true;
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.root.classList.remove('guichet-is-open');
    if (hadFocus) ui.launcher.focus();
  }

  function submitInput() {
    if (sendText(ui.input.value)) {
      ui.input.value = '';
      updateInputState();
    }
    ui.input.focus();
  }

  function updateInputState() {
    const n = ui.input.value.length;
    ui.counter.hidden = n < COUNTER_FROM;
    // Emptied when hidden: aria-describedby would still read hidden text.
    ui.counter.textContent = ui.counter.hidden ? '' : TEXT.counter(n);
    ui.counter.classList.toggle('guichet-counter-max', n >= MAX_LENGTH);
    // Grow the textarea with its content, up to the CSS max-height.
    ui.input.style.height = 'auto';
    ui.input.style.height = `${ui.input.scrollHeight + 2}px`;
  }

  /* ---------------------------------------------------------------- messages */

  // Trailing punctuation usually ends the sentence, not the URL; a closing
  // parenthesis only belongs to the URL if it has a matching opening one.
  const URL_RE = /\bhttps?:\/\/[^\s<>"\u00ab\u00bb]+/gi;
  function trimUrl(url) {
    for (;;) {
      const last = url.slice(-1);
      if ('.,;:!?\'\u2019'.includes(last)) url = url.slice(0, -1);
      else if (last === ')' && url.split('(').length < url.split(')').length) url = url.slice(0, -1);
      else return url;
    }
  }

  function safeHref(url) {
    try {
      const u = new URL(url);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function makeLink(href, label) {
    return el('a', { href, target: '_blank', rel: 'noopener noreferrer' },
      [label, el('span', { class: 'guichet-sr', text: TEXT.newWindow })]);
  }

  function appendLinkified(parent, text) {
    let last = 0;
    for (const match of text.matchAll(URL_RE)) {
      const url = trimUrl(match[0]);
      const href = safeHref(url);
      parent.append(text.slice(last, match.index), href ? makeLink(href, url) : url);
      last = match.index + url.length;
    }
    parent.append(text.slice(last));
  }

  // Date part of an ISO string, read literally to avoid timezone shifts.
  function formatDate(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(iso || ''));
    return m ? `${m[3]}/${m[2]}/${m[1]}` : null;
  }

  function renderSources(sources) {
    const list = el('ul', { class: 'guichet-sources' });
    for (const s of sources) {
      if (!s || typeof s.title !== 'string' || !s.title.trim()) continue;
      const href = safeHref(s.url);
      const date = formatDate(s.updated);
      list.append(el('li', null, [
        s.see_also === true ? TEXT.seeAlso : TEXT.source,
        href ? makeLink(href, s.title) : s.title, date ? TEXT.updated + date : null,
      ]));
    }
    return list.children.length ? list : null;
  }

  // One vote per answer; the server links it to the logged question, not to
  // the citizen.
  function renderFeedback(feedback) {
    if (!feedback || typeof feedback.slug !== 'string') return null;
    const group = el('div', { class: 'guichet-feedback', role: 'group', 'aria-label': TEXT.feedbackQuestion }, [
      el('span', { class: 'guichet-feedback-question', text: TEXT.feedbackQuestion }),
    ]);
    const vote = async (useful) => {
      for (const b of group.querySelectorAll('button')) b.disabled = true;
      try {
        const res = await fetch(apiUrl('feedback'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ query_id: feedback.query_id, slug: feedback.slug, useful }),
          credentials: 'omit',
        });
        if (!res.ok) throw new Error(String(res.status));
        group.replaceChildren(el('span', { class: 'guichet-feedback-thanks', text: TEXT.feedbackThanks }));
      } catch (e) {
        for (const b of group.querySelectorAll('button')) b.disabled = false;
        addSystemLine(TEXT.networkError, true);
      }
    };
    for (const [label, useful] of [[TEXT.useful, true], [TEXT.notUseful, false]]) {
      const button = el('button', { type: 'button', class: 'guichet-feedback-button', text: label });
      button.addEventListener('click', () => vote(useful));
      group.append(button);
    }
    return group;
  }

  function renderQuickReplies(buttons) {
    const group = el('div', { class: 'guichet-quick-replies', role: 'group', 'aria-label': TEXT.quickReplies });
    for (const b of buttons) {
      if (!b || typeof b.title !== 'string' || !b.title.trim()) continue;
      const button = el('button', { type: 'button', class: 'guichet-quick-reply', text: b.title });
      button.addEventListener('click', () => {
        if (button.disabled) return;
        button.classList.add('guichet-quick-reply-chosen');
        sendText(b.title, typeof b.payload === 'string' ? b.payload : undefined);
        ui.input.focus();
      });
      group.append(button);
    }
    return group.children.length ? group : null;
  }

  // Only the latest message may offer quick replies: older choices no longer
  // match the conversation state once anything new is added.
  function disableQuickReplies() {
    for (const b of ui.log.querySelectorAll('.guichet-quick-reply:not(:disabled)')) {
      if (document.activeElement === b) ui.input.focus();
      b.disabled = true;
    }
  }

  function appendToLog(node) {
    disableQuickReplies();
    ui.log.insertBefore(node, ui.typing); // the typing indicator stays last
    scrollToBottom();
  }

  function appendMessage(m) {
    if (!m || typeof m !== 'object') return;
    if (m.role === 'system') {
      if (typeof m.text === 'string' && m.text) addSystemLine(m.text, false);
      return;
    }
    if (m.role === 'agent') {
      if (typeof m.text !== 'string' || !m.text) return;
      const body = el('div', { class: 'guichet-text' });
      appendLinkified(body, m.text);
      appendToLog(el('div', { class: 'guichet-msg guichet-msg-agent' }, [
        el('span', { class: 'guichet-sr', text: TEXT.agentPrefix }),
        el('span', { class: 'guichet-agent-label', 'aria-hidden': 'true', text: TEXT.agent }),
        body,
      ]));
      return;
    }
    const isUser = m.role === 'user';
    const text = typeof m.text === 'string' ? m.text : '';
    const buttons = !isUser && Array.isArray(m.buttons) ? renderQuickReplies(m.buttons) : null;
    const sources = !isUser && Array.isArray(m.sources) ? renderSources(m.sources) : null;
    const feedback = !isUser ? renderFeedback(m.feedback) : null;
    if (!text && !buttons && !sources) return;
    const emergency = !isUser && m.emergency === true;
    const body = el('div', { class: 'guichet-text' });
    if (isUser) body.textContent = text;
    else appendLinkified(body, text);
    appendToLog(el('div', {
      class: `guichet-msg guichet-msg-${isUser ? 'user' : 'bot'}${emergency ? ' guichet-msg-emergency' : ''}`,
      role: emergency ? 'alert' : null,
    }, [el('span', { class: 'guichet-sr', text: isUser ? TEXT.you : TEXT.bot }), body, sources, feedback, buttons]));
  }

  function renderMessages(messages) {
    if (Array.isArray(messages)) messages.forEach(appendMessage);
  }

  function addSystemLine(text, isError) {
    appendToLog(el('div', { class: `guichet-system${isError ? ' guichet-system-error' : ''}`, text }));
  }

  function showServerError(err) {
    hideTyping();
    addSystemLine(err && typeof err.message === 'string' && err.message.trim() ? err.message : TEXT.genericError, true);
  }

  function clearLog() {
    while (ui.log.firstChild !== ui.typing) ui.log.firstChild.remove();
  }

  // A person holds the conversation: show the queue, relay typing to the agent.
  function handleHandoff(frame) {
    if (typeof frame.text === 'string' && frame.text) addSystemLine(frame.text, false);
    if (frame.status === 'waiting' && Number.isInteger(frame.position)) {
      state.humanMode = true;
      setStatus(TEXT.waiting(frame.position, frame.estimated_wait_s));
    } else if (frame.status === 'active') {
      state.humanMode = true;
      setStatus('');
    } else if (frame.status === 'bot' || frame.status === 'closed') {
      state.humanMode = false;
      setStatus('');
    }
  }

  function setTypingLabel(text) {
    const label = ui.typing.querySelector('.guichet-sr');
    if (label) label.textContent = text;
  }

  // At most one "typing" frame every 3 s, only while an agent holds the chat.
  function relayTyping() {
    if (!state.humanMode || !conn.ws || conn.ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (now - (state.lastTypingSent || 0) < 3000) return;
    state.lastTypingSent = now;
    try { conn.ws.send(JSON.stringify({ type: 'typing', on: true })); } catch (e) { /* ignore */ }
  }

  function showTyping() {
    ui.typing.hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT);
    scrollToBottom();
  }

  function hideTyping() {
    clearTimeout(state.typingTimer);
    ui.typing.hidden = true;
  }

  function scrollToBottom() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  /* -------------------------------------------------------------- transport */

  // WebSocket first; HTTP whenever the socket is not usable. Frames typed
  // while the socket is still connecting are queued rather than raced.
  const conn = {
    started: false, ws: null, everOpened: false, httpOnly: false, degraded: false,
    historyTried: false, awaitingHistory: false, backoff: BACKOFF_MIN, retryTimer: null, queue: [],
  };
  const apiUrl = (what) => `${ORIGIN}/api/chat/${encodeURIComponent(state.session)}/${what}`;

  function ensureConnected() {
    if (conn.started) return;
    conn.started = true;
    connectNow();
  }

  function connectNow() {
    conn.backoff = BACKOFF_MIN;
    connect();
  }

  function connect() {
    clearTimeout(conn.retryTimer);
    if (conn.httpOnly) { loadHistoryHttp(); return; }
    let socket;
    try {
      socket = new WebSocket(`${WS_ORIGIN}/ws?session=${encodeURIComponent(state.session)}`);
    } catch (e) {
      // No WebSocket support, or blocked by the host page's CSP: HTTP only.
      conn.httpOnly = true;
      loadHistoryHttp();
      flushQueueHttp();
      return;
    }
    conn.ws = socket;
    const connectTimer = setTimeout(() => {
      if (socket === conn.ws && socket.readyState !== WebSocket.OPEN) flushQueueHttp();
    }, CONNECT_TIMEOUT);
    let historyTimer = null;

    socket.addEventListener('open', () => {
      if (socket !== conn.ws) return;
      clearTimeout(connectTimer);
      conn.everOpened = true;
      conn.degraded = false;
      conn.backoff = BACKOFF_MIN;
      setStatus('');
      // The server sends the history first and we replace the log with it;
      // hold queued messages until then so they are not wiped from the screen.
      conn.awaitingHistory = true;
      historyTimer = setTimeout(flushQueueWs, HISTORY_WAIT);
    });
    socket.addEventListener('message', (e) => {
      if (socket !== conn.ws) return;
      const isHistory = handleFrame(e.data);
      if (isHistory && conn.awaitingHistory) {
        clearTimeout(historyTimer);
        // Queued messages were shown locally; the history just erased them.
        conn.queue.forEach((f) => appendMessage({ role: 'user', text: f.text }));
        flushQueueWs();
      }
    });
    socket.addEventListener('close', () => {
      clearTimeout(connectTimer);
      clearTimeout(historyTimer);
      if (socket !== conn.ws) return; // replaced on purpose (new conversation)
      conn.ws = null;
      conn.awaitingHistory = false;
      conn.degraded = true; // from now on, send over HTTP until a socket opens
      hideTyping();         // a reply announced on this socket will not come
      flushQueueHttp();
      if (conn.everOpened) {
        setStatus(TEXT.reconnecting);
      } else if (!conn.historyTried) {
        // Never reached the socket: the conversation comes from HTTP instead.
        conn.historyTried = true;
        loadHistoryHttp();
      }
      const delay = conn.backoff;
      conn.backoff = Math.min(conn.backoff * 2, BACKOFF_MAX);
      conn.retryTimer = setTimeout(connect, delay);
    });
  }

  function restartConnection() {
    const old = conn.ws;
    conn.ws = null; // marks the old socket's events as stale
    conn.queue = [];
    conn.awaitingHistory = false;
    conn.degraded = false;
    conn.historyTried = false;
    if (old) old.close(1000);
    setStatus('');
    if (conn.started) connectNow();
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  // Returns true for a history frame so the caller can release the queue.
  function handleFrame(raw) {
    let frame;
    try { frame = JSON.parse(raw); } catch (e) { return false; }
    if (!frame || typeof frame !== 'object') return false;
    switch (frame.type) {
      case 'history':
        hideTyping();
        clearLog();
        renderMessages(frame.messages);
        return true;
      case 'bot':
        hideTyping();
        renderMessages(frame.messages);
        break;
      case 'typing':
        setTypingLabel(frame.who === 'agent' ? TEXT.agentTyping : TEXT.typing);
        if (frame.on) showTyping(); else hideTyping();
        break;
      case 'agent':
        hideTyping();
        renderMessages(frame.messages);
        break;
      case 'handoff':
        handleHandoff(frame);
        break;
      case 'error':
        showServerError(frame);
        break;
      default: // unknown frame types are ignored for forward compatibility
    }
    return false;
  }

  function sendFrame(frame) {
    if (!state.humanMode) { setTypingLabel(TEXT.typing); showTyping(); }
    const ws = conn.ws;
    const connecting = ws && ws.readyState === WebSocket.CONNECTING && !conn.degraded;
    if (connecting || (ws && conn.awaitingHistory)) {
      conn.queue.push(frame);
      return;
    }
    if (ws && ws.readyState === WebSocket.OPEN) {
      try { ws.send(JSON.stringify(frame)); return; } catch (e) { /* fall back to HTTP */ }
    }
    postHttp(frame);
  }

  function flushQueueWs() {
    conn.awaitingHistory = false;
    const ws = conn.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) { flushQueueHttp(); return; }
    conn.queue.splice(0).forEach((f) => ws.send(JSON.stringify(f)));
  }

  async function flushQueueHttp() {
    // Sequential on purpose: the server must see messages in typing order.
    for (const frame of conn.queue.splice(0)) await postHttp(frame);
  }

  async function postHttp(frame) {
    const session = state.session;
    const body = { text: frame.text };
    if (frame.payload !== undefined) body.payload = frame.payload;
    showTyping();
    try {
      const res = await fetch(apiUrl('messages'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
        credentials: 'omit',
      });
      const data = await res.json().catch(() => null);
      if (session !== state.session) return; // answer to an abandoned conversation
      if (!res.ok) showServerError(data && data.error);
      else renderMessages(data && data.messages);
    } catch (e) {
      if (session === state.session) addSystemLine(TEXT.networkError, true);
    } finally {
      if (session === state.session) hideTyping();
    }
  }

  async function loadHistoryHttp() {
    const session = state.session;
    try {
      const res = await fetch(apiUrl('history'), { headers: { Accept: 'application/json' }, credentials: 'omit' });
      if (!res.ok) return;
      const data = await res.json();
      // Don't overwrite anything newer: a socket history or local messages.
      if (session !== state.session || conn.ws || ui.log.querySelector('.guichet-msg')) return;
      renderMessages(data && data.messages);
    } catch (e) {
      // History is a convenience; sending still works, so stay silent.
    }
  }

  /* ------------------------------------------------------------ public API */

  function sendText(text, payload) {
    const clean = String(text == null ? '' : text).trim().slice(0, MAX_LENGTH);
    if (!clean) return false;
    ensureConnected();
    appendMessage({ role: 'user', text: clean });
    const frame = { type: 'message', text: clean };
    if (payload !== undefined) frame.payload = payload;
    sendFrame(frame);
    return true;
  }

  function resetConversation() {
    if (!window.confirm(TEXT.confirmReset)) return;
    state.session = newSessionId();
    storageSet(STORAGE_KEY, state.session);
    hideTyping();
    clearLog();
    restartConnection();
    ui.input.focus();
  }

  // The API may be called before the DOM exists (script without defer in
  // <head>); calls are then replayed once the widget is built.
  const pending = [];
  const whenReady = (fn) => (...args) => { if (ui.root) fn(...args); else pending.push(() => fn(...args)); };

  window.Guichet = Object.freeze({
    open: whenReady(() => open()),
    close: whenReady(() => close()),
    send: whenReady((text) => {
      if (!state.isOpen) open();
      sendText(text);
    }),
  });

  function init() {
    buildUi();
    if (CONFIG.openAtLoad) open({ focus: false });
    pending.splice(0).forEach((fn) => fn());
  }

  if (document.body) init();
  else document.addEventListener('DOMContentLoaded', init, { once: true });
})();
