// Grid page: the grid's merchants as points on their coordinates, one colour per lifecycle
// stage, larger for more parcels this month; a click opens the merchant.
// <div data-grid-map id="X"> with {series: [{name, points: [{value: [lon, lat], parcels,
// name, id, text}]}]} in <script type="application/json" id="X-data">. Drawn on the base map
// (counties, place names) of basemap.js.
(function () {
  "use strict";

  function size(parcels) {
    return 5 + Math.min(14, Math.sqrt(parcels || 0));  // area grows with the parcels
  }

  function tooltip(p) {
    var encode = window.echarts.format.encodeHTML;  // merchant names are data: never markup
    return encode(p.data.name) + "<br>" + encode(p.seriesName) + " · " + encode(p.data.text);
  }

  function option(data) {
    return {
      animation: false,
      tooltip: { trigger: "item", confine: true, formatter: tooltip },
      legend: { type: "scroll", bottom: 0 },
      geo: { top: 8, bottom: 40, left: 8, right: 8 },
      series: data.series.map(function (s) {
        return {
          name: s.name, type: "scatter", coordinateSystem: "geo", data: s.points, cursor: "pointer",
          symbolSize: function (value, p) { return size(p.data.parcels); },
          itemStyle: { opacity: 0.8 }
        };
      })
    };
  }

  function draw(el) {
    var source = document.getElementById(el.id + "-data");
    if (!source || !window.JiqunBasemap) { return; }
    el.dataset.drawn = "pending";  // basemap.js sets "true" once drawn
    window.JiqunBasemap.chart(el, option(JSON.parse(source.textContent))).then(function (chart) {
      chart.on("click", function (p) {
        if (p.data && p.data.id) { window.location.href = "/customers/" + p.data.id; }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-grid-map]:not([data-drawn])").forEach(draw);
  });
})();
