// Draws every chart on the page: <div data-chart="daily|monthly" id="X"> with its data in
// <script type="application/json" id="X-data">. SVG rendering: crisp on phones, light on memory.
(function () {
  "use strict";

  function option(kind, data) {
    var monthly = kind === "monthly";
    return {
      animation: false,
      grid: { left: 8, right: 8, top: 36, bottom: monthly ? 8 : 40, containLabel: true },
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: [data.names.parcels, data.names.revenue] },
      xAxis: { type: "category", data: data.x, axisLabel: { hideOverlap: true } },
      yAxis: [
        { type: "value", name: "", splitLine: { lineStyle: { color: "#eee" } } },
        { type: "value", name: "", splitLine: { show: false } }
      ],
      dataZoom: monthly ? [] : [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
      series: [
        { name: data.names.parcels, type: monthly ? "bar" : "line", data: data.parcels,
          showSymbol: false, itemStyle: { color: "#0b7a3b" }, areaStyle: monthly ? null : { opacity: 0.08 } },
        { name: data.names.revenue, type: "line", yAxisIndex: 1, data: data.revenue,
          showSymbol: false, itemStyle: { color: "#c0392b" } }
      ]
    };
  }

  function draw(el) {
    var source = document.getElementById(el.id + "-data");
    if (!source || !window.echarts) { return; }
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option(el.dataset.chart, JSON.parse(source.textContent)));
    window.addEventListener("resize", function () { chart.resize(); });
    el.dataset.drawn = "true";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]:not([data-drawn])").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (e) { drawAll(e.target); });
})();
