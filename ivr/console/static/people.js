// People's data page: shows the answer of the subject API (export, restrict, lift, erase)
// in the #result region. Texts come from the region's data-l-* attributes (the catalogue).
"use strict";

(function () {
  const form = document.getElementById("subject");
  const out = document.getElementById("result");
  if (!form || !out) return;
  const L = (name) => out.dataset["l" + name.charAt(0).toUpperCase() + name.slice(1)] || name;

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function table(rows) {
    const t = el("table", null, { id: "held" });
    const head = el("tr");
    head.append(el("th", L("section"), { scope: "col" }), el("th", L("count"), { scope: "col" }));
    t.append(el("thead")); t.tHead.append(head);
    const body = el("tbody");
    for (const [name, count] of rows) {
      const tr = el("tr");
      tr.append(el("td", name), el("td", count));
      body.append(tr);
    }
    t.append(body);
    return t;
  }

  form.addEventListener("linja:answer", (event) => {
    const { status, body, api } = event.detail;
    out.replaceChildren();
    if (status < 200 || status >= 300 || !body) { out.hidden = true; return; }
    out.hidden = false;
    if (api.endsWith("/export")) {
      out.append(el("h2", L("held")));
      out.append(table(Object.entries(body.subject.counts || {})));
      out.append(el("p", L("bundle") + ": " + body.bundle));
      out.append(el("p", L("expires") + ": " + body.expires_at));
      const raw = el("details");
      raw.append(el("summary", L("raw")), el("pre", JSON.stringify(body.subject, null, 2)));
      out.append(raw);
    } else if (api.endsWith("/erase")) {
      out.append(el("h2", L("erased")));
      out.append(table(Object.entries(body.counts || {})));
      out.append(el("p", "ledger " + body.ledger_id, { "data-ledger": body.ledger_id }));
    } else if (api.endsWith("/unrestrict")) {
      out.append(el("p", L("lifted") + ": " + body.lifted));
    } else if (api.endsWith("/restrict")) {
      out.append(el("p", L("restricted") + ": " + body.cases_marked));
    }
  });
})();
