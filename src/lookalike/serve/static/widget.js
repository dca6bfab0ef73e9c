/* lookalike widget loader. Paste on a product page:
 *   <script src="http://HOST/widget.js" data-shop="demo" data-product-id="SKU" async></script>
 * Without data-product-id the page title is sent instead (the strip stays empty unless it
 * names a product closely enough: shop.toml [title_lookup] min_confidence).
 * Every similar-products query parameter is an attribute, dashes for underscores:
 *   data-k, data-category ("same", "any", "a,b"), data-in-stock ("false" shows sold-out items),
 *   data-min-price, data-max-price, data-price-within ("0.5,2"), data-attr ("brand=acme,..."),
 *   data-same-attr ("brand"), data-exclude, data-keep-group, data-near-duplicate,
 *   data-diversity, data-metric, data-weights, data-threshold;
 * and the look: data-headline, data-currency, data-accent, data-text, data-background.
 * The strip renders in an iframe sandboxed from this page (no same-origin access either way).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.shop) return;
  var base = new URL(script.src, location.href).origin;

  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  // One visitor id per browser and shop site, so A/B variants stay stable across pages.
  var visitor = "";
  try {
    visitor = localStorage.getItem("lookalike_visitor") || "";
    if (!visitor) { visitor = uid(); localStorage.setItem("lookalike_visitor", visitor); }
  } catch (e) { visitor = ""; }

  var id = "lk-" + uid().slice(0, 12);
  var params = new URLSearchParams();
  if (script.dataset.productId) params.set("product_id", script.dataset.productId);
  else params.set("title", document.title);
  // every other data-* attribute is a query parameter (data-in-stock -> in_stock): a new
  // filter of the query model needs no change here
  Object.keys(script.dataset).forEach(function (key) {
    if (key === "shop" || key === "productId") return;
    var value = script.dataset[key];
    if (value === undefined || value === "") return;
    params.set(key.replace(/[A-Z]/g, function (c) { return "_" + c.toLowerCase(); }), value);
  });
  if (visitor) params.set("visitor", visitor);
  params.set("widget", id);

  var frame = document.createElement("iframe");
  frame.id = id;
  frame.title = "Similar products";
  frame.setAttribute("sandbox", "allow-scripts allow-popups allow-popups-to-escape-sandbox");
  frame.setAttribute("scrolling", "no");
  frame.style.cssText = "border:0;width:100%;height:0;display:block;overflow:hidden;";
  frame.src = base + "/v1/shops/" + encodeURIComponent(script.dataset.shop) + "/widget?" + params;

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.source !== frame.contentWindow || !data || data.type !== "lookalike:height") return;
    frame.style.height = Math.max(0, Math.min(2000, Number(data.height) || 0)) + "px";
  });
  script.parentNode.insertBefore(frame, script.nextSibling);
})();
