/* consentforms admin: live chat for operators. The conversation page and
   the conversation list work without this file (reload to see news); with
   it, new messages appear by Server-Sent Events (polling when those fail)
   and replies are sent without reloading. Message text is set with
   textContent only. Loaded with defer, no inline code. */
(function () {
  'use strict';

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute('content') : '';
  }

  // texts are the page's words in its language (the body's data-texts);
  // t returns one with its {name} parameters filled in.
  var texts = {};
  try { texts = JSON.parse(document.body.getAttribute('data-texts')) || {}; } catch (e) { texts = {}; }
  function t(key, params) {
    var s = typeof texts[key] === 'string' ? texts[key] : key;
    Object.keys(params || {}).forEach(function (k) { s = s.split('{' + k + '}').join(String(params[k])); });
    return s;
  }

  // listen follows url by EventSource and calls onEvent(name, data); after
  // three failures in a row (or without EventSource) it calls poll every
  // interval milliseconds instead.
  function listen(url, names, onEvent, poll, interval) {
    var failures = 0;
    var timer = null;
    function fallback() {
      if (!timer) { timer = setInterval(poll, interval); }
    }
    if (!window.EventSource) { fallback(); return; }
    var es = new EventSource(url);
    es.onopen = function () { failures = 0; };
    names.forEach(function (n) {
      es.addEventListener(n, function (e) {
        var d;
        try { d = JSON.parse(e.data); } catch (x) { return; }
        onEvent(n, d);
      });
    });
    es.onerror = function () {
      failures++;
      if (es.readyState === 2 || failures >= 3) {
        es.close();
        fallback();
      }
    };
  }

  // fmtTime writes an RFC 3339 UTC time as the page does, in its
  // language's order of day, month and year.
  function fmtTime(iso) {
    if (typeof iso !== 'string' || iso.length < 16) { return ''; }
    return t('time_format', { y: iso.slice(0, 4), m: iso.slice(5, 7), d: iso.slice(8, 10), H: iso.slice(11, 13),
      M: iso.slice(14, 16) });
  }

  function initConversation() {
    var log = document.getElementById('conversation-log');
    if (!log) { return; }
    var names = {};
    var namesEl = document.getElementById('operator-names');
    if (namesEl) {
      try { names = JSON.parse(namesEl.textContent) || {}; } catch (e) { names = {}; }
    }
    var base = log.getAttribute('data-base');
    var lastID = +log.getAttribute('data-last-id') || 0;
    var seen = {};
    Array.prototype.forEach.call(log.querySelectorAll('li[data-id]'), function (li) {
      seen[li.getAttribute('data-id')] = true;
    });
    var empty = document.getElementById('conversation-empty');
    var readPending = false;

    function markRead() {
      if (readPending || document.hidden) { return; }
      readPending = true;
      fetch(base + '/read', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrfToken() }
      }).catch(function () {}).then(function () { readPending = false; });
    }

    function add(m) {
      if (!m || typeof m.id !== 'number' || typeof m.text !== 'string' || seen[m.id]) { return; }
      seen[m.id] = true;
      lastID = Math.max(lastID, m.id);
      var li = document.createElement('li');
      li.className = 'msg msg-' + (m.sender === 'visitor' ? 'visitor' : 'operator');
      li.setAttribute('data-id', String(m.id));
      var head = document.createElement('p');
      head.className = 'msg-head';
      var who = document.createElement('span');
      who.className = 'msg-who';
      who.textContent = m.sender === 'visitor' ? t('visitor') : (names[m.user_id] || t('operator'));
      var when = document.createElement('time');
      when.setAttribute('datetime', m.created_at || '');
      when.textContent = fmtTime(m.created_at);
      head.appendChild(who);
      head.appendChild(document.createTextNode(' · '));
      head.appendChild(when);
      var text = document.createElement('p');
      text.className = 'msg-text';
      text.textContent = m.text;
      li.appendChild(head);
      li.appendChild(text);
      var before = null;
      for (var n = log.lastElementChild; n; n = n.previousElementSibling) {
        if (+n.getAttribute('data-id') < m.id) { break; }
        before = n;
      }
      log.insertBefore(li, before);
      if (empty) { empty.hidden = true; }
      li.scrollIntoView({ block: 'nearest' });
      if (m.sender === 'visitor') { markRead(); }
    }

    function poll() {
      fetch(base + '/messages?after=' + lastID, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { if (d && d.messages) { d.messages.forEach(add); } })
        .catch(function () {});
    }

    listen(base + '/events?after=' + lastID, ['message', 'state'], function (name, d) {
      if (name === 'message') {
        add(d);
      } else if (d.state) {
        var st = document.getElementById('conversation-state');
        if (st) { st.textContent = t('state.' + d.state); }
      }
    }, poll, 4000);

    var form = document.getElementById('reply-form');
    var input = document.getElementById('reply');
    var status = document.getElementById('reply-status');
    if (!form || !input || !window.fetch) { return; }
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var text = input.value.trim();
      if (!text) { input.focus(); return; }
      var body = new URLSearchParams();
      body.set('text', text);
      var button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      status.textContent = '';
      fetch(form.getAttribute('action'), {
        method: 'POST', credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrfToken(), 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: body.toString()
      }).then(function (r) {
        if (r.status === 201) {
          return r.json().then(function (m) {
            add(m);
            input.value = '';
            status.textContent = t('sent');
          });
        }
        status.textContent = t('reply_failed', { status: r.status });
      }).catch(function () {
        status.textContent = t('reply_offline');
      }).then(function () {
        button.disabled = false;
        input.focus();
      });
    });
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        form.querySelector('button[type="submit"]').click();
      }
    });
  }

  // The conversation list reloads its table when a conversation changes;
  // the new table comes from this server's own page, parsed, never built
  // from message text.
  function initList() {
    var region = document.getElementById('conversations-region');
    if (!region) { return; }
    var timer = null;
    function refresh() {
      fetch(location.href, { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var doc = new DOMParser().parseFromString(html, 'text/html');
          var fresh = doc.getElementById('conversations-region');
          if (fresh) { region.replaceWith(document.importNode(fresh, true)); region = document.getElementById('conversations-region'); }
        })
        .catch(function () {});
    }
    listen(region.getAttribute('data-events'), ['changed'], function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    }, refresh, 15000);
  }

  function init() {
    initConversation();
    initList();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
