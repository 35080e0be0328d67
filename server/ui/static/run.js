// Argus run page: follows a run's output and state without reloading the
// page (a reload would lose the reader's place). Plain script, served by
// argus-server under CSP default-src 'self': no inline code, no library.
// The output is untrusted: it only ever enters the page as text nodes.
'use strict';
(function () {
  const log = document.getElementById('log');
  const note = document.getElementById('log-state');
  if (!log) return;
  const src = log.dataset.src;
  let decoder = new TextDecoder('utf-8'); // bytes may end mid-character
  let offset = 0;
  let skew = 0; // server clock minus browser clock, in ms

  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  // atBottom: the reader follows the end (or has not scrolled at all).
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 8;

  // append adds output; it scrolls along only for a reader at the end, so
  // one who scrolled up to read keeps their place.
  function append(node) {
    const follow = atBottom();
    log.appendChild(node);
    if (follow) log.scrollTop = log.scrollHeight;
  }

  function appendText(text) {
    if (text) append(document.createTextNode(text));
  }

  // gap shows where the server's cap dropped part of the output.
  function gap(n) {
    appendText(decoder.decode()); // the end of a character cut by the gap
    decoder = new TextDecoder('utf-8');
    const mark = document.createElement('span');
    mark.className = 'gap';
    mark.textContent = '\n… ' + n + ' bytes dropped …\n';
    append(mark);
  }

  // follow reads the log from offset 0 to its end, one held read after
  // another, and backs off (1 s doubling to 30 s) while reads fail.
  async function follow() {
    let backoff = 1000;
    for (;;) {
      let res;
      try {
        res = await fetch(src + '?offset=' + offset + '&wait=25s', { credentials: 'same-origin', cache: 'no-store' });
      } catch (e) {
        res = null;
      }
      const next = res && res.ok ? res.headers.get('Argus-Log-Next') : null;
      if (next === null) { // network error, or not the log (a sign-in page after the session ended)
        if (res && (res.status === 403 || res.status === 404)) {
          setNote('output unavailable (' + res.status + ')');
          return;
        }
        if (res && res.redirected) { // to the sign-in page: retrying cannot help
          setNote('signed out: sign in again and reload this page');
          return;
        }
        setNote('reconnecting…');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 30000);
        continue;
      }
      backoff = 1000;
      const start = Number(res.headers.get('Argus-Log-Offset'));
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (start > offset) gap(start - offset);
      appendText(decoder.decode(bytes, { stream: true }));
      offset = Number(next);
      if (res.headers.get('Argus-Log-Complete') === 'true') {
        appendText(decoder.decode());
        setNote('');
        refreshStatus(true);
        return;
      }
      setNote('following…');
    }
  }

  function setNote(text) {
    if (note) note.textContent = text;
  }

  // refreshStatus re-reads this page and swaps in its status section when
  // the run's state changed. untilEnded: the log is complete, so the run
  // has ended; try a few times should the page lag behind.
  async function refreshStatus(untilEnded) {
    for (let i = 0; i < (untilEnded ? 5 : 1); i++) {
      try {
        const res = await fetch(location.pathname, { credentials: 'same-origin', cache: 'no-store' });
        if (res.ok) {
          const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
          const fresh = doc.getElementById('run-status');
          const cur = document.getElementById('run-status');
          if (fresh && cur && fresh.dataset.state !== cur.dataset.state) {
            if (window.argusLocalTimes) window.argusLocalTimes(fresh);
            cur.replaceWith(document.adoptNode(fresh));
            readClock();
          }
          if (fresh && fresh.dataset.following !== 'true') return;
        }
      } catch (e) { /* the next tick tries again */ }
      if (untilEnded) await sleep(1000);
    }
  }

  function readClock() {
    const st = document.getElementById('run-status');
    if (st && st.dataset.now) skew = Date.parse(st.dataset.now) - Date.now();
  }

  // duration formats ms as Go does (1h2m3s), like the server's figure.
  function duration(ms) {
    let s = Math.max(0, Math.round(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    s %= 60;
    if (h) return h + 'h' + m + 'm' + s + 's';
    if (m) return m + 'm' + s + 's';
    return s + 's';
  }

  // tick updates the elapsed time of a running run every second, and
  // re-reads the status every 5 s (queued → running, a stop on its way).
  let ticks = 0;
  function tick() {
    const st = document.getElementById('run-status');
    const el = document.getElementById('elapsed');
    if (!st || st.dataset.following !== 'true') return;
    if (el && st.dataset.started && !st.dataset.ended) {
      el.textContent = duration(Date.now() + skew - Date.parse(st.dataset.started));
    }
    if (++ticks % 5 === 0) refreshStatus(false);
  }

  readClock();
  setInterval(tick, 1000);
  follow();
})();
