/* consentforms chat: runs on the chat page /c/KEY of the form server, on its
 * own or in the loader's panel, and talks to the visitor API described in
 * widget/chat.go. Every text goes into the page through textContent, never
 * as HTML. The visitor id lives in localStorage, else sessionStorage, else
 * in memory (the conversation then lasts one page view). New messages come
 * by Server-Sent Events; when those fail, by polling.
 * Keep quotes, "//" and "/*" out of regular expressions: the Go minifier
 * does not parse them. */
(function () {
  'use strict';

  var doc = document;
  function $(id) {
    return doc.getElementById(id);
  }
  var root = $('cf-chat');
  if (!root) {
    return;
  }
  var T = JSON.parse($('cf-chat-texts').textContent);
  var api = root.getAttribute('data-api');
  var pageURL = root.getAttribute('data-page') || '';
  var hostOrigin = doc.documentElement.getAttribute('data-origin') || '';
  var frameID = new URLSearchParams(location.search).get('frame') || '';
  var log = $('cf-chat-log');
  var scroller = $('cf-chat-body');
  var form = $('cf-chat-form');
  var input = $('cf-chat-text');
  var sendBtn = $('cf-chat-send');
  var status = $('cf-chat-status');
  var consent = $('cf-chat-consent');
  var declined = $('cf-chat-declined');

  var state = '';
  var asking = false;
  var lastID = 0;
  var seen = {};
  var heldEl = null;
  var es = null;
  var failures = 0;
  var pollTimer = null;
  var busy = false;

  // The visitor id is the conversation's only key: 128 random bits.
  var SKEY = 'consentforms:chat:' + root.getAttribute('data-key');
  function storage(name) {
    try {
      var s = window[name];
      s.setItem(SKEY + ':probe', '1');
      s.removeItem(SKEY + ':probe');
      return s;
    } catch (e) {
      return null;
    }
  }
  var store = storage('localStorage') || storage('sessionStorage');
  var vid = store ? store.getItem(SKEY) : '';
  if (!/^[0-9a-f]{32}$/.test(vid || '')) {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    vid = Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join('');
    if (store) {
      try {
        store.setItem(SKEY, vid);
      } catch (e) {
        // Full or blocked: the id lives in memory for this page view.
      }
    }
  }

  function say(msg) {
    status.textContent = msg || '';
  }

  function scrollDown() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function bubble(sender, text, cls) {
    var li = doc.createElement('li');
    li.className = 'cf-msg cf-msg--' + (sender === 'visitor' ? 'visitor' : 'operator') + (cls ? ' ' + cls : '');
    var who = doc.createElement('span');
    who.className = 'cf-msg__who';
    who.textContent = sender === 'visitor' ? T.chat_you : T.chat_operator;
    var p = doc.createElement('p');
    p.className = 'cf-msg__text';
    p.textContent = text;
    li.appendChild(who);
    li.appendChild(p);
    return li;
  }

  // addMessage shows m once, in id order: answers from the post, events and
  // polls may overlap or arrive out of order.
  function addMessage(m) {
    if (!m || typeof m.id !== 'number' || typeof m.text !== 'string' || seen[m.id]) {
      return;
    }
    seen[m.id] = true;
    lastID = Math.max(lastID, m.id);
    var li = bubble(m.sender, m.text);
    li.setAttribute('data-id', String(m.id));
    var before = null;
    for (var n = log.lastElementChild; n; n = n.previousElementSibling) {
      var id = +n.getAttribute('data-id');
      if (id && id < m.id) {
        break;
      }
      before = n;
    }
    log.insertBefore(li, before);
    scrollDown();
  }

  // note adds a line from the chat itself, with an optional link.
  function note(text, href, linkText) {
    var li = doc.createElement('li');
    li.className = 'cf-msg cf-msg--system';
    li.setAttribute('data-id', String(lastID + 0.5));
    li.appendChild(doc.createTextNode(text));
    if (href && /^https?:/.test(href)) {
      var a = doc.createElement('a');
      a.href = href;
      a.target = '_blank';
      a.rel = 'noopener';
      a.textContent = linkText;
      li.appendChild(doc.createTextNode(text ? ' ' : ''));
      li.appendChild(a);
    }
    log.appendChild(li);
    scrollDown();
  }

  function showHeld(text) {
    if (!heldEl) {
      heldEl = bubble('visitor', text, 'cf-msg--held');
      var n = doc.createElement('span');
      n.className = 'cf-msg__note';
      n.textContent = T.chat_held;
      heldEl.appendChild(n);
      log.appendChild(heldEl);
    } else {
      heldEl.querySelector('.cf-msg__text').textContent = text;
    }
    scrollDown();
  }

  function dropHeld() {
    if (heldEl) {
      heldEl.parentNode.removeChild(heldEl);
      heldEl = null;
    }
  }

  // setState shows what the conversation's state allows: the consent while
  // a message is held, the way back after a refusal, else the composer.
  function setState(s, held) {
    var was = state;
    var wasAsking = asking;
    state = s;
    asking = s === 'awaiting_consent' && !!held && !!consent;
    if (asking) {
      showHeld(held);
    } else {
      dropHeld();
    }
    if (consent) {
      consent.hidden = !asking;
    }
    declined.hidden = s !== 'declined';
    var locked = asking || s === 'declined';
    // The submit handler itself refuses a second send while one is under
    // way, so the button only follows the state.
    input.disabled = locked;
    sendBtn.disabled = locked;
    if (asking && !wasAsking) {
      consent.focus();
    } else if (s === 'declined' && was !== 'declined') {
      declined.focus();
    }
    scrollDown();
  }

  function call(method, path, data) {
    var opts = { method: method, headers: { Accept: 'application/json' }, credentials: 'omit', cache: 'no-store' };
    if (data) {
      data.visitor_id = vid;
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(data);
    }
    return fetch(api + path, opts).then(function (r) {
      return r.json().then(null, function () {
        return {};
      }).then(function (d) {
        d = d || {};
        if (!r.ok) {
          var err = new Error((r.status < 500 && d.error && d.error.message) || T.chat_failed);
          err.status = r.status;
          err.data = d;
          err.retry = r.headers.get('Retry-After');
          throw err;
        }
        return d;
      });
    });
  }

  function fail(err) {
    if (!err.status) {
      say(T.chat_offline);
    } else if (err.status === 429) {
      say(T.chat_rate_limited.replace('{seconds}', err.retry || '60'));
    } else if (err.status === 413) {
      say(T.chat_too_long);
    } else {
      say(err.message);
    }
  }

  function apply(d) {
    (d.messages || []).forEach(addMessage);
    setState(d.state, d.held);
  }

  function load() {
    return call('GET', '/messages?visitor_id=' + vid + '&after=' + lastID).then(function (d) {
      apply(d);
      return d;
    });
  }

  function poll() {
    if (!pollTimer) {
      pollTimer = setInterval(function () {
        load().then(null, function () {});
      }, 4000);
    }
  }

  // connect listens for new messages once the conversation exists. After
  // three failures in a row (or none at all possible) it polls instead.
  function connect() {
    if (es || pollTimer || state === 'new') {
      return;
    }
    if (!window.EventSource) {
      poll();
      return;
    }
    es = new EventSource(api + '/events?visitor_id=' + vid + '&after=' + lastID);
    es.onopen = function () {
      failures = 0;
    };
    es.onmessage = function (e) {
      try {
        addMessage(JSON.parse(e.data));
      } catch (x) {
        return;
      }
    };
    es.addEventListener('state', function (e) {
      try {
        var d = JSON.parse(e.data);
        setState(d.state, d.held);
      } catch (x) {
        return;
      }
    });
    es.onerror = function () {
      failures++;
      if (es.readyState === 2 || failures >= 3) {
        es.close();
        es = null;
        poll();
      }
    };
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || busy || input.disabled) {
      return;
    }
    if (text.length > 4000) {
      say(T.chat_too_long);
      return;
    }
    busy = true;
    sendBtn.disabled = true;
    say('');
    call('POST', '/messages', { text: text, page_url: pageURL }).then(function (d) {
      input.value = '';
      apply(d);
      connect();
    }, function (err) {
      if (err.status === 403) {
        input.value = '';
        setState('declined');
      } else if (err.status === 409) {
        load().then(null, function () {});
      }
      fail(err);
    }).then(function () {
      busy = false;
      sendBtn.disabled = input.disabled;
    });
  });

  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendBtn.click();
    }
  });

  function answer(decision) {
    if (busy) {
      return;
    }
    busy = true;
    say('');
    call('POST', '/consent', {
      decision: decision,
      version_id: +consent.getAttribute('data-version'),
      page_url: pageURL
    }).then(function (d) {
      if (d.message) {
        addMessage(d.message);
      }
      setState(d.state);
      if (decision === 'accept') {
        note(T.chat_accepted, d.withdraw_url, T.chat_withdraw);
        input.focus();
      }
      connect();
    }, function (err) {
      if (err.data && err.data.reload) {
        say(T.chat_changed);
        setTimeout(function () {
          location.reload();
        }, 1500);
        return;
      }
      fail(err);
    }).then(function () {
      busy = false;
    });
  }

  if (consent) {
    $('cf-chat-accept').addEventListener('click', function () {
      answer('accept');
    });
    $('cf-chat-decline').addEventListener('click', function () {
      answer('decline');
    });
    // The toggle is a link, not a button: a button is one atomic inline
    // box, so its words left the label's sentence as a centred block.
    var toggle = $('cf-chat-toggle');
    var text = $('cf-chat-consent-text');
    if (toggle && text) {
      toggle.addEventListener('click', function (e) {
        e.preventDefault();
        var open = toggle.getAttribute('aria-expanded') !== 'true';
        toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
        text.hidden = !open;
      });
    }
  }

  $('cf-chat-reopen').addEventListener('click', function () {
    say('');
    call('POST', '/consent/reopen', {}).then(function (d) {
      setState(d.state);
      input.focus();
    }, fail);
  });

  // tell sends the loader a message, to the host page's origin only:
  // consentforms:ready once the chat runs (a frame that never says so was
  // refused, and the loader warns the site owner), consentforms:close to
  // close the panel.
  function tell(type) {
    if (window.parent !== window && hostOrigin) {
      window.parent.postMessage({ type: type, id: frameID }, hostOrigin);
    }
  }
  tell('consentforms:ready');
  function closePanel() {
    tell('consentforms:close');
  }
  var closeBtn = $('cf-chat-close');
  if (closeBtn) {
    closeBtn.addEventListener('click', closePanel);
  }
  doc.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') {
      closePanel();
    }
  });

  load().then(function (d) {
    if (d.withdraw_url) {
      note('', d.withdraw_url, T.chat_withdraw);
    }
    connect();
  }, function (err) {
    setState('new');
    fail(err);
  });
})();
