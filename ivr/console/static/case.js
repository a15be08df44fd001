// Case page: a transcript's "show" form asks GET /api/transcripts/{id} (the API writes the
// listening event before it answers) and puts the redacted text below the button. Refusals
// and other problems are shown in the form by console.js; nothing is kept after a reload.
"use strict";

(function () {
  for (const form of document.querySelectorAll("form[data-transcript-form]")) {
    const id = form.dataset.transcriptForm;
    const out = document.querySelector(`[data-transcript-text="${CSS.escape(id)}"]`);
    if (!out) continue;
    form.addEventListener("linja:answer", (event) => {
      const { status, body } = event.detail;
      if (status === 200 && body && typeof body.text === "string") {
        out.textContent = body.text;
        out.hidden = false;
      } else {
        out.textContent = "";
        out.hidden = true;
      }
    });
  }
})();
