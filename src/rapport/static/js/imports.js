/* The import page: drop a file on the upload box (or choose one); the chosen name is announced.
   Loaded by imports/index.html; no inline script (strict CSP). */
(function () {
  "use strict";
  var form = document.querySelector("[data-dropzone]");
  if (!form) return;
  var zone = form.querySelector("[data-dropzone-target]");
  var input = form.querySelector("input[type=file]");
  var label = form.querySelector("[data-dropzone-name]");

  function show() {
    if (input.files && input.files.length) label.textContent = "Chosen: " + input.files[0].name;
  }
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("is-dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("is-dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    show();
  });
})();
