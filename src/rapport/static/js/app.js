/* Rapport pages: keyboard shortcut, live search, dependent selects, repeated rows, bulk actions and
   confirmations. No inline scripts anywhere (strict CSP): everything is wired here by data-attributes. */
(function () {
  "use strict";

  function isTyping(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  // Global search: "/" focuses the box; the results panel under it is a listbox the box controls
  // (ARIA combobox): ↑ ↓ move through the hits (focus stays in the box, aria-activedescendant
  // follows), Enter opens the chosen hit (or the search page when none is chosen), Esc closes the
  // panel and a second Esc leaves the box. Clicking elsewhere closes it.
  function searchParts() {
    var box = document.getElementById("global-search");
    return { box: box, live: document.getElementById("search-live") };
  }
  function searchHits(live) {
    return live ? Array.prototype.slice.call(live.querySelectorAll("[role=option]")) : [];
  }
  function closeSearch(p) {
    if (p.live) p.live.innerHTML = "";
    if (p.box) {
      p.box.setAttribute("aria-expanded", "false");
      p.box.removeAttribute("aria-activedescendant");
    }
  }
  function chooseHit(p, hit) {
    searchHits(p.live).forEach(function (h) {
      h.setAttribute("aria-selected", h === hit ? "true" : "false");
      h.classList.toggle("is-active", h === hit);
    });
    if (hit) {
      p.box.setAttribute("aria-activedescendant", hit.id);
      hit.scrollIntoView({ block: "nearest" });
    } else {
      p.box.removeAttribute("aria-activedescendant");
    }
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    var p = searchParts();
    if (!p.live || event.target !== p.live) return;
    var open = p.live.children.length > 0;
    p.box.setAttribute("aria-expanded", open ? "true" : "false");
    p.box.removeAttribute("aria-activedescendant");
  });
  document.addEventListener("keydown", function (event) {
    var p = searchParts();
    if (!p.box) return;
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !isTyping(event.target)) {
      event.preventDefault();
      p.box.focus();
      p.box.select();
      return;
    }
    if (event.target !== p.box) return;
    var hits = searchHits(p.live);
    var current = hits.indexOf(document.getElementById(p.box.getAttribute("aria-activedescendant") || ""));
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!hits.length) return;
      event.preventDefault();
      var next = event.key === "ArrowDown" ? current + 1 : current - 1;
      if (next >= hits.length) next = 0;
      if (next < -1) next = hits.length - 1;
      chooseHit(p, next >= 0 ? hits[next] : null);
    } else if (event.key === "Enter" && current >= 0) {
      event.preventDefault();
      window.location.assign(hits[current].href);
    } else if (event.key === "Escape") {
      event.preventDefault();
      if (p.live && p.live.children.length) closeSearch(p);
      else p.box.blur();
    }
  });

  // Close the live results when clicking elsewhere.
  document.addEventListener("click", function (event) {
    var p = searchParts();
    if (p.live && !event.target.closest(".global-search")) closeSearch(p);
  });

  // A select whose options depend on another one (a deal's stages on its pipeline): data-follows names
  // the leading select's id, data-options maps its value to [[value, label], ...] and data-defaults to
  // the option chosen after a change. An input's placeholder follows a select by data-placeholder-from.
  document.addEventListener("change", function (event) {
    var leader = event.target;
    if (!leader.id || leader.tagName !== "SELECT") return;
    var id = window.CSS && CSS.escape ? CSS.escape(leader.id) : leader.id;
    document.querySelectorAll('select[data-follows="' + id + '"]').forEach(function (select) {
      var options = JSON.parse(select.dataset.options || "{}")[leader.value] || [];
      var defaults = JSON.parse(select.dataset.defaults || "{}");
      while (select.options.length) select.remove(0);
      options.forEach(function (o) { select.add(new Option(o[1], o[0])); });
      select.value = defaults[leader.value] || (options.length ? options[0][0] : "");
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
    document.querySelectorAll('[data-placeholder-from="' + id + '"]').forEach(function (input) {
      input.placeholder = JSON.parse(input.dataset.placeholders || "{}")[leader.value] || "";
    });
  });

  // Repeated rows (emails, phones): add another, remove, keep primary radios numbered.
  function renumber(container) {
    container.querySelectorAll("[data-row]").forEach(function (row, i) {
      row.querySelectorAll("input[type=radio]").forEach(function (radio) { radio.value = String(i); });
    });
  }
  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (add) {
      var container = add.closest("[data-rows]");
      var rows = container.querySelectorAll("[data-row]");
      var last = rows[rows.length - 1];
      var copy = last.cloneNode(true);
      copy.classList.remove("has-error");
      copy.querySelectorAll(".errorlist").forEach(function (e) { e.remove(); });
      copy.querySelectorAll("input").forEach(function (input) {
        input.removeAttribute("id");
        if (input.type === "radio") input.checked = false; else input.value = "";
      });
      copy.querySelectorAll("select").forEach(function (s) { s.selectedIndex = 0; });
      container.insertBefore(copy, add);
      renumber(container);
      var first = copy.querySelector("input:not([type=radio])");
      if (first) first.focus();
      return;
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var box = remove.closest("[data-rows]");
      var row = remove.closest("[data-row]");
      if (box.querySelectorAll("[data-row]").length > 1) {
        row.remove();
      } else {
        row.querySelectorAll("input").forEach(function (input) {
          if (input.type === "radio") input.checked = true; else input.value = "";
        });
      }
      renumber(box);
    }
  });

  // Only one dropdown panel (filters, columns, views) open at a time.
  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!opened.matches || !opened.matches("details.dropdown") || !opened.open) return;
    document.querySelectorAll("details.dropdown[open]").forEach(function (d) { if (d !== opened) d.open = false; });
  }, true);
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return; // a picker closed its list first
    document.querySelectorAll("details.dropdown[open]").forEach(function (d) {
      d.open = false;
      d.querySelector("summary").focus();
    });
  });

  // Bulk actions: select all, show only the input the chosen action needs, confirm deletes.
  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t.matches("[data-select-all]")) {
      document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = t.checked; });
    } else if (t.matches("[data-bulk-action]")) {
      syncBulk(t);
    }
  });
  function syncBulk(select) {
    var form = select.form;
    form.querySelectorAll("[data-bulk-for]").forEach(function (el) {
      el.hidden = el.dataset.bulkFor.split(" ").indexOf(select.value) < 0;
    });
  }
  document.querySelectorAll("[data-bulk-action]").forEach(syncBulk);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    var action = form.querySelector("[data-bulk-action]");
    if (action && action.value === "delete") {
      var button = form.querySelector("[data-confirm-delete]");
      if (button && !window.confirm(button.dataset.confirmDelete)) event.preventDefault();
    }
  });
})();
