// Maps of the network planning pages: <div data-plan-map="flows|lines|hubs" id="X"> with its
// data in <script type="application/json" id="X-data">. The base map (province outlines,
// counties, place names) and the view fitted to the data come from basemap.js; lines and
// points use [lon, lat].
(function () {
  "use strict";

  function flowOption(data) {
    var max = Math.max.apply(null, data.lines.map(function (l) { return l.value; }).concat([1]));
    return {
      animation: false, tooltip: { trigger: "item",
        formatter: function (p) { return p.data.name + (p.data.value != null ? ": " + p.data.value : ""); } },
      series: [
        { type: "lines", coordinateSystem: "geo", zlevel: 1,
          data: data.lines.map(function (l) {
            return { name: l.name, value: l.value, coords: [l.from, l.to],
                     lineStyle: { width: 1 + 5 * l.value / max,
                                  color: l.decision === "peak_only" ? "#d68910" : "#0b7a3b" } };
          }),
          lineStyle: { opacity: 0.7, curveness: 0.2 } },
        { type: "scatter", coordinateSystem: "geo", symbolSize: 6, itemStyle: { color: "#c0392b" },
          data: data.lines.map(function (l) { return { name: l.name, value: l.to }; }) }
      ]
    };
  }

  function hubOption(data) {
    // Coverage ring: a circle of radius_km around each chosen centre (1° lat ≈ 111 km).
    var rings = data.centres.map(function (c) {
      var pts = [], r = data.radius_km / 111;
      for (var i = 0; i <= 48; i++) {
        var a = 2 * Math.PI * i / 48;
        pts.push([c.lon + r * Math.cos(a) / Math.cos(c.lat * Math.PI / 180), c.lat + r * Math.sin(a)]);
      }
      return { coords: pts };
    });
    return {
      animation: false, tooltip: { trigger: "item" },
      series: [
        { type: "lines", coordinateSystem: "geo", polyline: true, silent: true, data: rings,
          lineStyle: { color: "#0b7a3b", width: 1.5, type: "dashed" } },
        { type: "scatter", coordinateSystem: "geo", symbolSize: 4,
          data: data.points.map(function (p) {
            return { value: [p.lon, p.lat, p.parcels], itemStyle: { color: p.covered ? "#5d6d7e" : "#c0392b" } };
          }) },
        { type: "scatter", coordinateSystem: "geo", symbol: "diamond", symbolSize: 14,
          itemStyle: { color: "#0b7a3b" },
          data: data.centres.map(function (c) { return { name: c.site, value: [c.lon, c.lat, c.parcels_per_day] }; }) },
        // Sites the user added: hollow markers, filled by the diamond when chosen.
        { type: "scatter", coordinateSystem: "geo", symbol: "emptyCircle", symbolSize: 12,
          itemStyle: { color: "#d68910", borderWidth: 2 },
          data: (data.added || []).map(function (s) { return { name: s.name, value: [s.lon, s.lat] }; }) }
      ]
    };
  }

  // Flows: county borders where the parcels start (the destinations are whole cities).
  function origins(data) {
    return (data.lines || []).map(function (l) { return l.from; });
  }

  function draw(el) {
    var source = document.getElementById(el.id + "-data");
    if (!source || !window.JiqunBasemap) { return; }
    var data = JSON.parse(source.textContent);
    el.dataset.drawn = "pending";  // drawn once: basemap.js sets "true" when it is on screen
    if (el.dataset.planMap === "hubs") {
      window.JiqunBasemap.chart(el, hubOption(data));
    } else {
      window.JiqunBasemap.chart(el, flowOption(data), { counties: origins(data) });
    }
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-plan-map]:not([data-drawn])").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (e) { drawAll(e.target); });
})();
