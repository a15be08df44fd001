// Linja console: every form.api-form sends its fields as JSON to its data-api URL (the same
// JSON API the CLI's operations sit behind) with the session's CSRF token, and shows the
// answer (a 401 to a request marked X-Linja-Console carries no Basic challenge, so the
// browser opens no password dialog): problem+json field errors beside the fields, nothing changed; on success
// data-then says what next ("reload", "none", or a local path). The form then receives a
// "linja:answer" event with {detail: {status, body}} for page scripts that show the answer.
"use strict";

(function () {
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  function say(form, text) {
    const status = form.querySelector("[data-form-status]");
    if (status) status.textContent = text || "";
  }

  function clear(form) {
    for (const el of form.querySelectorAll("[data-error-for]")) {
      el.textContent = "";
      const field = el.closest(".field");
      if (field) field.classList.remove("invalid");
    }
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const box = form.querySelector("[data-form-errors]");
    if (box) { box.textContent = ""; box.hidden = true; }
    say(form, "");
  }

  function showProblem(form, problem, status) {
    const own = status && form.getAttribute("data-status-" + status);
    if (own) problem = Object.assign({}, problem, { detail: own });
    const errors = (problem && typeof problem.errors === "object" && problem.errors) || {};
    const slots = new Map();
    for (const el of form.querySelectorAll("[data-error-for]")) slots.set(el.dataset.errorFor, el);
    const rest = [];
    let first = null;
    for (const [name, message] of Object.entries(errors)) {
      // "numbers[1]" (an item of a list field) lands beside the list's field
      const slot = slots.get(name) || slots.get(name.replace(/\[\d+\]$/, ""));
      if (!slot) { rest.push(name + ": " + message); continue; }
      slot.textContent = String(message);
      const field = slot.closest(".field");
      if (field) field.classList.add("invalid");
      const input = form.elements.namedItem(slot.dataset.errorFor);
      if (input && input.setAttribute) {
        input.setAttribute("aria-invalid", "true");
        if (!first) first = input;
      }
    }
    const box = form.querySelector("[data-form-errors]");
    if (box) {
      const lines = [];
      // Errors shown beside their fields: say so in the page's language, not the API's.
      if (first && form.dataset.invalid) lines.push(form.dataset.invalid);
      else if (problem && problem.detail) lines.push(String(problem.detail));
      else if (problem && problem.title) lines.push(String(problem.title));
      lines.push(...rest);
      box.textContent = lines.join(" · ");
      box.hidden = lines.length === 0;
    }
    if (first) first.focus();
  }

  // A field marked data-only is sent only by a submit button whose data-fields names it; one
// marked data-list is sent as a list of its items (separated by commas or semicolons).
  function collect(form, submitter) {
    const body = {};
    const query = new URLSearchParams();
    const extra = ((submitter && submitter.dataset.fields) || "").split(" ");
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.dataset.local !== undefined) continue;
      if (el.dataset.only !== undefined && !extra.includes(el.name)) continue;
      let value;
      if (el.type === "checkbox") value = el.checked;
      else if (el.type === "number" && el.value !== "") value = Number(el.value);
      else if (el.dataset.list !== undefined) value = el.value.split(/[,;\n]+/).map((v) => v.trim()).filter(Boolean);
      else value = el.value;
      const blank = value === "" || (Array.isArray(value) && value.length === 0);
      if (el.dataset.optional !== undefined && blank) continue;
      if (el.dataset.in === "query") { if (value !== "") query.set(el.name, String(value)); }
      else body[el.name] = value;
    }
    return { body, query };
  }

  // The submit button may name its own data-api, data-method and data-then.
  async function send(form, submitter) {
    clear(form);
    const own = (submitter && submitter.dataset) || {};
    const { body, query } = collect(form, submitter);
    const method = (own.method || form.dataset.method || "POST").toUpperCase();
    let url = own.api || form.dataset.api;
    const qs = query.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
    const headers = { "Accept": "application/json", "X-Linja-Console": "1" };
    const token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    const init = { method, headers, credentials: "same-origin" };
    if (method !== "GET" && method !== "DELETE" && Object.keys(body).length > 0) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const buttons = form.querySelectorAll("button[type=submit]");
    for (const b of buttons) b.disabled = true;
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      showProblem(form, { detail: String(err) });
      for (const b of buttons) b.disabled = false;
      return;
    }
    for (const b of buttons) b.disabled = false;
    let answer = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) answer = await response.json();
    const detail = { status: response.status, body: answer, api: url, submitter };
    form.dispatchEvent(new CustomEvent("linja:answer", { detail }));
    if (!response.ok) {
      showProblem(form, answer || { detail: response.status + " " + response.statusText }, response.status);
      return;
    }
    const then = own.then || form.dataset.then || "reload";
    if (then === "reload") window.location.reload();
    else if (then.startsWith("/")) window.location.assign(then);
    else say(form, form.dataset.done || "OK");
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.api-form");
    if (!form) return;
    event.preventDefault();
    const submitter = event.submitter && event.submitter.form === form ? event.submitter : null;
    const dialogId = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (dialogId && form.dataset.confirmed !== "yes") {
      const dialog = document.getElementById(dialogId);
      if (dialog && dialog.showModal) {
        dialog.dataset.form = form.id;
        dialog.dataset.submitter = (submitter && submitter.id) || "";
        dialog.showModal();
        return;
      }
    }
    form.dataset.confirmed = "";
    send(form, submitter);
  });

  // A confirmation <dialog> has a button[data-confirm-yes] and one [data-confirm-no].
  document.addEventListener("click", (event) => {
    const yes = event.target.closest("[data-confirm-yes]");
    const no = event.target.closest("[data-confirm-no]");
    const dialog = (yes || no) && (yes || no).closest("dialog");
    if (!dialog) return;
    event.preventDefault();
    dialog.close();
    const form = document.getElementById(dialog.dataset.form || "");
    const submitter = document.getElementById(dialog.dataset.submitter || "");
    if (yes && form) { form.dataset.confirmed = "yes"; form.requestSubmit(submitter || undefined); }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-logout]");
    if (!button) return;
    const headers = { "X-CSRF-Token": csrf(), "X-Linja-Console": "1" };
    await fetch("/api/logout", { method: "POST", headers, credentials: "same-origin" });
    window.location.assign("/login");
  });
})();
