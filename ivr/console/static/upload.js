// An audio file chosen in input[type=file][data-audio-for=FORM] goes into that form's hidden
// "audio" field as base64 (the form then posts JSON like every other; the file input itself
// is data-local, never sent). Used by the bulletins and call-out pages.
"use strict";

(function () {
  document.addEventListener("change", (event) => {
    const input = event.target.closest("input[type=file][data-audio-for]");
    if (!input) return;
    const form = document.getElementById(input.dataset.audioFor);
    const hidden = form && form.querySelector("input[name=audio]");
    if (!hidden) return;
    hidden.value = "";
    const file = input.files && input.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result || "");
      hidden.value = url.slice(url.indexOf(",") + 1);
    };
    reader.readAsDataURL(file);
  });
})();
