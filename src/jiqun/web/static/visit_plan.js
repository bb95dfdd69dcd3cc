// The route of the visit plan: <div data-route-map id="X"> with its data in
// <script type="application/json" id="X-data"> — the outlet, the numbered stops and the legs,
// drawn on plain lon/lat axes (no tile server: nothing leaves the machine).
(function () {
  "use strict";

  function option(data) {
    return {
      animation: false,
      grid: { left: 8, right: 8, top: 28, bottom: 8, containLabel: true },
      tooltip: { trigger: "item", formatter: function (p) { return p.name || ""; } },
      legend: { top: 0, data: [data.names.outlet, data.names.stops] },
      xAxis: { type: "value", scale: true, axisLabel: { show: false }, splitLine: { lineStyle: { color: "#f0f0f0" } } },
      yAxis: { type: "value", scale: true, axisLabel: { show: false }, splitLine: { lineStyle: { color: "#f0f0f0" } } },
      series: [
        { name: data.names.route, type: "line", data: data.path, showSymbol: false,
          lineStyle: { color: "#0b7a3b", width: 2 }, tooltip: { show: false } },
        { name: data.names.stops, type: "scatter", data: data.stops, symbolSize: 18,
          itemStyle: { color: "#0b7a3b" },
          label: { show: true, color: "#fff", fontSize: 10,
                   formatter: function (p) { return p.value[2]; } } },
        { name: data.names.outlet, type: "scatter", data: [data.depot], symbol: "rect",
          symbolSize: 16, itemStyle: { color: "#c0392b" } }
      ]
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-route-map]").forEach(function (el) {
      var source = document.getElementById(el.id + "-data");
      if (!source || !window.echarts) { return; }
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option(JSON.parse(source.textContent)));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  });
})();
