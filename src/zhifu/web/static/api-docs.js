// Starts Swagger UI or ReDoc on the API reference pages (/docs, /redoc) from the vendored bundles.
(function () {
  var swagger = document.getElementById("swagger-ui");
  if (swagger && window.SwaggerUIBundle) {
    window.SwaggerUIBundle({ url: swagger.dataset.openapi, dom_id: "#swagger-ui", deepLinking: true,
      presets: [window.SwaggerUIBundle.presets.apis], layout: "BaseLayout" });
  }
  var redoc = document.getElementById("redoc");
  if (redoc && window.Redoc) {
    window.Redoc.init(redoc.dataset.openapi, { hideDownloadButton: false }, redoc);
  }
})();
