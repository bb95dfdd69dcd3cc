// Draws every [data-chart] element from the options in #chart-options, then marks the body
// data-charts-ready="1" so that the PDF printer knows the page is complete.
(function () {
  var options = JSON.parse(document.getElementById("chart-options").textContent);
  var charts = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(options[el.getAttribute("data-chart")]);
    charts.push(chart);
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
  window.addEventListener("beforeprint", function () {
    charts.forEach(function (c) { c.resize(); });
  });
  requestAnimationFrame(function () {
    requestAnimationFrame(function () { document.body.setAttribute("data-charts-ready", "1"); });
  });
})();
