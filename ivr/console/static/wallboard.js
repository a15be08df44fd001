// The wallboard page: the document from the tenant's event stream (a snapshot, then deltas
// applied in order; the browser's EventSource reconnects by itself with Last-Event-ID), and
// the times in state counted up every second on the server's clock.
(function () {
  "use strict";
  const root = document.getElementById("wallboard");
  if (!root || !window.EventSource) return;
  const lang = document.documentElement.lang || "fi";
  const none = root.dataset.none;
  let doc = null;
  let offset = 0; // server clock minus ours, in ms

  function clock(now) {
    const t = Date.parse(now);
    if (!Number.isNaN(t)) offset = t - Date.now();
  }

  function apply(change) {
    const path = change.path;
    let node = doc;
    for (let i = 0; i < path.length - 1; i++) {
      if (typeof node[path[i]] !== "object" || node[path[i]] === null) node[path[i]] = {};
      node = node[path[i]];
    }
    const last = path[path.length - 1];
    if (change.remove) delete node[last];
    else node[last] = change.value;
  }

  function number(v, digits) {
    return Number(v).toLocaleString(lang, {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    });
  }

  function duration(since) {
    if (!since) return none;
    const s = Math.max(0, Math.floor((Date.now() + offset - Date.parse(since)) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }

  function set(card, field, text) {
    const el = card.querySelector('[data-field="' + field + '"]');
    if (el && el.textContent !== String(text)) el.textContent = text;
    return el;
  }

  function stateName(s) {
    return root.getAttribute("data-name-" + s) || s;
  }

  function paintCard(card, q, waiting) {
    const today = q.today;
    set(card, "waiting", waiting);
    set(card, "longest", none).dataset.since = q.longest_since || "";
    set(card, "service_level", today.service_level == null ? none : number(today.service_level, 1) + " %");
    set(card, "asa", today.asa == null ? none : number(today.asa, 1) + " s");
    ["offered", "answered", "abandoned", "abandoned_short", "overflowed"].forEach(function (k) {
      set(card, k, today[k]);
    });
    set(card, "callbacks", root.dataset.callbacksText
      .replace("{pending}", q.callbacks.pending).replace("{due}", q.callbacks.due));
    card.querySelectorAll("[data-count]").forEach(function (el) {
      el.textContent = q.by_state[el.dataset.count] || 0;
    });
  }

  function paintCallers(list, waiting) {
    list.replaceChildren();
    if (!waiting.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = list.dataset.empty;
      list.append(li);
      return;
    }
    waiting.forEach(function (w) {
      const li = document.createElement("li");
      li.dataset.call = w.id;
      li.dataset.since = w.since;
      if (w.ringing) li.dataset.ringing = root.dataset.ringingText;
      list.append(li);
    });
  }

  function paintAgents(body) {
    body.replaceChildren();
    Object.keys(doc.agents).sort().forEach(function (id) {
      const a = doc.agents[id];
      const tr = document.createElement("tr");
      tr.dataset.agent = id;
      tr.dataset.state = a.state;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = id;
      const state = document.createElement("td");
      state.className = "st-" + a.state;
      state.textContent = stateName(a.state) + (a.reason ? " (" + a.reason + ")" : "");
      const since = document.createElement("td");
      since.dataset.since = a.since || "";
      const queue = document.createElement("td");
      queue.textContent = a.queue || "";
      tr.append(th, state, since, queue);
      body.append(tr);
    });
  }

  function paintNodes(list) {
    if (!list || !doc.nodes) return;
    list.replaceChildren();
    doc.nodes.forEach(function (n) {
      const li = document.createElement("li");
      li.dataset.node = n.node;
      li.dataset.up = n.up ? "yes" : "no";
      li.className = n.up ? "node-up" : "node-down";
      const word = n.up ? list.dataset.upText : (n.stopped ? list.dataset.stoppedText : list.dataset.downText);
      li.textContent = n.node + ": " + word + " ";
      const since = document.createElement("span");
      since.dataset.since = n.since;
      li.append(since);
      list.append(li);
    });
  }

  function paint() {
    root.querySelectorAll("[data-queue]").forEach(function (card) {
      const name = card.dataset.queue;
      if (name === "") {
        paintCard(card, doc.totals, doc.totals.waiting);
        return;
      }
      const q = doc.queues[name];
      if (!q) return;
      paintCard(card, q, q.waiting.length);
      paintCallers(card.querySelector('[data-field="callers"]'), q.waiting);
    });
    paintAgents(root.querySelector('[data-field="agents"]'));
    paintNodes(root.querySelector('[data-field="nodes"]'));
    tick();
  }

  function tick() {
    root.querySelectorAll("[data-since]").forEach(function (el) {
      const text = duration(el.dataset.since) + (el.dataset.ringing ? " · " + el.dataset.ringing : "");
      if (el.textContent !== text) el.textContent = text;
    });
  }

  function status(live) {
    const el = root.querySelector('[data-field="status"]');
    el.textContent = live ? root.dataset.liveText : root.dataset.offlineText;
    el.classList.toggle("offline", !live);
    root.dataset.live = live ? "1" : "0";
  }

  clock(root.dataset.now);
  tick();
  const source = new EventSource(root.dataset.stream);
  source.addEventListener("open", function () { status(true); });
  source.addEventListener("error", function () { status(false); });
  source.addEventListener("snapshot", function (e) {
    const data = JSON.parse(e.data);
    clock(data.now);
    doc = data;
    root.dataset.seq = data.seq;
    paint();
  });
  source.addEventListener("delta", function (e) {
    const data = JSON.parse(e.data);
    clock(data.now);
    if (!doc) return;
    data.changes.forEach(apply);
    root.dataset.seq = data.seq;
    paint();
  });
  setInterval(tick, 1000);
})();
