// epro's service worker (docs/pages.md, "Answering offline"): a reload of a questionnaire page
// while offline shows the page instead of the browser's error. It keeps only the pages of the
// visit being answered, as copies without answers (the page script puts back the answers it
// keeps), and always asks the server first: a cached page is used only when the network fails,
// so a new questionnaire version or a closed visit is never hidden by an old copy.
"use strict";
var CACHE = "epro-visit";
var FORM = /^\/p\/q\/([^/]+)\/[^/]+$/;

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });

function visitOf(url) {
  var m = FORM.exec(new URL(url).pathname);
  return m ? m[1] : null;
}

// After the server showed a page of `visit`: keep its copy without answers, and nothing of
// any other visit. Anything else the server said (a closed visit, a form already sent, a
// session that ended) drops the visit's copies.
function remember(req, resp, visit) {
  return caches.open(CACHE).then(function (cache) {
    return cache.keys().then(function (keys) {
      var drop = keys.filter(function (k) {
        var v = visitOf(k.url);
        return (v !== null && v !== visit) || (!resp.ok && k.url === req.url);
      });
      return Promise.all(drop.map(function (k) { return cache.delete(k); })).then(function () {
        if (!resp.ok || resp.redirected) { return null; }
        return fetch(req.url, { credentials: "same-origin", headers: { "X-Epro-Offline-Copy": "1" } })
          .then(function (copy) { return copy.ok && !copy.redirected ? cache.put(req.url, copy) : null; });
      });
    });
  }).catch(function () { return null; });
}

self.addEventListener("fetch", function (e) {
  var req = e.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) { return; }
  var path = new URL(req.url).pathname;
  var visit = visitOf(req.url);
  var asset = path === "/static/epro.css" || path === "/static/epro.js";
  if (!visit && !asset) { return; }
  e.respondWith(fetch(req).then(function (resp) {
    if (visit && req.mode === "navigate") {
      e.waitUntil(remember(req, resp.clone(), visit));
    } else if (asset && resp.ok) {
      var copy = resp.clone();
      e.waitUntil(caches.open(CACHE).then(function (c) { return c.put(req, copy); }));
    }
    return resp;
  }, function () {
    return caches.open(CACHE).then(function (c) { return c.match(req); }).then(function (hit) {
      return hit || Response.error();
    });
  }));
});
