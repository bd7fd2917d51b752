/* Deals board: drag a card to another column (SortableJS), or use its "Move to…" select or its
   Won/Lost buttons. Each move is POSTed with the card's version; the server answers with the fresh
   card and how the figures of the columns involved change (the moved deal's converted amounts). A conflict (409) shows the current card, a
   refusal puts the card back. A lost stage asks for a reason first. No inline script (CSP). */
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

  function amount(value) {
    var rounded = Math.round(value * 100) / 100;
    return (rounded === 0 ? 0 : rounded).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
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
      if (totalEl) totalEl.textContent = amount(total) + " " + figures.dataset.base;
      var weightedEl = figures.querySelector("[data-weighted]");
      if (weightedEl) weightedEl.textContent = "weighted " + amount(weighted);
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

  // Drag and drop between columns.
  if (window.Sortable) {
    board.querySelectorAll(".board-cards").forEach(function (list) {
      window.Sortable.create(list, {
        group: "deals",
        sort: false,
        animation: 120,
        draggable: ".deal-card",
        filter: "select, button, input",
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

  // The keyboard alternative: "Move to…" select on each card.
  board.addEventListener("change", function (event) {
    var select = event.target.closest("[data-move-select]");
    if (!select || !select.value) return;
    var card = select.closest(".deal-card");
    var option = select.options[select.selectedIndex];
    var origin = originOf(card);
    var stageId = select.value;
    select.value = "";
    move(card, stageId, option.dataset.kind, origin);
  });

  // Won / Lost buttons.
  board.addEventListener("click", function (event) {
    var button = event.target.closest("[data-move-to]");
    if (button) {
      var card = button.closest(".deal-card");
      move(card, button.dataset.moveTo, button.dataset.kind, originOf(card));
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
})();
