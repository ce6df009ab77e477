// Draws each usage chart from the numbers the server put in its data-chart attribute (the page
// shows the same numbers as a table, so nothing depends on this script but the picture).
// Amounts arrive as decimal strings and become numbers here only to be drawn.
(function () {
  "use strict";
  var palette = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4d7c0f"];
  var charts = [];
  window.downbeatCharts = charts;

  function cssColor(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function draw(element) {
    var chart = JSON.parse(element.getAttribute("data-chart"));
    var text = cssColor("--text", "#1f2937");
    var rule = cssColor("--rule", "#e5e7eb");
    var colors = [cssColor("--accent", palette[0])].concat(palette.slice(1));
    var data = [chart.days];
    var series = [{ label: "day (UTC)" }];
    chart.series.forEach(function (line, index) {
      data.push(line.totals.map(Number));
      series.push({
        label: line.label,
        stroke: colors[index % colors.length],
        width: 2,
        value: function (u, v) { return v == null ? "" : v.toFixed(2) + " " + chart.currency; }
      });
    });
    var width = Math.max(320, element.clientWidth || 640);
    var plot = new uPlot(
      {
        width: width,
        height: 280,
        series: series,
        scales: { x: { time: true } },
        axes: [
          { stroke: text, grid: { stroke: rule }, ticks: { stroke: rule } },
          { stroke: text, grid: { stroke: rule }, ticks: { stroke: rule }, label: chart.currency }
        ]
      },
      data,
      element
    );
    element.setAttribute("data-drawn-points", String(plot.data[0].length));
    charts.push(plot);
  }

  function start() {
    var elements = document.querySelectorAll(".spend-chart[data-chart]");
    for (var i = 0; i < elements.length; i++) {
      draw(elements[i]);
    }
    document.documentElement.setAttribute("data-charts-drawn", String(charts.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
