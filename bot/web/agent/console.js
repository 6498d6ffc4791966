/*
 * Guichet - agent console (/agent).
 *
 * One WebSocket to /agent/ws (protocol in bot/channels/agent_console.py):
 * the queue and the callback tickets arrive live; the agent opens, takes,
 * answers, hands back or closes conversations. Plain JavaScript, no
 * dependency. Text from the network is only ever set with textContent or
 * as text nodes, never parsed as HTML.
 */
(() => {
  'use strict';

  const WS_URL = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/agent/ws`;
  const BACKOFF_MIN = 1000;
  const BACKOFF_MAX = 30000;
  const TYPING_EVERY = 3000;          // at most one "typing" frame per 3 s
  const TYPING_IDLE = 4000;           // "stopped typing" after 4 s without a key
  const CITIZEN_TYPING_SHOWN = 6000;  // the widget only says "on"; forget it after 6 s
  const CONTEXT_REFRESH_DELAY = 2500; // Rasa parses the citizen's message after the relay
  const MAX_TEXT = 4000;

  const CHANNELS = { webchat: 'Chat du site', phone: 'Téléphone' };
  const REASONS = {
    asked: 'Demandée par le citoyen',
    failures: 'L’assistant n’a pas trouvé de réponse',
  };
  const ROLES = { user: 'Citoyen', bot: 'Assistant', agent: 'Agent', system: 'Système' };
  const TICKET_STATUS = { open: 'Ouverte', assigned: 'Attribuée', closed: 'Close' };
  const REPORT_STATUS = { open: 'Nouveau', received: 'Pris en compte', in_progress: 'En cours', done: 'Traité' };
  // What staff can mark a report as, in this order (the citizen is told each time).
  const REPORT_ACTIONS = [['received', 'Pris en compte'], ['in_progress', 'En cours'], ['done', 'Traité']];
  const TABS = ['conversations', 'tickets', 'reports'];

  /* ------------------------------------------------------------ helpers */

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

  const $ = (id) => document.getElementById(id);

  // The app stores UTC; SQLite gives it back without an offset.
  function parseDate(value) {
    if (typeof value !== 'string' || !value) return null;
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`;
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function fmtTime(date) {
    return date ? date.toLocaleTimeString('fr-FR', { hour: '2-digit', minute: '2-digit' }) : '';
  }

  function fmtDateTime(date) {
    if (!date) return '';
    return `${date.toLocaleDateString('fr-FR')} à ${fmtTime(date)}`;
  }

  function fmtDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
  }

  const channelLabel = (c) => CHANNELS[c] || String(c || '?');
  const reasonLabel = (r) => REASONS[r] || String(r || '?');

  function safeHref(url) {
    try {
      const u = new URL(url);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  /* -------------------------------------------------------------- state */

  const state = {
    me: null,
    ws: null,
    backoff: BACKOFF_MIN,
    retryTimer: null,
    connectedOnce: false,
    stopped: false,
    handoffs: new Map(),   // open handoffs (waiting and active), by id
    seen: new Set(),       // ids already shown, to announce new arrivals
    firstQueue: true,
    unread: new Set(),
    tickets: new Map(),
    reports: new Map(),    // open reports, by reference
    selected: null,        // handoff id shown in the main panel
    current: null,         // its handoff, as last known
    ended: null,           // why the shown conversation ended, if it did
    contextOnlyFor: null,  // the next "conversation" frame of this id only refreshes the context
    pendingEnd: null,      // {id, text, line}: hand back or close sent, not yet confirmed
    openPending: false,    // a full "open" is on its way: live messages are kept aside too
    liveBuffer: [],        // messages relayed meanwhile, maybe newer than the transcript read
    contextTimer: null,
    focusComposer: false,
    lastTypingSent: 0,
    typingOn: false,
    typingIdle: null,
    citizenTyping: null,
  };

  const ui = {};

  /* ----------------------------------------------------------- messages */

  function announce(text) {
    // Emptied first so the same sentence twice is still read.
    ui.announcer.textContent = '';
    setTimeout(() => { ui.announcer.textContent = text; }, 50);
  }

  function showError(text) {
    ui.bannerText.textContent = text;
    ui.banner.hidden = false;
  }

  function clearError() {
    ui.banner.hidden = true;
    ui.bannerText.textContent = '';
  }

  function setConnection(kind, text) {
    ui.connection.className = `connection connection-${kind}`;
    ui.connection.textContent = text;
  }

  /* ---------------------------------------------------------- transport */

  function send(frame) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      showError('Connexion perdue : l’action n’a pas été envoyée. Reconnexion en cours, réessayez dans un instant.');
      return false;
    }
    ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    clearTimeout(state.retryTimer);
    if (state.stopped) return;
    let opened = false;
    let ws;
    try {
      ws = new WebSocket(WS_URL);
    } catch (e) {
      scheduleReconnect(false);
      return;
    }
    state.ws = ws;
    ws.addEventListener('open', () => {
      opened = true;
      state.connectedOnce = true;
      state.backoff = BACKOFF_MIN;
      setConnection('ok', 'Connecté');
      // Back after a cut: show the conversation as it is now.
      if (state.selected != null) openConversation(state.selected);
    });
    ws.addEventListener('message', (e) => {
      let frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      if (frame && typeof frame === 'object') handleFrame(frame);
      tick(); // background tabs get few timer runs; the waits stay right anyway
    });
    ws.addEventListener('close', () => {
      if (state.ws === ws) state.ws = null;
      scheduleReconnect(opened);
    });
  }

  async function scheduleReconnect(wasOpen) {
    if (!wasOpen) {
      // Refused at the handshake: an expired session is not worth retrying.
      if (await sessionExpired()) {
        state.stopped = true;
        setConnection('error', 'Session expirée');
        showSessionExpired();
        return;
      }
    }
    const delay = Math.round(state.backoff * (0.8 + Math.random() * 0.4));
    state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX);
    setConnection('error', `Connexion perdue, nouvelle tentative dans ${Math.ceil(delay / 1000)} s…`);
    state.retryTimer = setTimeout(connect, delay);
  }

  async function sessionExpired() {
    try {
      const res = await fetch('/agent/', { redirect: 'manual', cache: 'no-store', credentials: 'same-origin' });
      return res.type === 'opaqueredirect' || res.status === 401 || res.status === 403;
    } catch (e) {
      return false; // the server is down, not the session
    }
  }

  function showSessionExpired() {
    ui.bannerText.replaceChildren(
      'Votre session a expiré ou votre rôle ne permet pas d’utiliser la console. ',
      el('a', { href: '/admin/login?next=%2Fagent', text: 'Se reconnecter' }),
    );
    ui.banner.hidden = false;
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case 'hello':
        state.me = typeof frame.agent === 'string' ? frame.agent : null;
        ui.agentEmail.textContent = state.me || '';
        ui.me.hidden = !state.me;
        break;
      case 'queue':
        onQueue(Array.isArray(frame.handoffs) ? frame.handoffs : []);
        break;
      case 'tickets':
        state.tickets.clear();
        for (const t of Array.isArray(frame.tickets) ? frame.tickets : []) {
          if (t && Number.isInteger(t.id)) state.tickets.set(t.id, t);
        }
        renderTickets();
        break;
      case 'ticket':
        onTicket(frame.ticket);
        break;
      case 'reports':
        state.reports.clear();
        for (const r of Array.isArray(frame.reports) ? frame.reports : []) {
          if (r && typeof r.reference === 'string') state.reports.set(r.reference, r);
        }
        renderReports();
        break;
      case 'report':
        onReport(frame.report);
        break;
      case 'conversation':
        onConversation(frame);
        break;
      case 'message':
        onMessage(frame);
        break;
      case 'typing':
        onTyping(frame);
        break;
      case 'claimed':
        if (!frame.ok) {
          state.openPending = false;
          state.liveBuffer = [];
        }
        if (frame.ok && frame.handoff_id === state.selected) {
          state.focusComposer = true;
          announce('Vous avez pris en charge la conversation.');
        }
        break;
      case 'kb_results':
        renderKbResults(Array.isArray(frame.results) ? frame.results : []);
        break;
      case 'error':
        // Whatever was pending did not happen.
        state.pendingEnd = null;
        if (state.selected != null) renderConversationState();
        showError(typeof frame.message === 'string' && frame.message ? frame.message : 'Erreur.');
        break;
      default: // unknown frames are ignored (newer server)
    }
  }

  /* -------------------------------------------------------------- queue */

  function onQueue(list) {
    const previous = state.handoffs;
    state.handoffs = new Map();
    const arrivals = [];
    for (const h of list) {
      if (!h || !Number.isInteger(h.id)) continue;
      state.handoffs.set(h.id, h);
      if (h.status === 'waiting' && !state.seen.has(h.id) && !state.firstQueue) arrivals.push(h);
      state.seen.add(h.id);
    }
    state.firstQueue = false;
    for (const id of state.unread) if (!state.handoffs.has(id)) state.unread.delete(id);
    if (state.pendingEnd && !state.handoffs.has(state.pendingEnd.id) && state.pendingEnd.id !== state.selected) {
      state.pendingEnd = null;
    }
    if (arrivals.length === 1) {
      announce(`Nouvelle demande en attente : ${channelLabel(arrivals[0].channel)}, ${reasonLabel(arrivals[0].reason)}.`);
    } else if (arrivals.length > 1) {
      announce(`${arrivals.length} nouvelles demandes en attente.`);
    }
    if (state.selected != null) {
      const now = state.handoffs.get(state.selected);
      if (now) {
        const was = previous.get(state.selected);
        if (was && was.status === 'active' && now.status === 'waiting' && was.claimed_by === state.me) {
          showError('La conversation est revenue dans la file d’attente (connexion perdue trop longtemps).');
        }
        state.current = now;
        state.ended = null;
      } else if (previous.has(state.selected) || (state.current && !state.ended)) {
        const pending = state.pendingEnd && state.pendingEnd.id === state.selected ? state.pendingEnd : null;
        if (pending) {
          addLocalSystemLine(pending.line);
          announce(pending.line);
        }
        state.ended = pending ? pending.text : 'Conversation terminée : elle a été rendue à l’assistant ou close.';
        state.pendingEnd = null;
        hideCitizenTyping();
        renderConversationState();
        // The control that had the focus is gone: keep the keyboard user in place.
        const active = document.activeElement;
        if (pending && (!active || active === document.body || active.disabled
            || active.closest('.actions'))) ui.convStatus.focus();
      }
      renderConversationState();
    }
    renderQueue();
  }

  function sortedHandoffs() {
    const waiting = [];
    const active = [];
    for (const h of state.handoffs.values()) (h.status === 'waiting' ? waiting : active).push(h);
    const at = (h, k) => (parseDate(h[k]) || new Date(0)).getTime();
    waiting.sort((a, b) => at(a, 'requested_at') - at(b, 'requested_at') || a.id - b.id);
    // Mine first, then by when they were taken.
    active.sort((a, b) => (b.claimed_by === state.me) - (a.claimed_by === state.me)
      || at(a, 'claimed_at') - at(b, 'claimed_at') || a.id - b.id);
    return { waiting, active };
  }

  function queueItem(h) {
    const mine = h.status === 'active' && h.claimed_by === state.me;
    const since = h.status === 'waiting' ? h.requested_at : (h.claimed_at || h.requested_at);
    const unread = state.unread.has(h.id);
    const button = el('button', {
      type: 'button',
      class: `item${mine ? ' item-mine' : ''}${unread ? ' item-unread' : ''}`,
      'data-id': h.id,
      'data-conversation': typeof h.conversation_id === 'string' ? h.conversation_id : null,
      'aria-current': state.selected === h.id ? 'true' : null,
    }, [
      el('span', { class: 'item-title' }, [
        el('span', { text: `Demande n° ${h.id}` }),
        unread ? el('span', { class: 'badge badge-unread', text: 'Nouveau message' }) : null,
      ]),
      el('span', { class: 'item-meta', text: `${channelLabel(h.channel)} · ${reasonLabel(h.reason)}` }),
      el('span', {
        class: 'item-wait',
        'data-since': since,
        'data-prefix': h.status === 'waiting' ? 'Attend depuis ' : 'En cours depuis ',
      }),
      h.status === 'active'
        ? el('span', { class: 'item-holder', text: mine ? 'Tenue par vous' : `Tenue par ${h.claimed_by || '?'}` })
        : null,
    ]);
    button.addEventListener('click', () => select(h.id));
    return el('li', null, button);
  }

  function renderQueue() {
    const focusedId = document.activeElement && document.activeElement.closest
      && document.activeElement.closest('.queue') ? document.activeElement.getAttribute('data-id') : null;
    const { waiting, active } = sortedHandoffs();
    ui.listWaiting.replaceChildren(...waiting.map(queueItem));
    ui.listActive.replaceChildren(...active.map(queueItem));
    ui.emptyWaiting.hidden = waiting.length > 0;
    ui.emptyActive.hidden = active.length > 0;
    ui.countWaiting.textContent = String(waiting.length);
    ui.countActive.textContent = String(active.length);
    ui.countConversations.textContent = String(waiting.length + active.length);
    document.title = `${waiting.length ? `(${waiting.length}) ` : ''}Console agents — Guichet`;
    if (focusedId) {
      const again = document.querySelector(`.queue [data-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
    tick();
  }

  // Waiting times move on their own.
  function tick() {
    const now = Date.now();
    for (const span of document.querySelectorAll('[data-since]')) {
      const since = parseDate(span.getAttribute('data-since'));
      if (!since) continue;
      span.textContent = (span.getAttribute('data-prefix') || '') + fmtDuration((now - since.getTime()) / 1000);
    }
  }

  function nextWaiting() {
    const { waiting } = sortedHandoffs();
    if (!waiting.length) {
      announce('Personne n’attend.');
      return;
    }
    const index = waiting.findIndex((h) => h.id === state.selected);
    const next = waiting[(index + 1) % waiting.length];
    selectTab('conversations');
    select(next.id);
    const button = document.querySelector(`#list-waiting [data-id="${next.id}"]`);
    if (button) button.focus();
  }

  /* ------------------------------------------------------- conversation */

  function select(id) {
    if (state.selected !== id) {
      stopTyping();
      state.selected = id;
      state.contextOnlyFor = null;
      state.openPending = false;
      state.liveBuffer = [];
      state.current = state.handoffs.get(id) || null;
      state.ended = null;
      ui.transcript.replaceChildren(el('li', { class: 'loading', text: 'Chargement de la conversation…' }));
      clearContext();
      hideCitizenTyping();
      ui.kbResults.replaceChildren();
    }
    state.unread.delete(id);
    ui.placeholder.hidden = true;
    ui.conv.hidden = false;
    renderConversationState();
    renderQueue();
    openConversation(id);
  }

  // A full read of the conversation; what is relayed until it arrives is kept
  // aside, because the server may have read the transcript before storing it.
  function openConversation(id) {
    state.openPending = true;
    state.liveBuffer = [];
    send({ type: 'open', handoff_id: id });
  }

  function onConversation(frame) {
    const h = frame.handoff;
    if (!h || h.id !== state.selected) return;
    if (!state.handoffs.has(h.id) && h.status === 'closed') {
      state.ended = state.ended || 'Conversation terminée.';
    }
    state.current = state.handoffs.get(h.id) || h;
    renderContext(frame.context || {});
    if (state.contextOnlyFor === h.id) {
      state.contextOnlyFor = null;
    } else {
      const transcript = Array.isArray(frame.transcript) ? frame.transcript : [];
      renderTranscript(transcript);
      for (const m of missingFrom(transcript, state.liveBuffer)) appendMessage(m);
      state.openPending = false;
      state.liveBuffer = [];
    }
    renderConversationState();
    if (state.focusComposer && !ui.message.disabled) {
      state.focusComposer = false;
      ui.message.focus();
    }
  }

  // Relayed messages the transcript read does not have yet (same role and text,
  // looked up among its last messages).
  function missingFrom(transcript, relayed) {
    const recent = transcript.slice(-50).map((m) => m && `${m.role}\u0000${m.text}`);
    return relayed.filter((m) => {
      const index = recent.indexOf(`${m.role}\u0000${m.text}`);
      if (index === -1) return true;
      recent[index] = null;
      return false;
    });
  }

  function messageItem(m) {
    const role = ROLES[m.role] ? m.role : 'system';
    let who = ROLES[role];
    if (role === 'agent' && typeof m.agent === 'string') who = m.agent === state.me ? 'Vous (agent)' : `Agent (${m.agent})`;
    const at = parseDate(m.at);
    const body = el('p', { class: 'msg-text' });
    body.textContent = typeof m.text === 'string' ? m.text : '';
    const extra = [];
    if (Array.isArray(m.sources) && m.sources.length) {
      const list = el('ul', { class: 'msg-sources', 'aria-label': 'Sources citées' });
      for (const s of m.sources) {
        if (!s || typeof s.title !== 'string') continue;
        const href = safeHref(s.url);
        list.append(el('li', null, href
          ? el('a', { href, target: '_blank', rel: 'noopener noreferrer', text: s.title })
          : s.title));
      }
      extra.push(list);
    }
    if (Array.isArray(m.buttons) && m.buttons.length) {
      const titles = m.buttons.filter((b) => b && typeof b.title === 'string').map((b) => b.title);
      if (titles.length) extra.push(el('p', { class: 'msg-buttons', text: `Boutons proposés : ${titles.join(' · ')}` }));
    }
    return el('li', { class: `msg msg-${role}` }, [
      el('p', { class: 'msg-head' }, [
        el('span', { class: 'msg-who', text: who }),
        at ? el('time', { datetime: at.toISOString(), text: fmtTime(at) }) : null,
      ]),
      body,
      ...extra,
    ]);
  }

  function renderTranscript(messages) {
    // Replaced in one go: a log region reads additions, not a reload.
    ui.transcript.setAttribute('aria-live', 'off');
    ui.transcript.replaceChildren(...messages.filter((m) => m && typeof m === 'object').map(messageItem));
    if (!messages.length) ui.transcript.append(el('li', { class: 'loading', text: 'Aucun message.' }));
    scrollTranscript();
    setTimeout(() => ui.transcript.setAttribute('aria-live', 'polite'), 0);
  }

  function appendMessage(m) {
    const placeholder = ui.transcript.querySelector('.loading');
    if (placeholder) placeholder.remove();
    ui.transcript.append(messageItem(m));
    scrollTranscript();
  }

  function addLocalSystemLine(text) {
    appendMessage({ role: 'system', text, at: new Date().toISOString() });
  }

  function scrollTranscript() {
    ui.transcript.scrollTop = ui.transcript.scrollHeight;
  }

  function clearContext() {
    ui.ctxIntents.replaceChildren();
    ui.ctxSlots.replaceChildren();
    ui.ctxArticles.replaceChildren();
    ui.ctxIntentsEmpty.hidden = false;
    ui.ctxSlotsEmpty.hidden = false;
    ui.ctxArticlesEmpty.hidden = false;
  }

  function renderContext(context) {
    clearContext();
    const intents = Array.isArray(context.intents) ? context.intents : [];
    for (const i of intents) {
      if (!i || typeof i !== 'object') continue;
      const confidence = typeof i.confidence === 'number' ? Math.round(i.confidence * 100) : null;
      const low = confidence != null && confidence < 50;
      ui.ctxIntents.append(el('li', { class: low ? 'intent intent-low' : 'intent' }, [
        el('span', { class: 'intent-text', text: `« ${typeof i.text === 'string' ? i.text : ''} »` }),
        el('span', { class: 'intent-name' }, [
          el('code', { text: typeof i.intent === 'string' ? i.intent : 'inconnue' }),
          confidence != null ? ` — ${confidence} %` : '',
          low ? el('span', { class: 'intent-flag', text: ' (incertain)' }) : null,
        ]),
      ]));
    }
    ui.ctxIntentsEmpty.hidden = ui.ctxIntents.children.length > 0;
    const slots = context.slots && typeof context.slots === 'object' ? context.slots : {};
    for (const [name, value] of Object.entries(slots)) {
      ui.ctxSlots.append(
        el('dt', null, el('code', { text: name })),
        el('dd', { text: typeof value === 'string' ? value : JSON.stringify(value) }),
      );
    }
    ui.ctxSlotsEmpty.hidden = ui.ctxSlots.children.length > 0;
    const articles = Array.isArray(context.articles) ? context.articles : [];
    for (const slug of articles) {
      if (typeof slug !== 'string' || !/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(slug)) continue;
      ui.ctxArticles.append(el('li', null, el('a', {
        href: `/admin/articles/${slug}`, target: '_blank', rel: 'noopener', text: slug,
      })));
    }
    ui.ctxArticlesEmpty.hidden = ui.ctxArticles.children.length > 0;
  }

  function refreshContextSoon() {
    clearTimeout(state.contextTimer);
    state.contextTimer = setTimeout(() => {
      if (state.selected == null || state.ended) return;
      state.contextOnlyFor = state.selected;
      send({ type: 'open', handoff_id: state.selected });
    }, CONTEXT_REFRESH_DELAY);
  }

  function isMine() {
    const h = state.current;
    const pending = !!state.pendingEnd && state.pendingEnd.id === state.selected;
    return !!h && !state.ended && !pending && h.status === 'active' && h.claimed_by === state.me;
  }

  function renderConversationState() {
    const h = state.current;
    if (state.selected == null) return;
    ui.convTitle.textContent = `Demande n° ${state.selected}`;
    if (h) {
      const requested = parseDate(h.requested_at);
      ui.convMeta.textContent = `${channelLabel(h.channel)} · ${reasonLabel(h.reason)}`
        + (requested ? ` · demandée le ${fmtDateTime(requested)}` : '');
    }
    const waiting = !!h && !state.ended && h.status === 'waiting';
    const held = !!h && !state.ended && h.status === 'active' && h.claimed_by === state.me;
    const pending = held && !!state.pendingEnd && state.pendingEnd.id === state.selected;
    const mine = held && !pending;
    let status;
    if (state.ended) status = state.ended;
    else if (!h) status = 'Chargement…';
    else if (waiting) status = 'En attente d’un agent.';
    else if (pending) status = 'Envoi en cours…';
    else if (mine) status = 'Vous tenez cette conversation : le citoyen lit vos messages.';
    else status = `Tenue par ${h.claimed_by || 'un autre agent'}.`;
    ui.convStatus.textContent = status;
    ui.convStatus.className = `conv-status${held ? ' conv-status-mine' : ''}${state.ended ? ' conv-status-ended' : ''}`;
    ui.claim.hidden = !waiting;
    ui.handback.hidden = !held;
    ui.closeForm.hidden = !held;
    ui.handback.disabled = pending;
    ui.closeButton.disabled = pending;
    ui.message.disabled = !mine;
    ui.sendButton.disabled = !mine;
    let placeholder = 'Prenez la conversation en charge pour répondre.';
    if (mine) placeholder = 'Écrivez au citoyen…';
    else if (state.ended) placeholder = 'Conversation terminée.';
    else if (h && h.status === 'active' && !held) placeholder = 'Un autre agent tient cette conversation.';
    ui.message.setAttribute('placeholder', placeholder);
    if (!mine) stopTyping();
  }

  function onMessage(frame) {
    if (!Number.isInteger(frame.handoff_id)) return;
    if (frame.handoff_id === state.selected) {
      if (frame.role === 'user') {
        hideCitizenTyping();
        refreshContextSoon();
      }
      if (state.openPending && state.liveBuffer.length < 200) state.liveBuffer.push(frame);
      appendMessage(frame);
      return;
    }
    if (frame.role !== 'user') return;
    state.unread.add(frame.handoff_id);
    const h = state.handoffs.get(frame.handoff_id);
    if (h && h.status === 'active' && h.claimed_by === state.me) {
      announce(`Nouveau message du citoyen dans la demande n° ${frame.handoff_id}.`);
    }
    renderQueue();
  }

  function onTyping(frame) {
    if (frame.handoff_id !== state.selected || frame.role !== 'user') return;
    if (frame.on) {
      ui.citizenTyping.hidden = false;
      clearTimeout(state.citizenTyping);
      state.citizenTyping = setTimeout(hideCitizenTyping, CITIZEN_TYPING_SHOWN);
    } else {
      hideCitizenTyping();
    }
  }

  function hideCitizenTyping() {
    clearTimeout(state.citizenTyping);
    ui.citizenTyping.hidden = true;
  }

  /* ------------------------------------------------------------ actions */

  function claim() {
    if (state.selected == null || ui.claim.hidden) return;
    clearError();
    // The server answers with the conversation read again: same care as "open".
    state.openPending = true;
    state.liveBuffer = [];
    send({ type: 'claim', handoff_id: state.selected });
  }

  function handBack() {
    if (!isMine()) return;
    clearError();
    if (send({ type: 'hand_back', handoff_id: state.selected })) {
      state.pendingEnd = {
        id: state.selected,
        text: 'Vous avez rendu la main à l’assistant : il répond de nouveau au citoyen.',
        line: 'Conversation rendue à l’assistant.',
      };
      renderConversationState();
    }
  }

  function closeConversation(e) {
    e.preventDefault();
    if (!isMine()) return;
    const label = ui.closeReason.value;
    const detail = ui.closeDetail.value.trim();
    if (label === 'Autre' && !detail) {
      showError('Précisez le motif de clôture.');
      ui.closeDetail.focus();
      return;
    }
    clearError();
    const reason = (detail ? `${label} : ${detail}` : label).slice(0, 500);
    if (send({ type: 'close', handoff_id: state.selected, reason })) {
      state.pendingEnd = {
        id: state.selected,
        text: `Conversation close (motif : ${reason}).`,
        line: `Conversation close : ${reason}.`,
      };
      ui.closeDetail.value = '';
      renderConversationState();
    }
  }

  function sendMessage(e) {
    if (e) e.preventDefault();
    if (!isMine()) return;
    const text = ui.message.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) {
      showError(`Message trop long (${text.length} caractères, ${MAX_TEXT} au maximum).`);
      return;
    }
    // Shown when the server relays it back: what is on screen reached the citizen.
    if (send({ type: 'send', handoff_id: state.selected, text })) {
      ui.message.value = '';
      stopTyping();
    }
    ui.message.focus();
  }

  function onComposerInput() {
    if (!isMine()) return;
    const now = Date.now();
    if (now - state.lastTypingSent >= TYPING_EVERY) {
      state.lastTypingSent = now;
      state.typingOn = true;
      send({ type: 'typing', handoff_id: state.selected, on: true });
    }
    clearTimeout(state.typingIdle);
    state.typingIdle = setTimeout(stopTyping, TYPING_IDLE);
  }

  function stopTyping() {
    clearTimeout(state.typingIdle);
    if (state.typingOn && state.selected != null && state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify({ type: 'typing', handoff_id: state.selected, on: false }));
    }
    state.typingOn = false;
    state.lastTypingSent = 0;
  }

  /* --------------------------------------------------------- knowledge */

  function searchArticles(e) {
    e.preventDefault();
    const query = ui.kbQuery.value.trim();
    if (!query) {
      ui.kbResults.replaceChildren();
      return;
    }
    ui.kbResults.replaceChildren(el('li', { class: 'muted', text: 'Recherche…' }));
    send({ type: 'kb_search', query: query.slice(0, 300) });
  }

  function renderKbResults(results) {
    ui.kbResults.replaceChildren();
    for (const r of results) {
      if (!r || typeof r.title !== 'string') continue;
      const url = typeof r.url === 'string' && safeHref(r.url) ? r.url : '';
      const button = el('button', { type: 'button', class: 'kb-insert' }, [
        el('span', { class: 'sr-only', text: 'Insérer ' }),
        el('span', { class: 'kb-title', text: r.title }),
        url ? el('span', { class: 'kb-url', text: url }) : null,
      ]);
      button.addEventListener('click', () => insertArticle(url ? `${r.title} — ${url}` : r.title));
      ui.kbResults.append(el('li', null, button));
    }
    if (!ui.kbResults.children.length) {
      ui.kbResults.append(el('li', { class: 'muted', text: 'Aucun article trouvé.' }));
    }
    announce(`${results.length} article${results.length > 1 ? 's' : ''} trouvé${results.length > 1 ? 's' : ''}.`);
  }

  function insertArticle(text) {
    const box = ui.message;
    if (box.disabled) {
      showError('Prenez la conversation en charge avant d’insérer un article.');
      return;
    }
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    const before = box.value.slice(0, start);
    const glue = before && !/\s$/.test(before) ? ' ' : '';
    box.value = before + glue + text + box.value.slice(end);
    const caret = (before + glue + text).length;
    box.focus();
    box.setSelectionRange(caret, caret);
    onComposerInput();
  }

  /* ------------------------------------------------------------ tickets */

  function onTicket(ticket) {
    if (!ticket || !Number.isInteger(ticket.id)) return;
    const isNew = !state.tickets.has(ticket.id);
    state.tickets.set(ticket.id, ticket);
    if (isNew && ticket.status === 'open') announce(`Nouvelle demande de rappel ${ticket.reference || ''}.`);
    renderTickets();
  }

  function ticketAction(ticket, status, label) {
    const button = el('button', { type: 'button', class: 'btn btn-small btn-secondary' }, [
      label, el('span', { class: 'sr-only', text: ` (demande ${ticket.reference || ticket.id})` }),
    ]);
    button.addEventListener('click', () => {
      clearError();
      send({ type: 'ticket', ticket_id: ticket.id, status });
    });
    return button;
  }

  function contactNode(contact) {
    const text = String(contact || '');
    if (/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text)) return el('a', { href: `mailto:${text}`, text });
    const digits = text.replace(/[^\d+]/g, '');
    if (/^\+?\d{6,15}$/.test(digits)) return el('a', { href: `tel:${digits}`, text });
    return text;
  }

  function renderTickets() {
    const focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest('.ticket') : null;
    const focusedKey = focused ? `${focused.getAttribute('data-id')}|${document.activeElement.textContent}` : null;
    const items = [];
    const list = [...state.tickets.values()].sort((a, b) => b.id - a.id);
    let openCount = 0;
    for (const t of list) {
      if (t.status !== 'closed') openCount += 1;
      const created = parseDate(t.created_at);
      let status = TICKET_STATUS[t.status] || t.status;
      if (t.status === 'assigned') status += t.assigned_to === state.me ? ' à vous' : ` à ${t.assigned_to || '?'}`;
      const actions = [];
      if (t.status === 'open' || (t.status === 'assigned' && t.assigned_to !== state.me)) {
        actions.push(ticketAction(t, 'assigned', 'M’attribuer'));
      }
      if (t.status !== 'closed') actions.push(ticketAction(t, 'closed', 'Clore'));
      if (t.status !== 'open') actions.push(ticketAction(t, 'open', 'Rouvrir'));
      items.push(el('li', { class: `ticket ticket-${t.status}`, 'data-id': t.id }, [
        el('p', { class: 'ticket-head' }, [
          el('strong', { text: t.reference || `n° ${t.id}` }),
          el('span', { class: `badge badge-${t.status}`, text: status }),
        ]),
        el('p', { class: 'ticket-subject', text: t.subject || '' }),
        el('p', { class: 'ticket-who' }, [t.name || '', ' · ', contactNode(t.contact)]),
        el('p', { class: 'ticket-meta', text: `${channelLabel(t.channel)}${created ? ` · ${fmtDateTime(created)}` : ''}` }),
        t.status !== 'closed' ? waitedNode(t.created_at) : null,
        el('div', { class: 'ticket-actions' }, actions),
      ]));
    }
    ui.listTickets.replaceChildren(...items);
    ui.emptyTickets.hidden = items.length > 0;
    ui.countTickets.textContent = String(openCount);
    if (focusedKey) {
      const [id] = focusedKey.split('|');
      const card = ui.listTickets.querySelector(`.ticket[data-id="${CSS.escape(id)}"]`);
      const target = card && (card.querySelector('button') || card);
      if (target) target.focus();
    }
  }

  /* ------------------------------------------------------------ reports */

  // "En attente depuis 2 h 05 min", kept current by tick().
  function waitedNode(since) {
    if (!parseDate(since)) return null;
    return el('p', { class: 'ticket-meta waited' }, [
      el('span', { 'data-since': since, 'data-prefix': 'En attente depuis ', text: 'En attente depuis …' }),
    ]);
  }

  function onReport(report) {
    if (!report || typeof report.reference !== 'string') return;
    if (report.status === 'done') state.reports.delete(report.reference);
    else state.reports.set(report.reference, report);
    renderReports();
  }

  function reportAction(report, status, label) {
    const button = el('button', { type: 'button', class: 'btn btn-small btn-secondary' }, [
      label, el('span', { class: 'sr-only', text: ` (signalement ${report.reference})` }),
    ]);
    button.addEventListener('click', () => {
      clearError();
      send({ type: 'report', reference: report.reference, status });
    });
    return button;
  }

  function renderReports() {
    const focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest('.report') : null;
    const focusedId = focused ? focused.getAttribute('data-id') : null;
    const list = [...state.reports.values()].sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
    const items = list.map((r) => {
      const created = parseDate(r.created_at);
      const actions = REPORT_ACTIONS.filter(([status]) => status !== r.status)
        .map(([status, label]) => reportAction(r, status, label));
      return el('li', { class: `ticket report report-${r.status}`, 'data-id': r.reference }, [
        el('p', { class: 'ticket-head' }, [
          el('strong', { text: r.reference }),
          el('span', { class: `badge badge-${r.status}`, text: REPORT_STATUS[r.status] || r.status }),
        ]),
        el('p', { class: 'ticket-subject', text: r.category_label || r.category || '' }),
        el('p', { text: `Lieu : ${r.location || ''}` }),
        el('p', { text: r.description || '' }),
        el('p', { class: 'ticket-who' }, r.contact ? ['Contact : ', contactNode(r.contact)] : ['Pas de contact (le citoyen n’a pas souhaité être recontacté)']),
        el('p', { class: 'ticket-meta', text: created ? `Reçu le ${fmtDateTime(created)}` : '' }),
        waitedNode(r.created_at),
        el('div', { class: 'ticket-actions' }, actions),
      ]);
    });
    ui.listReports.replaceChildren(...items);
    ui.emptyReports.hidden = items.length > 0;
    ui.countReports.textContent = String(items.length);
    tick();
    if (focusedId) {
      const card = ui.listReports.querySelector(`.report[data-id="${CSS.escape(focusedId)}"]`);
      const target = card && (card.querySelector('button') || card);
      if (target) target.focus();
    }
  }

  /* --------------------------------------------------------------- tabs */

  function tabParts(name) {
    const key = name[0].toUpperCase() + name.slice(1);
    return [ui[`tab${key}`], ui[`panel${key}`]];
  }

  function selectTab(name) {
    for (const key of TABS) {
      const [tab, panel] = tabParts(key);
      const on = key === name;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      panel.hidden = !on;
    }
    if (name === 'reports' && state.ws && state.ws.readyState === WebSocket.OPEN) send({ type: 'reports' });
  }

  function onTabKey(e) {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    e.preventDefault();
    const current = TABS.findIndex((key) => tabParts(key)[0] === e.currentTarget);
    const index = e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1
      : (current + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length;
    selectTab(TABS[index]);
    tabParts(TABS[index])[0].focus();
  }

  /* --------------------------------------------------------------- keys */

  function onShortcut(e) {
    if (!e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const key = e.key.toLowerCase();
    if (key === 'n') {
      e.preventDefault();
      nextWaiting();
    } else if (key === 'p') {
      e.preventDefault();
      claim();
    } else if (key === 'm') {
      e.preventDefault();
      if (!ui.conv.hidden && !ui.message.disabled) ui.message.focus();
    } else if (key === 'k') {
      e.preventDefault();
      if (!ui.conv.hidden) ui.kbQuery.focus();
    }
  }

  /* --------------------------------------------------------------- init */

  function init() {
    for (const [name, id] of Object.entries({
      connection: 'connection', me: 'me', agentEmail: 'agent-email', banner: 'banner',
      bannerText: 'banner-text', bannerClose: 'banner-close', tabConversations: 'tab-conversations',
      tabTickets: 'tab-tickets', panelConversations: 'panel-conversations', panelTickets: 'panel-tickets',
      tabReports: 'tab-reports', panelReports: 'panel-reports', listReports: 'list-reports',
      emptyReports: 'empty-reports', countReports: 'count-reports', reportsRefresh: 'reports-refresh',
      listWaiting: 'list-waiting', listActive: 'list-active', emptyWaiting: 'empty-waiting',
      emptyActive: 'empty-active', countWaiting: 'count-waiting', countActive: 'count-active',
      countConversations: 'count-conversations', countTickets: 'count-tickets',
      listTickets: 'list-tickets', emptyTickets: 'empty-tickets', placeholder: 'placeholder',
      conv: 'conv', convTitle: 'conv-title', convMeta: 'conv-meta', convStatus: 'conv-status',
      claim: 'btn-claim', handback: 'btn-handback', closeForm: 'close-form',
      closeReason: 'close-reason', closeDetail: 'close-detail', closeButton: 'btn-close',
      transcript: 'transcript',
      citizenTyping: 'citizen-typing', ctxRefresh: 'ctx-refresh', ctxIntents: 'ctx-intents',
      ctxIntentsEmpty: 'ctx-intents-empty', ctxSlots: 'ctx-slots', ctxSlotsEmpty: 'ctx-slots-empty',
      ctxArticles: 'ctx-articles', ctxArticlesEmpty: 'ctx-articles-empty',
      composerForm: 'composer-form', message: 'message', sendButton: 'btn-send', kbForm: 'kb-form',
      kbQuery: 'kb-query', kbResults: 'kb-results', announcer: 'announcer',
    })) ui[name] = $(id);

    ui.bannerClose.addEventListener('click', clearError);
    ui.tabConversations.addEventListener('click', () => selectTab('conversations'));
    ui.tabTickets.addEventListener('click', () => selectTab('tickets'));
    ui.tabReports.addEventListener('click', () => selectTab('reports'));
    ui.tabConversations.addEventListener('keydown', onTabKey);
    ui.tabTickets.addEventListener('keydown', onTabKey);
    ui.tabReports.addEventListener('keydown', onTabKey);
    ui.reportsRefresh.addEventListener('click', () => send({ type: 'reports' }));
    ui.claim.addEventListener('click', claim);
    ui.handback.addEventListener('click', handBack);
    ui.closeForm.addEventListener('submit', closeConversation);
    ui.composerForm.addEventListener('submit', sendMessage);
    ui.message.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        sendMessage();
      }
    });
    ui.message.addEventListener('input', onComposerInput);
    ui.message.addEventListener('blur', stopTyping);
    ui.kbForm.addEventListener('submit', searchArticles);
    ui.kbQuery.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !ui.message.disabled) ui.message.focus();
    });
    ui.ctxRefresh.addEventListener('click', () => {
      if (state.selected == null) return;
      state.contextOnlyFor = state.selected;
      send({ type: 'open', handoff_id: state.selected });
    });
    document.addEventListener('keydown', onShortcut);
    setInterval(tick, 1000);
    document.addEventListener('visibilitychange', tick);
    window.addEventListener('online', () => {
      if (!state.ws && !state.stopped) {
        state.backoff = BACKOFF_MIN;
        connect();
      }
    });
    renderQueue();
    renderTickets();
    renderReports();
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init, { once: true });
  else init();
})();
