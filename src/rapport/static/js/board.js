/* Deals board: drag a card to another column (SortableJS), or use the card's menu (Move to…, Won,
   Lost…, Log call…, Plan activity…). Each move is POSTed with the card's version; the server answers
   with the fresh card and how the figures of the columns involved change (the moved deal's converted
   amounts). A conflict (409) shows the current card, a refusal puts the card back. A lost stage asks
   for a reason first. Logging a call or planning an activity opens the deal's quick form in a dialog
   (htmx); once saved, the card is fetched again to show its new next activity. Only cards the user may
   change can be dragged. No inline script or style (CSP). */
(function () {
  "use strict";

  var board = document.getElementById("board");
  if (!board) return;
  var csrf = board.dataset.csrf || "";
  var params = board.dataset.params || "";
  var message = document.getElementById("board-message");
  var dialog = document.getElementById("lost-dialog");

  function say(text, kind) {
    if (!message) return;
    message.textContent = text;
    message.className = "board-message flash flash-" + (kind || "info");
    message.hidden = !text;
  }

  function column(stageId) {
    return document.getElementById("cards-" + stageId);
  }

  function fromHTML(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    return tpl.content.firstElementChild;
  }

  function updateHeads(heads) {
    Object.keys(heads || {}).forEach(function (stageId) {
      var head = board.querySelector('[data-head="' + stageId + '"]');
      if (head) head.innerHTML = heads[stageId];
    });
  }

  // The base currency in the user's locale (the page's <html data-locale>), as the server writes it.
  function amount(value, currency) {
    var rounded = Math.round(value * 100) / 100;
    var options = currency ? { style: "currency", currency: currency } : { minimumFractionDigits: 2, maximumFractionDigits: 2 };
    return new Intl.NumberFormat(document.documentElement.dataset.locale || "en-US", options).format(rounded === 0 ? 0 : rounded);
  }

  // Add a moved deal's own figures (the answer's "deltas", by stage) to the column heads, as the
  // server would have aggregated them: the answer does not re-aggregate both columns.
  function applyDeltas(deltas) {
    Object.keys(deltas || {}).forEach(function (stageId) {
      var figures = board.querySelector('[data-head="' + stageId + '"] [data-figures]');
      if (!figures) return;
      var d = deltas[stageId];
      var n = parseInt(figures.dataset.n, 10) + d.count;
      var total = parseFloat(figures.dataset.totalValue) + parseFloat(d.total);
      var weighted = parseFloat(figures.dataset.weightedValue) + parseFloat(d.weighted);
      var withoutRate = parseInt(figures.dataset.withoutRateN, 10) + d.without_rate;
      figures.dataset.n = n;
      figures.dataset.totalValue = total.toFixed(2);
      figures.dataset.weightedValue = weighted.toFixed(2);
      figures.dataset.withoutRateN = withoutRate;
      var count = figures.querySelector("[data-count]");
      if (count) count.textContent = n + " deal" + (n === 1 ? "" : "s");
      var totalEl = figures.querySelector("[data-total]");
      if (totalEl) totalEl.textContent = amount(total, figures.dataset.base);
      var weightedEl = figures.querySelector("[data-weighted]");
      if (weightedEl) weightedEl.textContent = "weighted " + amount(weighted, figures.dataset.base);
      var badge = figures.querySelector("[data-without-rate]");
      if (withoutRate > 0) {
        if (!badge) {
          badge = document.createElement("span");
          badge.className = "badge badge-warning";
          badge.setAttribute("data-without-rate", "");
          badge.title = "No exchange rate in force for their currency on their close date; not in the totals";
          figures.appendChild(badge);
        }
        badge.textContent = withoutRate + " without rate";
      } else if (badge) {
        badge.remove();
      }
    });
  }

  // Ask for a lost reason; resolves with the reason id, or null when cancelled.
  function askReason(card) {
    return new Promise(function (resolve) {
      if (!dialog) { resolve(null); return; }
      var form = document.getElementById("lost-form");
      var select = document.getElementById("lost-reason");
      var error = document.getElementById("lost-error");
      var cancel = dialog.querySelector("[data-lost-cancel]");
      document.getElementById("lost-deal").textContent = card.dataset.title || "";
      select.value = "";
      error.hidden = true;
      function finish(value) {
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        resolve(value);
      }
      function onSubmit(event) {
        event.preventDefault();
        if (!select.value) { error.hidden = false; select.focus(); return; }
        finish(select.value);
      }
      function onCancel(event) { event.preventDefault(); finish(null); }
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      select.focus();
    });
  }

  // Put a card back where it was before a refused or cancelled move.
  function putBack(card, origin) {
    if (!origin) return;
    origin.parent.insertBefore(card, origin.next && origin.next.parentNode === origin.parent ? origin.next : null);
    card.focus();
  }

  function send(card, stageId, origin, reason) {
    var body = new FormData();
    body.append("stage", stageId);
    body.append("version", card.dataset.version);
    if (reason) body.append("lost_reason", reason);
    card.classList.add("is-saving");
    return fetch("/deals/" + card.dataset.deal + "/move/" + params, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    }).then(function (result) {
      card.classList.remove("is-saving");
      var data = result.data;
      if (result.status === 200 || result.status === 409) {
        var fresh = fromHTML(data.card);
        var target = column(data.stage);
        card.remove();
        if (target) {
          if (target.firstElementChild) target.insertBefore(fresh, target.firstElementChild);
          else target.appendChild(fresh);
        }
        updateHeads(data.heads);
        applyDeltas(data.deltas);
        if (result.status === 409) {
          fresh.classList.add("is-conflict");
          say(data.error, "warning");
        } else {
          say("Moved “" + fresh.dataset.title + "”.", "success");
        }
        fresh.focus();
        return;
      }
      putBack(card, origin);
      say(data.error || "The deal was not moved (error " + result.status + ").", "error");
    }).catch(function () {
      card.classList.remove("is-saving");
      putBack(card, origin);
      say("The deal was not moved: the server could not be reached.", "error");
    });
  }

  // Move a card (already placed in its new column, or not yet) to a stage.
  function move(card, stageId, kind, origin) {
    if (kind === "lost") {
      return askReason(card).then(function (reason) {
        if (!reason) { putBack(card, origin); say("", ""); return; }
        return send(card, stageId, origin, reason);
      });
    }
    return send(card, stageId, origin, null);
  }

  function originOf(card) {
    return { parent: card.parentNode, next: card.nextElementSibling };
  }

  // Drag and drop between columns: only for a user who may change deals, and only their cards.
  if (window.Sortable && board.hasAttribute("data-can-move")) {
    board.querySelectorAll(".board-cards").forEach(function (list) {
      window.Sortable.create(list, {
        group: "deals",
        sort: false,
        animation: 120,
        draggable: ".deal-card[data-can-change]",
        filter: "select, button, input, a",
        preventOnFilter: false,
        ghostClass: "is-ghost",
        onEnd: function (event) {
          if (event.from === event.to) return;
          var card = event.item;
          var origin = { parent: event.from, next: event.from.children[event.oldIndex] || null };
          move(card, event.to.dataset.stage, event.to.dataset.kind, origin);
        },
      });
    });
  }

  // --- the card menu ---------------------------------------------------------------------------
  var menu = document.getElementById("deal-menu");
  var menuCard = null;
  var menuButton = null;

  function menuItems() {
    return Array.prototype.filter.call(menu.querySelectorAll("[role=menuitem]"), function (item) {
      return !item.hidden && !item.closest("[hidden]");
    });
  }

  function closeMenu(returnFocus) {
    if (!menu || menu.hidden) return;
    menu.hidden = true;
    if (menuButton) {
      menuButton.setAttribute("aria-expanded", "false");
      if (returnFocus) menuButton.focus();
    }
    menuCard = null;
    menuButton = null;
  }

  function placeMenu(button) {
    // Fixed to the viewport beside the button, flipped up or left when it would not fit: the
    // board's scrolling columns never cut it off.
    var rect = button.getBoundingClientRect();
    var width = menu.offsetWidth;
    var height = menu.offsetHeight;
    var left = Math.min(rect.right - width, window.innerWidth - width - 8);
    var top = rect.bottom + 4;
    if (top + height > window.innerHeight - 8) top = Math.max(8, rect.top - height - 4);
    menu.style.left = Math.max(8, left) + "px";
    menu.style.top = top + "px";
  }

  function openMenu(button, focusLast) {
    var card = button.closest(".deal-card");
    closeMenu(false);
    menuCard = card;
    menuButton = button;
    var canChange = card.hasAttribute("data-can-change");
    var open = card.dataset.status === "open";
    menu.querySelectorAll("[data-menu-part=change]").forEach(function (part) { part.hidden = !canChange; });
    menu.querySelectorAll("[data-menu-part=log]").forEach(function (part) {
      part.hidden = !card.hasAttribute("data-can-log");
    });
    menu.querySelectorAll("[data-menu-move]").forEach(function (item) {
      var kind = item.dataset.kind;
      // Not the card's own stage; Won and Lost close open deals only (a closed one is reopened by a move).
      item.hidden = item.dataset.menuMove === card.dataset.stage || (kind !== "open" && !open);
    });
    menu.querySelectorAll("[data-menu-log]").forEach(function (item) {
      var url = "/deals/" + card.dataset.deal + "/quicklog/" + item.dataset.menuLog + "/";
      item.href = url + "?next=" + encodeURIComponent(board.dataset.back || "/deals/board/");
    });
    // A separator only between shown items.
    var before = false;
    Array.prototype.forEach.call(menu.children, function (group) {
      var sep = group.querySelector(".deal-menu-sep");
      var shown = !group.hidden && Array.prototype.some.call(group.querySelectorAll("[role=menuitem]"), function (i) {
        return !i.hidden;
      });
      if (sep) sep.hidden = !before;
      group.hidden = !shown;
      if (shown) before = true;
    });
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    placeMenu(button);
    var items = menuItems();
    if (items.length) items[focusLast ? items.length - 1 : 0].focus();
  }

  // --- logging from a card: the quick form in a dialog ------------------------------------------
  var logDialog = document.getElementById("log-dialog");
  var logSlot = document.getElementById("log-slot");
  var logCard = null;

  function openLog(card, kind, href) {
    if (!logDialog || !window.htmx) { window.location.href = href; return; }
    logCard = card;
    logSlot.innerHTML = "";
    document.getElementById("log-deal").textContent = card.dataset.title || "";
    window.htmx.ajax("GET", "/deals/" + card.dataset.deal + "/quicklog/" + kind + "/", {
      target: "#log-slot", swap: "innerHTML",
    }).then(function () {
      if (!logDialog.open) logDialog.showModal();
      var first = logSlot.querySelector("input:not([type=hidden]), textarea, select");
      if (first) first.focus();
    });
  }

  function closeLog() {
    if (logDialog && logDialog.open) logDialog.close();
  }

  if (logDialog) {
    logDialog.addEventListener("close", function () {
      logSlot.innerHTML = "";
      if (logCard && document.body.contains(logCard)) logCard.focus();
      logCard = null;
    });
    logDialog.addEventListener("click", function (event) {
      if (event.target.closest("[data-quicklog-close]")) { event.preventDefault(); closeLog(); }
    });
    // Once the quick form is saved (its answer shows "Saved …"), close the dialog and fetch the card
    // again to show its new next activity in place.
    document.body.addEventListener("htmx:afterSwap", function () {
      var saved = logDialog.open ? logSlot.querySelector(".flash-success") : null;
      if (!saved) return;
      var card = logCard;
      say(saved.textContent, "success");
      closeLog();
      if (!card) return;
      var dealId = card.dataset.deal;
      fetch("/deals/" + dealId + "/card/" + params, {
        credentials: "same-origin", headers: { "Accept": "text/html" },
      }).then(function (response) {
        return response.ok ? response.text() : null;
      }).then(function (html) {
        // The card as it is on the page now: an earlier refresh may have replaced the element the
        // dialog was opened from while this save was under way.
        var live = document.querySelector('.deal-card[data-deal="' + dealId + '"]');
        var fresh = html ? fromHTML(html) : null;
        if (fresh && live) {
          live.replaceWith(fresh);
          fresh.focus();
        }
      });
    });
  }

  if (menu) {
    menu.addEventListener("click", function (event) {
      var item = event.target.closest("[role=menuitem]");
      if (!item || !menuCard) return;
      var card = menuCard;
      if (item.dataset.menuMove) {
        closeMenu(false);
        move(card, item.dataset.menuMove, item.dataset.kind, originOf(card));
      } else if (item.dataset.menuLog) {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1) { closeMenu(false); return; }
        event.preventDefault();
        closeMenu(false);
        openLog(card, item.dataset.menuLog, item.href);
      }
    });
    menu.addEventListener("keydown", function (event) {
      var items = menuItems();
      var index = items.indexOf(document.activeElement);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        items[(index + step + items.length) % items.length].focus();
      } else if (event.key === "Home" || event.key === "End") {
        event.preventDefault();
        items[event.key === "Home" ? 0 : items.length - 1].focus();
      } else if (event.key === "Escape") {
        event.preventDefault();
        closeMenu(true);
      } else if (event.key === "Tab") {
        closeMenu(true);
      } else if (event.key === " " && document.activeElement.tagName === "A") {
        event.preventDefault();
        document.activeElement.click();
      }
    });
    document.addEventListener("click", function (event) {
      if (!menu.hidden && !menu.contains(event.target) && !event.target.closest("[data-card-menu]")) closeMenu(false);
    });
    window.addEventListener("resize", function () { closeMenu(false); });
    board.addEventListener("scroll", function () { closeMenu(false); }, true);
  }

  board.addEventListener("keydown", function (event) {
    var button = event.target.closest("[data-card-menu]");
    if (button && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      openMenu(button, event.key === "ArrowUp");
    }
  });

  board.addEventListener("click", function (event) {
    var button = event.target.closest("[data-card-menu]");
    if (button && menu) {
      if (!menu.hidden && menuButton === button) closeMenu(true);
      else openMenu(button, false);
      return;
    }
    var toggle = event.target.closest("[data-toggle-col]");
    if (toggle) {
      var col = toggle.closest(".board-col");
      var collapsed = col.classList.toggle("is-collapsed");
      toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
      toggle.textContent = collapsed ? "Show cards" : "Hide cards";
    }
  });

  // The pipeline switch applies on change.
  document.querySelectorAll("[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
