/* Line-item editor (deal line items and draft quote lines): add a product or free-text line,
   remove, reorder (drag with SortableJS or the arrow buttons), fill price and tax from the chosen
   product, live net and totals. Saving posts the whole list in page order (htmx or plain form).
   Also the print button of the printable quote. No inline scripts (strict CSP). */
(function () {
  "use strict";

  function num(value) {
    var n = parseFloat(String(value || "").replace(",", "."));
    return isNaN(n) ? null : n;
  }

  // The editor says its currency, how many decimals it has (ISO 4217: JPY none) and the user's locale.
  function formats(form) {
    var places = parseInt(form.dataset.places || "2", 10);
    var locale = form.dataset.locale || "en-US";
    var digits = { minimumFractionDigits: places, maximumFractionDigits: places };
    var amount = new Intl.NumberFormat(locale, digits);
    var money = form.dataset.currency
      ? new Intl.NumberFormat(locale, Object.assign({ style: "currency", currency: form.dataset.currency }, digits))
      : amount;
    var scale = Math.pow(10, places);
    return {
      amount: function (n) { return amount.format(n); },
      money: function (n) { return money.format(n); },
      round: function (n) { return Math.round((n + Number.EPSILON) * scale) / scale; }
    };
  }

  // Live net per row and totals: a preview only, the server recomputes with exact decimals on save.
  function recompute(form) {
    var f = formats(form);
    var subtotal = 0, tax = 0;
    form.querySelectorAll("[data-line-row]").forEach(function (row) {
      var q = num(row.querySelector("[name=quantity]").value);
      var p = num(row.querySelector("[name=unit_price]").value);
      var d = num(row.querySelector("[name=discount_percent]").value) || 0;
      var t = num(row.querySelector("[name=tax_percent]").value) || 0;
      var cell = row.querySelector("[data-line-net]");
      if (q === null || p === null) { if (cell) cell.textContent = ""; return; }
      var net = f.round(q * p * (100 - d) / 100);
      subtotal += net;
      tax += f.round(net * t / 100);
      if (cell) cell.textContent = f.amount(net);
    });
    var set = function (key, value) {
      var el = form.querySelector("[data-total=" + key + "]");
      if (el) el.textContent = f.money(value);
    };
    set("subtotal", subtotal);
    set("tax", tax);
    set("total", subtotal + tax);
  }

  function editorOf(el) {
    return el.closest("[data-line-editor]");
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-line]");
    if (add) {
      var form = editorOf(add);
      var template = form.querySelector("template[data-line-template]");
      var body = form.querySelector("[data-line-rows]");
      var empty = body.querySelector("[data-line-empty]");
      if (empty) empty.remove();
      body.appendChild(template.content.cloneNode(true));
      var row = body.lastElementChild;
      var focus = add.dataset.addLine === "product" ? row.querySelector("[data-product-select] [data-picker-input]") : row.querySelector("[name=name]");
      if (focus) focus.focus();
      return;
    }
    var remove = event.target.closest("[data-remove-line]");
    if (remove) {
      var f = editorOf(remove);
      var tr = remove.closest("[data-line-row]");
      var next = tr.nextElementSibling || tr.previousElementSibling;
      tr.remove();
      recompute(f);
      var target = next && next.querySelector("[data-remove-line]");
      (target || f.querySelector("[data-add-line]")).focus();
      return;
    }
    var move = event.target.closest("[data-move]");
    if (move) {
      var line = move.closest("[data-line-row]");
      if (move.dataset.move === "up" && line.previousElementSibling) {
        line.parentNode.insertBefore(line, line.previousElementSibling);
      } else if (move.dataset.move === "down" && line.nextElementSibling) {
        line.parentNode.insertBefore(line.nextElementSibling, line);
      }
      move.focus();
      return;
    }
    if (event.target.closest("[data-print]")) window.print();
  });

  // Choosing a product in the line's picker (picker.js copies the match's data onto the hidden input)
  // fills its price in the deal's currency, its tax rate and its name, unless the user typed their own.
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-product-select]");
    if (!select || !event.target.matches("[data-picker-value]")) return;
    var row = select.closest("[data-line-row]");
    var option = event.target.value ? event.target.dataset : null;
    var fill = function (name, value) {
      var input = row.querySelector("[name=" + name + "]");
      if (!input) return;
      if (input.value === "" || input.dataset.auto === "1") {
        input.value = value || "";
        input.dataset.auto = "1";
      }
    };
    if (option) {
      fill("name", option.name);
      fill("unit_price", option.price);
      fill("tax_percent", option.tax);
    }
    recompute(editorOf(select));
  });

  document.addEventListener("input", function (event) {
    var input = event.target;
    var form = input.closest && editorOf(input);
    if (!form) return;
    input.dataset.auto = "0";
    recompute(form);
  });

  function initSortable(root) {
    if (typeof window.Sortable === "undefined") return;
    (root.querySelectorAll ? root : document).querySelectorAll("[data-line-rows]").forEach(function (body) {
      if (body.dataset.sortable) return;
      body.dataset.sortable = "1";
      window.Sortable.create(body, { handle: ".drag-handle", draggable: "[data-line-row]", animation: 120 });
    });
  }

  // This script may run before htmx is loaded (the deal page includes it mid-page): wire up once
  // the document is parsed, and again for every piece of content htmx swaps in.
  function start() {
    if (window.htmx) window.htmx.onLoad(initSortable);
    else initSortable(document);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
