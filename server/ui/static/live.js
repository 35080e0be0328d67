// Argus web UI, every page: times in the reader's own zone, and the parts
// of a page that change (sections marked data-live) refreshed in place
// every few seconds, so the page never reloads: scroll position and a
// half-typed stop reason stay. Served by argus-server under its
// Content-Security-Policy (script-src 'self'); without JavaScript a page
// reloads itself instead (<noscript> meta refresh).
(function () {
  'use strict';
  const every = 5000;

  // "2025-03-01 13:00:00 CET": the CLI's layout, in the browser's zone.
  function localText(d) {
    const parts = {};
    new Intl.DateTimeFormat('en-CA', {
      year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
      second: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    }).formatToParts(d).forEach((p) => { parts[p.type] = p.value; });
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
  }

  function localTimes(root) {
    root.querySelectorAll('time[datetime]').forEach((t) => {
      const d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) {
        t.textContent = localText(d);
      }
    });
  }
  // run.js swaps its status section in and calls this on it.
  window.argusLocalTimes = localTimes;

  // busy: the reader is in the middle of something inside el (focus, or
  // text typed into a field), which a swap would throw away.
  function busy(el) {
    if (el.contains(document.activeElement) && document.activeElement !== document.body) {
      return true;
    }
    return Array.from(el.querySelectorAll('input, textarea')).some((f) => f.value !== f.defaultValue);
  }

  // shown is the ETag of the page whose every live part is on screen;
  // while the server answers that it has not changed (304), there is
  // nothing to swap. A part left alone because the reader was busy in it
  // clears it, so that part is swapped on a later refresh.
  let shown = '';

  // refresh re-reads the page and swaps its changed live parts; false
  // when the server did not answer with the page.
  async function refresh(url) {
    const headers = { Accept: 'text/html' };
    if (shown) {
      headers['If-None-Match'] = shown;
    }
    const resp = await fetch(url, { credentials: 'same-origin', cache: 'no-store', headers });
    if (resp.redirected && new URL(resp.url).pathname.endsWith('/login')) {
      window.location.assign(resp.url); // signed out meanwhile
      return true;
    }
    if (resp.status === 304) {
      return true;
    }
    if (!resp.ok) {
      return false;
    }
    const doc = new DOMParser().parseFromString(await resp.text(), 'text/html');
    let skipped = false;
    document.querySelectorAll('[data-live][id]').forEach((cur) => {
      const fresh = doc.getElementById(cur.id);
      if (!fresh) {
        return;
      }
      if (busy(cur)) {
        skipped = true;
        return;
      }
      localTimes(fresh);
      if (fresh.innerHTML !== cur.innerHTML) {
        cur.replaceWith(document.adoptNode(fresh));
      }
    });
    shown = skipped ? '' : (resp.headers.get('ETag') || '');
    return true;
  }

  // start refreshes every 5 s while the page is shown; after a failure
  // (the server away, or overloaded) it waits twice as long each time, up
  // to a minute, so open tabs do not add to a server's trouble.
  function start() {
    localTimes(document);
    const url = document.body.dataset.refresh;
    if (!url || !document.querySelector('[data-live][id]')) {
      return;
    }
    let wait = every;
    let rounds = 0;
    const next = () => setTimeout(tick, wait);
    async function tick() {
      if (document.hidden) {
        next();
        return;
      }
      let ok = false;
      try {
        ok = await refresh(url);
      } catch (e) {
        ok = false;
      }
      wait = ok ? every : Math.min(wait * 2, 60000);
      if (ok) {
        // How many refreshes the page has been through, for a watcher
        // (the browser tests wait on it rather than on the clock).
        document.body.dataset.refreshes = String(++rounds);
      }
      next();
    }
    next();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
