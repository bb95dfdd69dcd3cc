// The base layer under every map: China's province outlines and the counties (区县) of the
// provinces the data lies in, with place names — province names when the view spans the
// country, city names at a province's scale, county names when a county is wide enough to
// hold one. Served locally from /static/vendor/basemap/ (built by `make setup` from npm
// packages, docs/planning.md); nothing leaves the machine.
//
//   JiqunBasemap.chart(el, option, opts) → Promise of the ECharts instance
//
// `option` is an ordinary ECharts option whose series use coordinateSystem "geo" with
// [lon, lat] values; the base map becomes its `geo` (keys the caller sets there win) and the
// view is fitted to the data's coordinates (or opts.points). opts.counties: the points whose
// provinces get county borders (default: the same points). The element gets data-basemap
// (the map's name) and data-drawn once drawn.
(function () {
  "use strict";

  var ROOT = "/static/vendor/basemap/";
  var MAX_PROVINCES = 3;     // county layers drawn at once (each 20–190 kB)
  var COUNTY_PX = 110;       // pixels a degree from which county names fit (a county ≈ 0.5°)
  var CITY_PX = 22;          // ... and city names (a city ≈ 1.5°); below: province names
  var MIN_SPAN = 0.1;        // degrees the view spans at least (≈ 10 km: a day's visit route)
  var CHINA = [73.5, 18, 135, 53.5];
  var loading = {};

  function store() { return window.JIQUN_BASEMAP || {}; }

  function loadScript(src) {
    if (!loading[src]) {
      loading[src] = new Promise(function (resolve) {
        var s = document.createElement("script");
        s.src = src;
        // A missing file leaves that layer out; the chart is still drawn.
        s.onload = s.onerror = function () { resolve(); };
        document.head.appendChild(s);
      });
    }
    return loading[src];
  }

  function index() {
    return store().provinces ? Promise.resolve() : loadScript(ROOT + "index.js");
  }

  function finite(p) {
    return p && isFinite(p[0]) && isFinite(p[1]) && p[0] >= CHINA[0] - 5 && p[0] <= CHINA[2] + 5 &&
      p[1] >= CHINA[1] - 15 && p[1] <= CHINA[3] + 5;
  }

  // Every [lon, lat] in the series: scatter values and lines' coords.
  function pointsOf(option) {
    var out = [];
    function add(v) { if (Array.isArray(v) && typeof v[0] === "number") { out.push(v); } }
    (option.series || []).forEach(function (s) {
      (s.data || []).forEach(function (d) {
        var value = d && !Array.isArray(d) && typeof d === "object" ? (d.value || d.coords) : d;
        if (Array.isArray(value) && Array.isArray(value[0])) { value.forEach(add); } else { add(value); }
      });
    });
    return out.filter(finite);
  }

  function extent(points) {
    if (!points.length) { return CHINA.slice(); }
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    points.forEach(function (p) {
      b[0] = Math.min(b[0], p[0]); b[1] = Math.min(b[1], p[1]);
      b[2] = Math.max(b[2], p[0]); b[3] = Math.max(b[3], p[1]);
    });
    // A margin of a tenth, and at least MIN_SPAN across: one town still shows its surroundings.
    var padX = Math.max((b[2] - b[0]) * 0.1, (MIN_SPAN - (b[2] - b[0])) / 2);
    var padY = Math.max((b[3] - b[1]) * 0.1, (MIN_SPAN - (b[3] - b[1])) / 2);
    return [b[0] - padX, b[1] - padY, b[2] + padX, b[3] + padY];
  }

  // ECharts' compressed rings (UTF8Encoding, 1/1024 degree, zigzag deltas), for the tests
  // of which province a point lies in.
  function decodeRing(text, offset) {
    var ring = [], x = offset[0], y = offset[1];
    for (var i = 0; i < text.length; i += 2) {
      var dx = text.charCodeAt(i) - 64, dy = text.charCodeAt(i + 1) - 64;
      x += (dx >> 1) ^ -(dx & 1); y += (dy >> 1) ^ -(dy & 1);
      ring.push([x / 1024, y / 1024]);
    }
    return ring;
  }

  var outlinePolygons = null;  // province adcode → its polygons (lists of rings), decoded once
  function provincePolygons() {
    if (outlinePolygons) { return outlinePolygons; }
    outlinePolygons = {};
    ((store().outlines && store().outlines.features) || []).forEach(function (f) {
      var g = f.geometry, polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
      var offsets = g.type === "Polygon" ? [g.encodeOffsets] : g.encodeOffsets;
      outlinePolygons[f.properties.key] = polygons.map(function (rings, i) {
        return rings.map(function (r, k) { return decodeRing(r, offsets[i][k]); });
      });
    });
    return outlinePolygons;
  }

  // Even-odd ray casting over all the rings of a polygon: holes (北京 in 河北) fall outside,
  // and islands listed as further rings (china.js does so for 广东) inside.
  function inside(p, rings) {
    var odd = false;
    rings.forEach(function (ring) {
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        if ((ring[i][1] > p[1]) !== (ring[j][1] > p[1]) &&
            p[0] < (ring[j][0] - ring[i][0]) * (p[1] - ring[i][1]) / (ring[j][1] - ring[i][1]) + ring[i][0]) {
          odd = !odd;
        }
      }
    });
    return odd;
  }

  // The provinces with counties (in the index) most of the points lie in, at most
  // MAX_PROVINCES: a bounding box test first, then the province's outline.
  function provincesOf(points) {
    var provinces = store().provinces || {}, polygons = provincePolygons(), count = {};
    points.forEach(function (p) {
      Object.keys(provinces).some(function (code) {
        var b = provinces[code].bbox;
        if (p[0] < b[0] || p[0] > b[2] || p[1] < b[1] || p[1] > b[3]) { return false; }
        var hit = !polygons[code] || polygons[code].some(function (rings) { return inside(p, rings); });
        if (hit) { count[code] = (count[code] || 0) + 1; }
        return hit;
      });
    });
    return Object.keys(count).sort(function (a, b) { return count[b] - count[a] || (a < b ? -1 : 1); })
      .slice(0, MAX_PROVINCES).sort();
  }

  // ECharts decodes a compressed map in place: every map gets its own copy of the features.
  function copy(feature) {
    return { type: "Feature", id: feature.id, properties: feature.properties,
             geometry: JSON.parse(JSON.stringify(feature.geometry)) };
  }

  function register(codes) {
    var name = "jiqun-base:" + (codes.join("+") || "china");
    if (window.echarts.getMap(name)) { return name; }
    var b = store(), features = [];
    var outlines = (b.outlines && b.outlines.features) || [];
    var counties = codes.filter(function (c) { return b.counties && b.counties[c]; });
    outlines.forEach(function (f) {
      if (counties.indexOf(f.properties.key) < 0) { features.push(copy(f)); }
    });
    counties.forEach(function (c) { b.counties[c].features.forEach(function (f) { features.push(copy(f)); }); });
    window.echarts.registerMap(name, { type: "FeatureCollection", UTF8Encoding: true,
                                      UTF8Scale: 1024, features: features });
    return name;
  }

  function names(codes) {
    var b = store(), level = {};
    ((b.outlines && b.outlines.features) || []).forEach(function (f) {
      level[f.properties.key] = { name: f.properties.name, province: true };
    });
    codes.forEach(function (c) {
      ((b.counties && b.counties[c] && b.counties[c].features) || []).forEach(function (f) {
        level[f.properties.key] = { name: f.properties.name, province: !!f.properties.border };
      });
    });
    return level;
  }

  function cities(codes) {
    var provinces = store().provinces || {}, out = [];
    codes.forEach(function (c) {
      ((provinces[c] && provinces[c].cities) || []).forEach(function (city) {
        out.push({ name: city[0], value: [city[1], city[2]] });
      });
    });
    return out;
  }

  // What the labels show at a scale: "county", "city" or "province".
  function scaleOf(chart, el) {
    var w = el.clientWidth || 300;
    var a = chart.convertFromPixel({ geoIndex: 0 }, [0, 0]);
    var z = chart.convertFromPixel({ geoIndex: 0 }, [w, 0]);
    var px = a && z && z[0] !== a[0] ? w / Math.abs(z[0] - a[0]) : 0;
    return px >= COUNTY_PX ? "county" : px >= CITY_PX ? "city" : "province";
  }

  function labels(scale, known) {
    return {
      geo: { label: { show: true, fontSize: 10, color: "#6b7a72",
                      formatter: function (p) {
                        var place = known[p.name];
                        if (!place) { return ""; }
                        return (scale === "county" && !place.province) ||
                               (scale === "province" && place.province) ? place.name : "";
                      } } },
      series: [{ id: "jiqun-places", label: { show: scale === "city" } }]
    };
  }

  // Counties: thin light borders; provinces (outlines, and the borders drawn over a county
  // layer with a clear fill): darker and wider.
  function base(name, box, known) {
    var province = { borderColor: "#9aa9a1", borderWidth: 1 };
    return {
      map: name, nameProperty: "key", roam: true, silent: true, z: 0,
      boundingCoords: [[box[0], box[3]], [box[2], box[1]]],
      itemStyle: { areaColor: "#f3f5f4", borderColor: "#ccd4cf", borderWidth: 0.5 },
      regions: Object.keys(known).filter(function (key) { return known[key].province; })
        .map(function (key) {
          var style = /-border$/.test(key) ? Object.assign({ areaColor: "rgba(0,0,0,0)" }, province) : province;
          return { name: key, itemStyle: style };
        }),
      emphasis: { disabled: true }, select: { disabled: true }
    };
  }

  function placesSeries(codes) {
    return { id: "jiqun-places", type: "scatter", coordinateSystem: "geo", silent: true,
             symbolSize: 0, z: 1, tooltip: { show: false }, legendHoverLink: false,
             label: { show: false, formatter: "{b}", fontSize: 11, color: "#44524b" },
             labelLayout: { hideOverlap: true }, data: cities(codes) };
  }

  function chart(el, option, opts) {
    opts = opts || {};
    if (!window.echarts) { return Promise.reject(new Error("ECharts is not loaded")); }
    var points = (opts.points || pointsOf(option)).filter(finite);
    return index().then(function () {
      var codes = provincesOf((opts.counties || points).filter(finite));
      return Promise.all(codes.map(function (c) { return loadScript(ROOT + c + ".js"); }))
        .then(function () { return codes; });
    }).then(function (codes) {
      var name = register(codes);
      var box = extent(points);
      if (option.legend && !option.legend.data) {  // the place labels stay out of the legend
        option.legend.data = (option.series || []).map(function (s) { return s.name; })
          .filter(function (n) { return n; });
      }
      var known = names(codes), shown = null;
      option.geo = Object.assign(base(name, box, known), option.geo || {});
      option.series = (option.series || []).concat([placesSeries(codes)]);
      var instance = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "svg" });
      instance.setOption(option, true);
      function relabel() {
        var scale = scaleOf(instance, el);
        if (scale !== shown) { shown = scale; instance.setOption(labels(scale, known)); }
      }
      relabel();
      instance.on("georoam", relabel);
      window.addEventListener("resize", function () {
        if (!instance.isDisposed() && document.body.contains(el)) { instance.resize(); relabel(); }
      });
      el.dataset.basemap = name;
      el.dataset.drawn = "true";
      return instance;
    });
  }

  window.JiqunBasemap = { chart: chart, provincesOf: provincesOf, extent: extent };
})();
