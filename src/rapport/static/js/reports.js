/* Report builder and dashboards: Chart.js charts from json_script blocks (no inline script: strict
   CSP), drill-down on click, PNG download, auto-submitting selectors, widgets dragged into order. */
(function () {
  "use strict";

  var locale = document.documentElement.dataset.locale || undefined;
  var palette = ["#2f5fd0", "#1f8a4c", "#d0442f", "#e0a100", "#7b4fc9", "#1b9aaa", "#c2458a", "#6b7a8f", "#8fb339", "#f26b38"];

  function formatter(data) {
    if (data.kind === "money" && data.currency) {
      return new Intl.NumberFormat(locale, { style: "currency", currency: data.currency, maximumFractionDigits: 0 });
    }
    if (data.kind === "percent") {
      return { format: function (v) { return new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(v) + "%"; } };
    }
    return new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
  }

  function draw(canvas) {
    if (typeof window.Chart === "undefined") return;
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var old = window.Chart.getChart(canvas);
    if (old) old.destroy();
    var fmt = formatter(data);
    var kind = data.chart;
    var type = { bar: "bar", stacked_bar: "bar", line: "line", area: "line", pie: "pie", funnel: "bar" }[kind] || "bar";
    var round = type === "pie";
    var datasets = data.datasets.map(function (ds, i) {
      var colour = palette[i % palette.length];
      return {
        label: ds.label,
        data: ds.data,
        backgroundColor: round ? ds.data.map(function (_, j) { return palette[j % palette.length]; }) : (kind === "area" ? colour + "55" : colour),
        borderColor: round ? "#fff" : colour,
        fill: kind === "area",
        tension: 0.2,
        borderRadius: type === "bar" ? 3 : 0
      };
    });
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: kind === "funnel" ? "y" : "x",
      onClick: function (event, elements) {
        if (!elements.length) return;
        var el = elements[0];
        var url = data.datasets[el.datasetIndex].urls[el.index];
        if (url) window.location.href = url;
      },
      onHover: function (event, elements) {
        var el = elements[0];
        var url = el && data.datasets[el.datasetIndex].urls[el.index];
        event.native.target.style.cursor = url ? "pointer" : "default";
      },
      plugins: {
        legend: { display: round || data.datasets.length > 1, position: "bottom" },
        tooltip: {
          callbacks: {
            label: function (ctx) {
              var v = round ? ctx.parsed : (kind === "funnel" ? ctx.parsed.x : ctx.parsed.y);
              return ctx.dataset.label + ": " + (v === null || v === undefined ? "—" : fmt.format(v));
            }
          }
        }
      }
    };
    if (!round) {
      var valueAxis = { beginAtZero: true, stacked: kind === "stacked_bar", ticks: { callback: function (v) { return fmt.format(v); } } };
      var labelAxis = { stacked: kind === "stacked_bar" };
      options.scales = kind === "funnel" ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis };
    }
    new window.Chart(canvas, { type: type, data: { labels: data.labels, datasets: datasets }, options: options });
  }

  function init(root) {
    root.querySelectorAll("canvas[data-chart]").forEach(draw);
    root.querySelectorAll("[data-hide-with-script]").forEach(function (el) { el.hidden = true; });
    root.querySelectorAll("form[data-auto-submit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit(); });
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-chart-png]");
    if (!button || typeof window.Chart === "undefined") return;
    var chart = window.Chart.getChart(document.getElementById(button.dataset.chartPng));
    if (!chart) return;
    var link = document.createElement("a");
    link.href = chart.toBase64Image("image/png", 1);
    link.download = (document.title.split("·")[0].trim() || "report").replace(/[^\w-]+/g, "-") + ".png";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });

  // Filters left at "any" stay out of the address (a period left empty means all time: it stays).
  document.addEventListener("submit", function (event) {
    var emptied = [];
    event.target.querySelectorAll("[data-omit-empty]").forEach(function (el) {
      if (el.value === "") { el.disabled = true; emptied.push(el); }
    });
    window.setTimeout(function () { emptied.forEach(function (el) { el.disabled = false; }); }, 0);
  });

  // After settling: htmx settles width and height attributes, which would undo the chart's canvas size.
  document.body.addEventListener("htmx:afterSettle", function (event) { init(event.target); });

  var grid = document.getElementById("dashboard-grid");
  if (grid && grid.dataset.arrange && window.Sortable) {
    window.Sortable.create(grid, {
      handle: ".widget-handle",
      animation: 150,
      onEnd: function () {
        var order = Array.prototype.map.call(grid.querySelectorAll("[data-id]"), function (el) { return el.dataset.id; });
        fetch(grid.dataset.arrange, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": grid.dataset.csrf, "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json" },
          body: "order=" + encodeURIComponent(order.join(","))
        });
      }
    });
  }

  init(document);
})();
