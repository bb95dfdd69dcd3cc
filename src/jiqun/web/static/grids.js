// Grid design: merchants as points coloured by grid. <div data-grids-chart="scatter" id="X">
// with {series: [{name, points: [[lon, lat], …]}]} in <script type="application/json" id="X-data">.
// Drawn on the base map (counties, place names) of basemap.js.
(function () {
  "use strict";

  function scatter(data) {
    return {
      animation: false,
      tooltip: { trigger: "item", formatter: function (p) { return p.seriesName; } },
      legend: { type: "scroll", bottom: 0 },
      geo: { top: 8, bottom: 40, left: 8, right: 8 },
      series: data.series.map(function (s) {
        return { name: s.name, type: "scatter", coordinateSystem: "geo", symbolSize: 5, data: s.points };
      })
    };
  }

  function draw(el) {
    var source = document.getElementById(el.id + "-data");
    if (!source || !window.JiqunBasemap) { return; }
    el.dataset.drawn = "pending";  // basemap.js sets "true" once drawn
    window.JiqunBasemap.chart(el, scatter(JSON.parse(source.textContent)));
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-grids-chart=scatter]:not([data-drawn])").forEach(draw);
  });
})();
