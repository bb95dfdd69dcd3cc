// Grid design: merchants as points coloured by grid. <div data-grids-chart="scatter" id="X">
// with {series: [{name, points: [[lon, lat], …]}]} in <script type="application/json" id="X-data">.
(function () {
  "use strict";

  function scatter(data) {
    return {
      animation: false,
      tooltip: { trigger: "item", formatter: function (p) { return p.seriesName; } },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 8, bottom: 40, containLabel: true },
      xAxis: { type: "value", scale: true, axisLabel: { show: false } },
      yAxis: { type: "value", scale: true, axisLabel: { show: false } },
      series: data.series.map(function (s) {
        return { name: s.name, type: "scatter", symbolSize: 5, data: s.points };
      })
    };
  }

  function draw(el) {
    var source = document.getElementById(el.id + "-data");
    if (!source || !window.echarts) { return; }
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(scatter(JSON.parse(source.textContent)));
    window.addEventListener("resize", function () { chart.resize(); });
    el.dataset.drawn = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-grids-chart=scatter]:not([data-drawn])").forEach(draw);
  });
})();
