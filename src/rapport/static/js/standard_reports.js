/* Standard report pages (reports/standard_report.html): the chart from the json_script block (no inline script: strict CSP), each bar
   linked to its records, and a clean filter address (empty fields and the custom dates of a preset period are left out). */
(function () {
  "use strict";

  var form = document.querySelector("form[data-report-filters]");
  if (form) {
    var period = form.querySelector("[name=period]");
    var sync = function () {
      var custom = period.value === "custom";
      form.querySelectorAll("[data-custom-date] input").forEach(function (input) { input.disabled = !custom; });
    };
    period.addEventListener("change", sync);
    form.querySelectorAll("[data-custom-date] input").forEach(function (input) {
      input.addEventListener("change", function () { period.value = "custom"; sync(); });
    });
    sync();
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (field) {
        if (!field.value) field.disabled = true;
      });
    });
  }

  var canvas = document.getElementById("report-chart");
  var source = document.getElementById("report-data");
  if (!canvas || !source || typeof window.Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var colours = ["#2f5fd0", "#1f8a4c", "#d0442f", "#c98a1b", "#7c9be6", "#8a4fbf"];
  var locale = document.documentElement.dataset.locale || undefined;
  var money = data.currency ? new Intl.NumberFormat(locale, { style: "currency", currency: data.currency, maximumFractionDigits: 0 }) : null;
  var plain = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  var format = function (kind, v) {
    if (v === null || v === undefined) return "—";
    if (kind === "money" && money) return money.format(v);
    if (kind === "percent") return plain.format(v) + "%";
    return plain.format(v);
  };
  var kind = data.datasets.length ? data.datasets[0].kind : "count";
  var line = data.type === "line";
  new window.Chart(canvas, {
    type: line ? "line" : "bar",
    data: {
      labels: data.labels,
      datasets: data.datasets.map(function (d, i) {
        return {
          label: d.label,
          data: d.data,
          backgroundColor: colours[i % colours.length],
          borderColor: colours[i % colours.length],
          borderRadius: line ? 0 : 3,
          tension: 0,
          spanGaps: true
        };
      })
    },
    options: {
      responsive: true,
      maintainAspectRatio: true,
      aspectRatio: window.innerWidth < 700 ? 1.2 : 2.8,
      interaction: { mode: "index", intersect: false },
      // A bar (or point) opens the records behind it, like the same figure's link in the table.
      onClick: function (event, elements, chart) {
        var el = chart.getElementsAtEventForMode(event.native, "nearest", { intersect: true }, true)[0];
        var urls = el && data.datasets[el.datasetIndex].urls;
        if (urls && urls[el.index]) window.location.href = urls[el.index];
      },
      onHover: function (event, elements, chart) {
        var el = chart.getElementsAtEventForMode(event.native, "nearest", { intersect: true }, true)[0];
        var urls = el && data.datasets[el.datasetIndex].urls;
        event.native.target.style.cursor = urls && urls[el.index] ? "pointer" : "default";
      },
      scales: {
        y: {
          beginAtZero: true,
          ticks: { precision: kind === "count" ? 0 : undefined, callback: function (v) { return format(kind, v); } }
        }
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: {
          callbacks: {
            label: function (ctx) { return ctx.dataset.label + ": " + format(data.datasets[ctx.datasetIndex].kind, ctx.parsed.y); }
          }
        }
      }
    }
  });
})();
