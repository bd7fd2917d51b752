/* Forecast page: the bar chart per owner, data from the json_script block (no inline script: strict CSP). */
(function () {
  "use strict";

  var canvas = document.getElementById("forecast-chart");
  var source = document.getElementById("forecast-data");
  if (!canvas || !source || typeof window.Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var names = data.labels_by_series;
  var colours = {
    closed_won: "#1f8a4c",
    commit: "#2f5fd0",
    best_case: "#7c9be6",
    pipeline: "#c4cfe9"
  };
  var money = new Intl.NumberFormat(document.documentElement.dataset.locale || undefined, { style: "currency", currency: data.currency, maximumFractionDigits: 0 });

  var datasets = ["closed_won", "commit", "best_case", "pipeline"].map(function (key) {
    return {
      type: "bar",
      label: names[key],
      data: data.series[key],
      backgroundColor: colours[key],
      borderRadius: 3,
      order: 2
    };
  });
  if (data.quota.some(function (q) { return q !== null; })) {
    datasets.push({
      type: "line",
      label: "Quota",
      data: data.quota,
      borderColor: "#d0442f",
      backgroundColor: "#d0442f",
      pointRadius: Math.max(12, Math.min(60, 220 / Math.max(1, data.labels.length))),
      pointHoverRadius: Math.max(12, Math.min(60, 220 / Math.max(1, data.labels.length))),
      pointBorderWidth: 3,
      pointHoverBorderWidth: 3,
      pointStyle: "line",
      showLine: false,
      spanGaps: false,
      order: 1
    });
  }

  new window.Chart(canvas, {
    data: { labels: data.labels, datasets: datasets },
    options: {
      responsive: true,
      maintainAspectRatio: true,
      aspectRatio: window.innerWidth < 700 ? 1.2 : 2.8,
      interaction: { mode: "index", intersect: false },
      scales: {
        y: { beginAtZero: true, ticks: { callback: function (v) { return money.format(v); } } }
      },
      plugins: {
        legend: { position: "bottom", labels: { usePointStyle: true, pointStyleWidth: 18 } },
        tooltip: {
          callbacks: {
            label: function (ctx) {
              return ctx.dataset.label + ": " + (ctx.parsed.y === null ? "—" : money.format(ctx.parsed.y));
            }
          }
        }
      }
    }
  });
})();
