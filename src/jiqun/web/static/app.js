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

  // "lines": one line per series ({x, series: [{name, data}], percent}), e.g. weekly share.
  function lines(data) {
    var unit = data.percent ? "%" : "";
    return {
      animation: false,
      grid: { left: 8, right: 8, top: 8, bottom: 36, containLabel: true },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v == null ? "—" : v + unit; } },
      legend: { type: "scroll", bottom: 0 },
      xAxis: { type: "category", data: data.x, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", axisLabel: { formatter: "{value}" + unit },
               splitLine: { lineStyle: { color: "#eee" } } },
      series: data.series.map(function (s) {
        return { name: s.name, type: "line", data: s.data, showSymbol: false, connectNulls: false };
      })
    };
  }

  function draw(el) {
    var source = document.getElementById(el.id + "-data");
    if (!source || !window.echarts) { return; }
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    var data = JSON.parse(source.textContent);
    var opts = el.dataset.chart === "lines" ? lines(data) : option(el.dataset.chart, data);
    chart.setOption(opts);
    window.addEventListener("resize", function () { chart.resize(); });
    el.dataset.drawn = "true";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]:not([data-drawn])").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // <select data-autosubmit> submits its form on change (no inline handlers under the CSP).
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-autosubmit]")) { e.target.form.submit(); }
  });
  document.addEventListener("htmx:afterSwap", function (e) { drawAll(e.target); });
})();

// Header menus: opening one group closes the others; a click elsewhere closes them all.
(function () {
  "use strict";
  var groups = document.querySelectorAll(".nav-group");
  groups.forEach(function (group) {
    group.addEventListener("toggle", function () {
      if (!group.open) { return; }
      groups.forEach(function (other) { if (other !== group) { other.open = false; } });
    });
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest(".nav-group")) { return; }
    groups.forEach(function (group) { group.open = false; });
  });
})();
