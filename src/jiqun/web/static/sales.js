// Field sales charts: <div data-sales-chart="funnel" id="X"> with {names, values} in
// <script type="application/json" id="X-data">. Kept apart from app.js's chart kinds.
(function () {
  "use strict";

  function funnel(data) {
    var items = data.names.map(function (name, k) { return { name: name, value: data.values[k] }; });
    return {
      animation: false,
      tooltip: { trigger: "item", formatter: "{b}: {c}" },
      color: ["#9fd3b4", "#6cbf8f", "#3ea66b", "#0b7a3b", "#075a2b"],
      series: [{
        type: "funnel", left: "5%", right: "5%", top: 8, bottom: 8, sort: "none", gap: 2,
        minSize: "8%", label: { show: true, position: "inside", formatter: "{b}  {c}", color: "#fff" },
        data: items
      }]
    };
  }

  function draw(el) {
    var source = document.getElementById(el.id + "-data");
    if (!source || !window.echarts) { return; }
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(funnel(JSON.parse(source.textContent)));
    window.addEventListener("resize", function () { chart.resize(); });
    el.dataset.drawn = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-sales-chart=funnel]:not([data-drawn])").forEach(draw);
  });
})();
