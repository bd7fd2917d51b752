/* List pages: clean filter URLs, "select all N matching" and the bulk progress bar.
   Loaded by web/list.html; no inline script (strict CSP). */
(function () {
  "use strict";

  // Clean URLs: a GET form marked data-clean-get submits only the fields that have a value
  // (the server redirects to the same clean address when JavaScript is off).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-clean-get]")) return;
    var emptied = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && !el.disabled && el.value === "" && el.type !== "submit") {
        el.disabled = true;
        emptied.push(el);
      }
    });
    // Enable them again for when the user comes back to this page (back/forward cache).
    window.setTimeout(function () { emptied.forEach(function (el) { el.disabled = false; }); }, 0);
  });
})();

/* "Select all N matching": once the whole page is ticked, offer every record that matches the
   list; the bulk form then sends scope=matching with the list's filters instead of row ids. */
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) return;
  var banner = document.querySelector("[data-select-matching]");
  var scope = form.querySelector("[data-bulk-scope]");
  var apply = form.querySelector("[data-confirm-delete]");
  var pageConfirm = apply ? apply.dataset.confirmDelete : "";

  function rows() { return document.querySelectorAll("input[name=ids]"); }
  function allTicked() {
    var boxes = rows();
    if (!boxes.length) return false;
    return Array.prototype.every.call(boxes, function (b) { return b.checked; });
  }
  function setMatching(on) {
    scope.value = on ? "matching" : "";
    if (apply) apply.dataset.confirmDelete = on ? apply.dataset.confirmDeleteMatching : pageConfirm;
    if (!banner) return;
    banner.querySelectorAll("[data-matching-on]").forEach(function (el) { el.hidden = !on; });
    banner.querySelectorAll("[data-matching-off]").forEach(function (el) { el.hidden = on; });
  }
  function sync() {
    var ticked = allTicked();
    if (banner) banner.hidden = !ticked;
    if (!ticked) setMatching(false);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-select-all], input[name=ids]")) {
      // app.js ticks the rows on the same event; look once it has.
      window.setTimeout(sync, 0);
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-select-matching-on]")) setMatching(true);
    else if (event.target.closest("[data-select-matching-off]")) {
      rows().forEach(function (b) { b.checked = false; });
      var all = document.querySelector("[data-select-all]");
      if (all) all.checked = false;
      sync();
    }
  });
  sync();
})();
