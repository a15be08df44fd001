// Bulletins page: "Preview" speaks the text through POST /api/bulletins/preview and plays it
// here before anything is published (an uploaded audio file: upload.js).
"use strict";

(function () {
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-preview-for]");
    if (!button) return;
    const id = button.dataset.previewFor;
    const form = document.getElementById(id);
    const player = document.querySelector(`[data-preview-audio="${id}"]`);
    const slot = form.querySelector('[data-error-for="text"]');
    const text = form.elements.namedItem("text");
    slot.textContent = "";
    text.removeAttribute("aria-invalid");
    const body = { text: text.value, language: form.elements.namedItem("language").value };
    const response = await fetch("/api/bulletins/preview", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(), "X-Linja-Console": "1" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      slot.textContent = (problem.errors && problem.errors.text) || problem.detail || String(response.status);
      text.setAttribute("aria-invalid", "true");
      text.focus();
      return;
    }
    const blob = await response.blob();
    if (player.src) URL.revokeObjectURL(player.src);
    player.src = URL.createObjectURL(blob);
    player.hidden = false;
    player.dataset.bytes = String(blob.size);
  });
})();
