/* consentforms admin: small enhancements. Every page works without this
   file; it adds copy buttons, confirmations, the live consent preview and
   shows only the inputs that apply. Loaded with defer, no inline code. */
(function () {
  'use strict';

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute('content') : '';
  }

  // texts are the page's words in its language (the body's data-texts).
  var texts = {};
  try { texts = JSON.parse(document.body.getAttribute('data-texts')) || {}; } catch (e) { texts = {}; }
  function t(key) { return typeof texts[key] === 'string' ? texts[key] : key; }

  /* Copy buttons: navigator.clipboard where allowed, else select the text
     and try execCommand, leaving it selected for Ctrl+C as a last resort. */
  function initCopy() {
    var buttons = document.querySelectorAll('[data-copy]');
    Array.prototype.forEach.call(buttons, function (btn) {
      var target = document.getElementById(btn.getAttribute('data-copy'));
      if (!target) { return; }
      var status = btn.parentNode.querySelector('.copy-status');
      btn.hidden = false;
      btn.addEventListener('click', function () {
        var text = target.value !== undefined ? target.value : target.textContent;
        function done(ok) {
          if (status) {
            status.textContent = ok ? t('copied') : t('copy_manual');
          }
        }
        function fallback() {
          target.focus();
          if (target.select) { target.select(); }
          var ok = false;
          try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
          done(ok);
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  /* Confirmation before destructive posts (archive, remove, detach). */
  function initConfirm() {
    var forms = document.querySelectorAll('form[data-confirm]');
    Array.prototype.forEach.call(forms, function (f) {
      f.addEventListener('submit', function (ev) {
        if (!window.confirm(f.getAttribute('data-confirm'))) { ev.preventDefault(); }
      });
    });
  }

  /* Consent editor: standard consents take text and label from the
     template, so those inputs are read-only while "standard" is chosen. */
  function initConsentType() {
    var radios = document.querySelectorAll('input.js-type');
    if (!radios.length) { return; }
    var form = radios[0].form;
    var inputs = form.querySelectorAll('.js-text, .js-label');
    function update() {
      var std = form.querySelector('input.js-type[value="standard"]');
      Array.prototype.forEach.call(inputs, function (el) { el.readOnly = !!(std && std.checked); });
    }
    Array.prototype.forEach.call(radios, function (r) { r.addEventListener('change', update); });
  }

  /* Live preview of the consent text: the server sanitises with the same
     policy as on save and answers an HTML fragment. */
  function initPreview() {
    var ta = document.querySelector('textarea[data-preview]');
    if (!ta || !window.fetch) { return; }
    var box = document.getElementById(ta.getAttribute('data-preview'));
    if (!box) { return; }
    var timer = null;
    var seq = 0;
    function refresh() {
      var mine = ++seq;
      var body = new URLSearchParams();
      body.set('text', ta.value);
      fetch('/admin/consents/preview', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrfToken(), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: body.toString()
      }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html !== null && mine === seq) { box.innerHTML = html; }
      }).catch(function () { /* keep the last preview */ });
    }
    ta.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
  }

  /* Label preview: the %…% part shown underlined, as text (never HTML). */
  function initLabelPreview() {
    var input = document.querySelector('input.js-label');
    var out = document.getElementById('label-preview');
    if (!input || !out) { return; }
    input.addEventListener('input', function () {
      var s = input.value.replace(/%%/g, '\u0000');
      var a = s.indexOf('%');
      var b = a < 0 ? -1 : s.indexOf('%', a + 1);
      function lit(x) { return x.replace(/\u0000/g, '%'); }
      while (out.firstChild) { out.removeChild(out.firstChild); }
      var box = document.createElement('span');
      box.setAttribute('aria-hidden', 'true');
      box.textContent = '\u2610 ';
      out.appendChild(box);
      if (b < 0 || s.slice(a + 1, b).trim() === '') {
        out.appendChild(document.createTextNode(lit(s)));
        return;
      }
      out.appendChild(document.createTextNode(lit(s.slice(0, a))));
      var u = document.createElement('u');
      u.textContent = lit(s.slice(a + 1, b));
      out.appendChild(u);
      out.appendChild(document.createTextNode(lit(s.slice(b + 1))));
    });
  }

  /* Errors: move focus to the summary so screen readers announce it. */
  function initErrors() {
    var sum = document.getElementById('error-summary');
    if (sum) { sum.focus(); }
  }

  function init() {
    initCopy();
    initConfirm();
    initConsentType();
    initPreview();
    initLabelPreview();
    initErrors();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
