/* consentforms form page script.
 * The page works without it (a plain POST the server validates); this file
 * adds: the consent text that opens when a box is unticked, the refusal of a
 * submit without every required consent, sending with fetch, and, inside an
 * iframe, height reports to the host page.
 * No dependencies. Keep quotes, "//" and "/*" out of regular expressions:
 * the Go minifier does not parse them. */
(function () {
  'use strict';

  var doc = document;
  var root = doc.documentElement;
  var params = new URLSearchParams(location.search);
  var embed = root.getAttribute('data-embed') === '1';
  var form = doc.querySelector('form[data-cf-form]');
  var status = doc.getElementById('cf-status');
  var pageBox = doc.getElementById('cf-main') || doc.body;
  var inFrame = window.parent !== window;

  // The host origin is the only target of our messages: the server reflects
  // it into data-origin; the loader also passes it as ?origin=.
  function validOrigin(o) {
    if (!o) {
      return '';
    }
    try {
      var u = new URL(o);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === o ? o : '';
    } catch (e) {
      return '';
    }
  }
  var origin = validOrigin(root.getAttribute('data-origin')) || validOrigin(params.get('origin'));
  var frameId = params.get('frame') || location.hash.slice(1);

  if (form && form.elements._embed && form.elements._embed.value === '1') {
    embed = true;
  }

  function post(msg) {
    if (embed && inFrame && origin) {
      msg.id = frameId;
      window.parent.postMessage(msg, origin);
    }
  }

  var lastHeight = 0;
  function reportHeight(force) {
    var h = Math.ceil(pageBox.getBoundingClientRect().height);
    if (h > 0 && (force || h !== lastHeight)) {
      lastHeight = h;
      post({ type: 'consentforms:height', height: h });
    }
  }

  // say puts text into the live region, which is only for screen readers
  // (cf-visually-hidden): whatever it says is also on screen elsewhere.
  function say(text) {
    if (status) {
      // Clearing first makes screen readers announce a repeated message.
      status.textContent = '';
      setTimeout(function () { status.textContent = text; }, 50);
    }
  }

  function httpURL(s) {
    try {
      var u = new URL(s, location.href);
      return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
    } catch (e) {
      return '';
    }
  }

  if (embed) {
    window.addEventListener('message', function (e) {
      if (!origin || e.origin !== origin || e.source !== window.parent) {
        return;
      }
      var d = e.data;
      if (d && d.type === 'consentforms:hello') {
        reportHeight(true);
      }
    });
    doc.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') {
        post({ type: 'consentforms:close' });
      }
    });
    if (window.ResizeObserver) {
      new ResizeObserver(function () { reportHeight(false); }).observe(pageBox);
    } else {
      window.addEventListener('resize', function () { reportHeight(false); });
    }
    window.addEventListener('load', function () { reportHeight(true); });
    reportHeight(true);
  }

  // The summary of server-rendered errors takes focus, as in the GOV.UK
  // error summary, so the visitor hears at once what went wrong.
  var summary = doc.getElementById('cf-error-summary');
  if (summary && !summary.hidden && !embed) {
    summary.focus();
  }
  if (!form) {
    return;
  }

  var pageField = form.elements._page_url;
  if (pageField && !pageField.value) {
    var page = httpURL(params.get('page') || (inFrame ? '' : location.href.split('#')[0]));
    if (page && page.length <= 2048) {
      pageField.value = page;
    }
  }

  function data(name) {
    return form.getAttribute('data-msg-' + name) || '';
  }

  // ---- consent boxes ----
  function blocks() {
    return form.querySelectorAll('[data-cf-consent]');
  }
  function boxOf(block) {
    return block.querySelector('input[type=checkbox]');
  }
  function textOf(box) {
    return doc.getElementById(box.getAttribute('aria-controls'));
  }
  function setOpen(box, open) {
    var text = textOf(box);
    if (text) {
      text.open = open;
    }
    box.setAttribute('aria-expanded', open ? 'true' : 'false');
    reportHeight(false);
  }

  // bindConsent wires one consent block: the page's, and any the server
  // sends to replace one whose text changed (see renewConsents).
  function bindConsent(block) {
    var box = boxOf(block);
    var id = block.getAttribute('data-cf-consent');
    var text = textOf(box);
    box.addEventListener('change', function () {
      var touched = form.elements['consent_' + id + '_interacted'];
      if (touched) {
        touched.value = '1';
      }
      // Unticked: the visitor sees what they decline; ticked: it folds away.
      setOpen(box, !box.checked);
      if (box.checked) {
        clearError(block);
      }
    });
    if (text) {
      text.addEventListener('toggle', function () {
        box.setAttribute('aria-expanded', text.open ? 'true' : 'false');
        reportHeight(false);
      });
    }
    var link = block.querySelector('[data-cf-toggle]');
    if (link && text) {
      link.addEventListener('click', function (e) {
        e.preventDefault();
        setOpen(box, !text.open);
      });
    }
  }
  Array.prototype.forEach.call(blocks(), bindConsent);

  // renewConsents puts the current version of each consent whose text
  // changed since the page loaded (the 422 answer's consents) in place of
  // the old box: its text, label and version, unticked, so the visitor
  // reads it and agrees again; the other fields keep what was typed. The
  // markup is the server's own rendering of the box (escaped, the text
  // sanitised), parsed inert in a template element.
  function renewConsents(list) {
    if (!Array.isArray(list)) {
      return;
    }
    list.forEach(function (c) {
      var id = String(c && c.consent_id).replace(/[^0-9]/g, '');
      var old = id && form.querySelector('[data-cf-consent="' + id + '"]');
      if (!old || typeof c.html !== 'string') {
        return;
      }
      var t = doc.createElement('template');
      t.innerHTML = c.html;
      var fresh = t.content.firstElementChild;
      if (!fresh || fresh.getAttribute('data-cf-consent') !== id) {
        return;
      }
      old.parentNode.replaceChild(fresh, old);
      bindConsent(fresh);
    });
    reportHeight(false);
  }

  // ---- errors ----
  function setError(container, input, msg) {
    var slotId = container.hasAttribute('data-cf-consent') ?
      'cf-consent-error-' + container.getAttribute('data-cf-consent') :
      'cf-error-' + container.getAttribute('data-cf-field');
    var slot = doc.getElementById(slotId);
    var inputs = container.querySelectorAll('input, select, textarea');
    var target = container.querySelector('fieldset') || input;
    var ids = (target.getAttribute('aria-describedby') || '').split(' ').filter(function (x) {
      return x && x !== slotId;
    });
    if (slot) {
      slot.querySelector('.cf-error__text').textContent = msg;
      slot.hidden = !msg;
    }
    if (msg) {
      ids.push(slotId);
    }
    if (ids.length) {
      target.setAttribute('aria-describedby', ids.join(' '));
    } else {
      target.removeAttribute('aria-describedby');
    }
    Array.prototype.forEach.call(inputs, function (el) {
      if (el.type === 'hidden') {
        return;
      }
      if (msg) {
        el.setAttribute('aria-invalid', 'true');
      } else {
        el.removeAttribute('aria-invalid');
      }
    });
    container.classList.toggle(container.hasAttribute('data-cf-consent') ? 'cf-consent--error' : 'cf-field--error', !!msg);
  }

  // clearError takes back the error of container, next to it and in the
  // summary, as soon as the visitor has fixed it: a stale alert would tell
  // them the form is still wrong. A new mistake waits for the next send, so
  // the page does not scold while they are still choosing.
  function clearError(container) {
    setError(container, firstInput(container), '');
    var list = summary.querySelector('ul');
    Array.prototype.forEach.call(list.querySelectorAll('a'), function (a) {
      var el = doc.getElementById(a.getAttribute('href').slice(1));
      if (el && container.contains(el)) {
        list.removeChild(a.closest('li'));
      }
    });
    if (!list.querySelector('li')) {
      summary.hidden = true;
    }
    reportHeight(false);
  }

  // A required group is fixed by its first ticked box.
  Array.prototype.forEach.call(form.querySelectorAll('[data-cf-required-group]'), function (group) {
    group.addEventListener('change', function () {
      if (group.querySelector('input:checked')) {
        clearError(group);
      }
    });
  });

  function firstInput(container) {
    return container.querySelector('input:not([type=hidden]), select, textarea');
  }

  // showErrors marks every entry of errs (key -> message, with consent
  // keys as "consent.<id>") at its field and lists it in the summary.
  function showErrors(errs) {
    var list = summary.querySelector('ul');
    list.textContent = '';
    Array.prototype.forEach.call(form.querySelectorAll('[data-cf-field], [data-cf-consent]'), function (c) {
      setError(c, firstInput(c), '');
    });
    var first = null;
    Object.keys(errs).forEach(function (key) {
      var msg = String(errs[key]);
      var container = key.indexOf('consent.') === 0 ?
        form.querySelector('[data-cf-consent="' + key.slice(8).replace(/[^0-9]/g, '') + '"]') :
        form.querySelector('[data-cf-field="' + key.replace(/[^a-z0-9_]/g, '') + '"]');
      var li = doc.createElement('li');
      if (container) {
        var label = container.getAttribute('data-label') || '';
        // formbuilder fragments ("is required") need their subject.
        if (label && msg.charAt(0) !== msg.charAt(0).toUpperCase()) {
          msg = label + ' ' + msg;
        }
        var input = firstInput(container);
        setError(container, input, msg);
        var a = doc.createElement('a');
        a.href = '#' + input.id;
        a.textContent = msg;
        li.appendChild(a);
        first = first || input;
      } else {
        li.textContent = msg;
      }
      list.appendChild(li);
    });
    summary.hidden = !list.firstChild;
    reportHeight(false);
    return first;
  }

  summary.addEventListener('click', function (e) {
    var a = e.target.closest('a');
    var el = a && doc.getElementById(a.getAttribute('href').slice(1));
    if (el) {
      e.preventDefault();
      el.focus();
      var c = el.closest('[data-cf-field], [data-cf-consent]');
      if (c) {
        c.scrollIntoView({ block: 'start' });
      }
    }
  });

  // ---- submit ----
  var button = form.querySelector('button[type=submit]');
  var buttonText = button ? button.textContent : '';
  var busy = false;
  form.noValidate = true;

  function check() {
    var errs = {};
    var bad = null;
    Array.prototype.forEach.call(blocks(), function (block) {
      var box = boxOf(block);
      if (block.getAttribute('data-required') === '1' && !box.checked) {
        errs['consent.' + block.getAttribute('data-cf-consent')] = block.getAttribute('data-required-msg');
        bad = bad || box;
      }
    });
    Array.prototype.forEach.call(form.querySelectorAll('[data-cf-required-group]'), function (group) {
      if (!group.querySelector('input:checked')) {
        errs[group.getAttribute('data-cf-field')] = group.getAttribute('data-required-msg');
        bad = bad || firstInput(group);
      }
    });
    if (bad) {
      showErrors(errs);
      bad.focus();
      return false;
    }
    return true;
  }

  form.addEventListener('submit', function (e) {
    if (busy) {
      e.preventDefault();
      return;
    }
    if (!check()) {
      e.preventDefault();
      return;
    }
    if (!form.checkValidity()) {
      e.preventDefault();
      form.reportValidity();
      return;
    }
    if (!window.fetch) {
      return;
    }
    e.preventDefault();
    send();
  });

  function send() {
    busy = true;
    if (button) {
      button.setAttribute('aria-disabled', 'true');
      button.textContent = data('sending');
    }
    say(data('sending'));
    // URL-encoded like the no-JS post, so the server parses one format.
    var body = new URLSearchParams(new FormData(form));
    fetch(form.action, {
      method: 'POST',
      body: body,
      headers: { Accept: 'application/json' },
      credentials: 'same-origin'
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (d) {
        done(res.status, d || {});
      });
    }, function () {
      done(0, { error: { message: data('network') } });
    }).then(function () {
      busy = false;
      if (button) {
        button.removeAttribute('aria-disabled');
        button.textContent = buttonText;
      }
    });
  }

  function done(code, d) {
    if (code >= 200 && code < 300) {
      success(d);
      return;
    }
    var err = d.error || {};
    var token = d.token || err.token;
    if (typeof token === 'string' && form.elements._token) {
      form.elements._token.value = token;
    }
    renewConsents(d.consents);
    var errs = err.fields && typeof err.fields === 'object' ? err.fields : {};
    if (!Object.keys(errs).length) {
      errs = { '': err.message || data('failed') };
    }
    showErrors(errs);
    say('');
    summary.focus();
  }

  function success(d) {
    var redirect = d.redirect_url ? httpURL(d.redirect_url) : '';
    if (redirect) {
      if (embed && inFrame && origin) {
        post({ type: 'consentforms:redirect', url: redirect });
      } else {
        location.href = redirect;
        return;
      }
    }
    var box = doc.createElement('div');
    box.className = 'cf-success';
    box.id = 'cf-success';
    box.tabIndex = -1;
    var h = doc.createElement('h2');
    h.className = 'cf-success__title';
    h.textContent = data('thanks-title');
    var p = doc.createElement('p');
    p.className = 'cf-success__message';
    p.textContent = typeof d.message === 'string' && d.message ? d.message : data('thanks');
    box.appendChild(h);
    box.appendChild(p);
    // Consents that count only once confirmed by the link in a mail.
    var said = p.textContent;
    (Array.isArray(d.to_confirm) ? d.to_confirm : []).forEach(function (label) {
      if (typeof label !== 'string' || !label) {
        return;
      }
      var c = doc.createElement('p');
      c.className = 'cf-success__confirm';
      c.textContent = data('confirm-sent').replace('{name}', label);
      box.appendChild(c);
      said += ' ' + c.textContent;
    });
    if (typeof d.preview_note === 'string' && d.preview_note) {
      // An admin's dry run: nothing was stored, and no links came.
      var note = doc.createElement('p');
      note.className = 'cf-preview__done';
      note.textContent = d.preview_note;
      box.appendChild(note);
    }
    // appendLinks adds the intro and the list of links to the box, if
    // there are links.
    function appendLinks(listClass, introClass, introKey, links) {
      if (!links.length) {
        return;
      }
      var intro = doc.createElement('p');
      intro.className = introClass;
      intro.textContent = data(introKey);
      var ul = doc.createElement('ul');
      ul.className = listClass;
      links.forEach(function (a) {
        var li = doc.createElement('li');
        li.appendChild(a);
        ul.appendChild(li);
      });
      box.appendChild(intro);
      box.appendChild(ul);
    }
    var withdraws = [];
    (Array.isArray(d.withdraw_links) ? d.withdraw_links : []).forEach(function (l) {
      var url = l && httpURL(l.url);
      if (url) {
        var a = doc.createElement('a');
        a.href = url;
        a.target = '_blank';
        a.rel = 'noopener';
        a.textContent = data('withdraw-link').replace('{name}', String(l.label || ''));
        withdraws.push(a);
      }
    });
    appendLinks('cf-success__links', 'cf-success__withdraw', 'withdraw-intro', withdraws);
    // Each signed receipt is offered as a file; the link carries the token
    // itself (a data: URL), as on the page without JavaScript.
    var receipts = [];
    (Array.isArray(d.receipts) ? d.receipts : []).forEach(function (r) {
      var jws = r && typeof r.jws === 'string' ? r.jws : '';
      var id = r && typeof r.record_id === 'number' ? r.record_id : 0;
      if (!/^[A-Za-z0-9_.-]+$/.test(jws) || id <= 0) {
        return;
      }
      var a = doc.createElement('a');
      a.href = 'data:application/jose,' + jws;
      a.download = 'consent-receipt-' + id + '.jws';
      a.type = 'application/jose';
      a.textContent = data('receipt-link').replace('{name}', String(r.label || ''));
      receipts.push(a);
    });
    appendLinks('cf-success__receipts', 'cf-success__receipt', 'receipt-intro', receipts);
    form.parentNode.replaceChild(box, form);
    var title = doc.querySelector('.cf-title');
    if (title && !embed) {
      title.hidden = true;
    }
    box.focus();
    say(said);
    reportHeight(false);
  }
})();
