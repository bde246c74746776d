// Draws every chart on a console page from the JSON the server wrote beside its canvas
// (console/_chart.html). The numbers are also in the table under each chart.
(function () {
  "use strict";
  function dataset(series, kind) {
    var line = (series.kind || kind) === "line";
    return {
      type: line ? "line" : "bar",
      label: series.label,
      data: series.values,
      backgroundColor: series.colour,
      borderColor: series.colour,
      borderWidth: line ? 2 : 0,
      pointRadius: line ? 2 : 0,
      stack: series.stack || undefined,
      yAxisID: series.axis === "y2" ? "y2" : "y",
      order: line ? 0 : 1,
    };
  }
  function draw(canvas) {
    var spec = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
    var stacked = spec.series.some(function (s) { return s.stack; });
    var scales = {
      x: { stacked: stacked, ticks: { autoSkip: true, maxRotation: 0 } },
      y: { stacked: stacked, beginAtZero: true, title: { display: !!spec.unit, text: spec.unit } },
    };
    if (spec.series.some(function (s) { return s.axis === "y2"; })) {
      scales.y2 = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                    title: { display: !!spec.unit2, text: spec.unit2 } };
    }
    new window.Chart(canvas, {
      type: spec.kind === "line" ? "line" : "bar",
      data: { labels: spec.labels, datasets: spec.series.map(function (s) { return dataset(s, spec.kind); }) },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: scales,
      },
    });
    canvas.dataset.drawn = "yes";  // browser tests wait for this
  }
  function drawAll() {
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", drawAll); } else { drawAll(); }
})();
