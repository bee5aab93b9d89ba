/* consentforms embed loader.
 *   <script src="https://FORMS.EXAMPLE/embed.js" data-consentforms="inline/KEY" async></script>
 * Modes: inline/KEY, click/KEY (data-trigger="ID" or "#ID", else the next
 * element opens a popup), auto/KEY (popup after data-delay seconds, default
 * 5, as often as data-frequency says), chat/KEY (a launcher button bottom
 * right opens the channel's chat in a panel). A tag that cannot work says
 * why in one console warning: that is where a site owner looks.
 * The form lives in an iframe of the form server; this file touches the host
 * page only through element.style (allowed under a strict style-src) and
 * never injects style sheets. Host CSP: script-src and frame-src for the form
 * server's origin.
 * Keep quotes, "//" and "/*" out of regular expressions: the Go minifier
 * does not parse them. */
(function () {
  'use strict';

  var doc = document;
  var DONE = 'data-consentforms-done';
  var self = doc.currentScript;
  var frames = [];
  var count = 0;
  var de = (doc.documentElement.lang || navigator.language || '').toLowerCase().indexOf('de') === 0;

  function originOf(src) {
    try {
      return new URL(src, location.href).origin;
    } catch (e) {
      return '';
    }
  }
  var selfOrigin = self && self.src ? originOf(self.src) : '';

  function css(el, props) {
    for (var k in props) {
      el.style[k] = props[k];
    }
  }

  // warn explains to the site owner, once per tag, why it does not work.
  function warn(tag, msg) {
    if (!tag.cfWarned) {
      tag.cfWarned = 1;
      console.warn('consentforms ' + tag.getAttribute('data-consentforms') + ': ' + msg);
    }
  }

  // The host URL goes into the consent log; long or fragment-laden URLs are
  // cut to what the server accepts (2048 bytes).
  function pageURL() {
    var u = location.href.split('#')[0];
    return u.length > 2048 ? location.origin + location.pathname.slice(0, 1024) : u;
  }

  function makeFrame(server, key, tag, lazy, path) {
    var id = 'cf' + (++count) + Math.random().toString(36).slice(2, 8);
    var f = doc.createElement('iframe');
    f.src = server + (path || '/f/') + encodeURIComponent(key) + '?embed=1&frame=' + id +
      '&origin=' + encodeURIComponent(location.origin) + '&page=' + encodeURIComponent(pageURL());
    f.title = tag.getAttribute('data-title') || (de ? 'Formular' : 'Form');
    if (lazy) {
      f.loading = 'lazy';
    }
    css(f, { width: '100%', border: '0', display: 'block', height: '320px', colorScheme: 'normal' });
    var rec = { id: id, frame: f, server: server, tag: tag, close: null };
    frames.push(rec);
    // Every page of the form server reports at once. A frame that loaded
    // and stays silent was refused (frame-ancestors: this site is not
    // among the allowed origins) or is not the form server's page.
    f.addEventListener('load', function () {
      setTimeout(function () {
        if (!rec.alive) {
          warn(tag, 'nothing loaded from ' + server + '. Is ' + location.origin + ' among the allowed origins?');
        }
      }, 5000);
    });
    return rec;
  }

  // Only the iframe we made, from the server it came from, may resize or
  // steer it: origin and source are both checked.
  window.addEventListener('message', function (e) {
    var d = e.data;
    if (!d || typeof d !== 'object' || typeof d.type !== 'string') {
      return;
    }
    for (var i = 0; i < frames.length; i++) {
      var r = frames[i];
      if (e.origin !== r.server || e.source !== r.frame.contentWindow || (d.id && d.id !== r.id)) {
        continue;
      }
      r.alive = true;
      if (d.type === 'consentforms:height' && typeof d.height === 'number' && d.height > 0) {
        css(r.frame, { height: Math.min(Math.ceil(d.height), 20000) + 'px' });
      } else if (d.type === 'consentforms:close' && r.close) {
        r.close();
      } else if (d.type === 'consentforms:redirect' && r.tag.getAttribute('data-redirect') !== 'off') {
        try {
          var u = new URL(d.url, location.href);
          if (u.protocol === 'https:' || u.protocol === 'http:') {
            location.href = u.href;
          }
        } catch (err) {
          return;
        }
      }
      return;
    }
  });

  function inline(tag, server, key) {
    var r = makeFrame(server, key, tag, true);
    tag.parentNode.insertBefore(r.frame, tag.nextSibling);
  }

  // popup returns an open function for a modal dialog around the form.
  function popup(tag, server, key) {
    var r = null;
    var overlay, closeBtn, opener, bodyOverflow;
    var isOpen = false;
    function onKey(e) {
      if (e.key === 'Escape') {
        close();
      }
    }
    function onFocus(e) {
      if (!overlay.contains(e.target)) {
        closeBtn.focus();
      }
    }
    function sentinel(to) {
      var s = doc.createElement('div');
      s.tabIndex = 0;
      s.addEventListener('focus', function () { to().focus(); });
      return s;
    }
    function build() {
      r = makeFrame(server, key, tag, false);
      r.close = close;
      overlay = doc.createElement('div');
      overlay.setAttribute('role', 'dialog');
      overlay.setAttribute('aria-modal', 'true');
      overlay.setAttribute('aria-label', r.frame.title);
      css(overlay, {
        position: 'fixed', top: '0', right: '0', bottom: '0', left: '0', zIndex: '2147483000',
        background: 'rgba(0,0,0,.6)', display: 'flex', alignItems: 'center', justifyContent: 'center',
        padding: '16px', boxSizing: 'border-box'
      });
      var panel = doc.createElement('div');
      css(panel, {
        position: 'relative', background: '#fff', width: '100%', maxWidth: '640px', maxHeight: '100%',
        overflow: 'auto', borderRadius: '8px', padding: '40px 16px 16px', boxSizing: 'border-box',
        boxShadow: '0 8px 32px rgba(0,0,0,.3)'
      });
      closeBtn = doc.createElement('button');
      closeBtn.type = 'button';
      closeBtn.textContent = '\u00d7';
      closeBtn.setAttribute('aria-label', de ? 'Schlie\u00dfen' : 'Close');
      css(closeBtn, {
        position: 'absolute', top: '4px', right: '4px', width: '40px', height: '40px', border: '0',
        background: 'transparent', color: '#1b1b1b', font: '28px/1 sans-serif', cursor: 'pointer'
      });
      closeBtn.addEventListener('click', close);
      overlay.addEventListener('click', function (e) {
        if (e.target === overlay) {
          close();
        }
      });
      panel.appendChild(closeBtn);
      panel.appendChild(r.frame);
      // Sentinels at both ends send Tab round between button and form.
      overlay.appendChild(sentinel(function () { return r.frame; }));
      overlay.appendChild(panel);
      overlay.appendChild(sentinel(function () { return closeBtn; }));
    }
    // Closing hides the dialog rather than removing it: a re-inserted
    // iframe reloads, and the visitor would lose what they typed.
    function open() {
      if (isOpen) {
        return;
      }
      if (!overlay) {
        build();
        doc.body.appendChild(overlay);
      }
      isOpen = true;
      opener = doc.activeElement;
      bodyOverflow = doc.body.style.overflow;
      css(doc.body, { overflow: 'hidden' });
      css(overlay, { display: 'flex' });
      doc.addEventListener('keydown', onKey, true);
      doc.addEventListener('focusin', onFocus, true);
      closeBtn.focus();
    }
    function close() {
      if (!isOpen) {
        return;
      }
      isOpen = false;
      doc.removeEventListener('keydown', onKey, true);
      doc.removeEventListener('focusin', onFocus, true);
      css(overlay, { display: 'none' });
      css(doc.body, { overflow: bodyOverflow });
      if (opener && opener.focus) {
        opener.focus();
      }
    }
    return open;
  }

  // data-trigger names an element by its id, written bare or as a
  // selector ("#ID"); the Embed page shows both.
  function click(tag, server, key) {
    var id = (tag.getAttribute('data-trigger') || '').replace(/^#/, '');
    var trigger = id ? doc.getElementById(id) : tag.nextElementSibling;
    if (!trigger) {
      if (doc.readyState !== 'loading') {
        warn(tag, id ? 'no element with id "' + id + '" (data-trigger) opens the form.' :
          'no element right after the script tag opens the form; add one or set data-trigger.');
      }
      return false;
    }
    var open = popup(tag, server, key);
    trigger.setAttribute('aria-haspopup', 'dialog');
    if (!trigger.matches('a[href], button, input, [tabindex]')) {
      trigger.setAttribute('role', 'button');
      trigger.tabIndex = 0;
    }
    trigger.addEventListener('click', function (e) {
      e.preventDefault();
      open();
    });
    trigger.addEventListener('keydown', function (e) {
      if ((e.key === 'Enter' || e.key === ' ') && trigger.getAttribute('role') === 'button') {
        e.preventDefault();
        open();
      }
    });
  }

  // auto opens the popup after data-delay seconds, as often as
  // data-frequency says: "always" (every page view), "session" (the
  // default: once per tab, in sessionStorage) or "Nd", once in N days (in
  // localStorage). A showing counts when the popup opens. Where storage is
  // blocked the popup shows on every page view.
  function auto(tag, server, key) {
    var delay = parseFloat(tag.getAttribute('data-delay'));
    var freq = tag.getAttribute('data-frequency') || 'session';
    var days = /^([0-9]{1,4})d$/.exec(freq);
    var seen = 'consentforms:auto:' + key;
    var store;
    if (!(delay >= 0)) {
      delay = 5;
    }
    if (!days && freq !== 'always' && freq !== 'session') {
      warn(tag, 'data-frequency="' + freq + '" is not always, session or days like 7d; using session.');
    }
    try {
      store = freq === 'always' ? null : days ? localStorage : sessionStorage;
      // A session's mark is "1" (or a time): any mark counts.
      var last = store ? +store.getItem(seen) : 0;
      if (last && (!days || Date.now() - last < days[1] * 864e5)) {
        return;
      }
    } catch (e) {
      store = null;
    }
    var open = popup(tag, server, key);
    setTimeout(function () {
      try {
        if (store) {
          store.setItem(seen, Date.now());
        }
      } catch (e) {
        // Full or blocked: it shows again next time.
      }
      open();
    }, Math.min(delay, 3600) * 1000);
  }

  // icon is the launcher's speech bubble, drawn as SVG: an emoji shows as
  // an empty box where the system has no emoji font.
  function icon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = doc.createElementNS(ns, 'svg');
    var path = doc.createElementNS(ns, 'path');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    path.setAttribute('d', 'M5 3h14a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 2-2z');
    svg.appendChild(path);
    css(svg, { width: '28px', height: '28px', display: 'block', margin: 'auto', fill: 'currentColor' });
    return svg;
  }

  // chat shows a launcher button (fixed, bottom right) that opens and
  // closes a panel with the chat iframe, made on first opening. Esc inside
  // the chat closes it through the consentforms:close message.
  function chat(tag, server, key) {
    if (!doc.body) {
      return false;
    }
    var btn = doc.createElement('button');
    var title = tag.getAttribute('data-title') || 'Chat';
    var panel = null;
    var r;
    btn.type = 'button';
    btn.appendChild(icon());
    btn.setAttribute('aria-label', title);
    btn.setAttribute('aria-expanded', 'false');
    css(btn, {
      position: 'fixed', right: '16px', bottom: '16px', width: '56px', height: '56px', border: '0',
      borderRadius: '50%', background: '#1d4ed8', color: '#fff', padding: '0',
      cursor: 'pointer', zIndex: '2147483000', boxShadow: '0 4px 16px rgba(0,0,0,.3)'
    });
    function show(on) {
      if (!panel) {
        r = makeFrame(server, key, tag, false, '/c/');
        r.frame.title = title;
        r.close = function () { show(false); };
        panel = doc.createElement('div');
        panel.id = r.id;
        css(panel, {
          position: 'fixed', right: '16px', bottom: '84px', width: '370px', height: '560px',
          maxWidth: 'calc(100vw - 32px)', maxHeight: 'calc(100vh - 100px)', zIndex: '2147483000',
          background: '#fff', borderRadius: '8px', overflow: 'hidden', boxShadow: '0 8px 32px rgba(0,0,0,.3)'
        });
        css(r.frame, { height: '100%' });
        panel.appendChild(r.frame);
        doc.body.appendChild(panel);
        btn.setAttribute('aria-controls', r.id);
      }
      css(panel, { display: on ? 'block' : 'none' });
      btn.setAttribute('aria-expanded', on ? 'true' : 'false');
      (on ? r.frame : btn).focus();
    }
    btn.addEventListener('click', function () {
      show(!panel || panel.style.display === 'none');
    });
    doc.body.appendChild(btn);
  }

  // modes maps the first part of data-consentforms to its handler. A
  // handler returns false when its tag should be retried once the document
  // has loaded.
  var modes = { inline: inline, click: click, auto: auto, chat: chat };

  function scan() {
    var tags = doc.querySelectorAll('script[data-consentforms]');
    for (var i = 0; i < tags.length; i++) {
      var tag = tags[i];
      if (tag.hasAttribute(DONE)) {
        continue;
      }
      var spec = tag.getAttribute('data-consentforms') || '';
      var slash = spec.indexOf('/');
      var mode = spec.slice(0, slash);
      var key = spec.slice(slash + 1);
      var fn = Object.prototype.hasOwnProperty.call(modes, mode) ? modes[mode] : undefined;
      var server = tag.src ? originOf(tag.src) : selfOrigin;
      if (slash < 1 || !/^[A-Za-z0-9_-]{1,64}$/.test(key) || fn === undefined || !server) {
        tag.setAttribute(DONE, 'invalid');
        warn(tag, 'expected inline/KEY, click/KEY, auto/KEY or chat/KEY.');
        continue;
      }
      if (fn(tag, server, key) === false && doc.readyState === 'loading') {
        continue;
      }
      tag.setAttribute(DONE, '1');
    }
  }

  scan();
  if (doc.readyState === 'loading') {
    doc.addEventListener('DOMContentLoaded', scan);
  }
})();
