// The route of the visit plan: <div data-route-map id="X"> with its data in
// <script type="application/json" id="X-data"> — the outlet, the numbered stops and the legs,
// drawn on the base map of basemap.js (counties, place names; served locally, no tile server).
(function () {
  "use strict";

  function option(data) {
    return {
      animation: false,
      geo: { top: 28, bottom: 8, left: 8, right: 8 },
      tooltip: { trigger: "item", formatter: function (p) { return p.name || ""; } },
      legend: { top: 0, data: [data.names.outlet, data.names.stops] },
      series: [
        { name: data.names.route, type: "lines", coordinateSystem: "geo", polyline: true,
          data: data.path.length ? [{ coords: data.path }] : [],
          lineStyle: { color: "#0b7a3b", width: 2, opacity: 1 }, tooltip: { show: false } },
        { name: data.names.stops, type: "scatter", coordinateSystem: "geo", data: data.stops, symbolSize: 18,
          itemStyle: { color: "#0b7a3b" },
          label: { show: true, color: "#fff", fontSize: 10,
                   formatter: function (p) { return p.value[2]; } } },
        { name: data.names.outlet, type: "scatter", coordinateSystem: "geo", data: [data.depot], symbol: "rect",
          symbolSize: 16, itemStyle: { color: "#c0392b" } }
      ]
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-route-map]").forEach(function (el) {
      var source = document.getElementById(el.id + "-data");
      if (!source || !window.JiqunBasemap) { return; }
      window.JiqunBasemap.chart(el, option(JSON.parse(source.textContent)));
    });
  });
})();
