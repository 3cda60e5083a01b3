// Progressive enhancement only: every page works without this file.
// - Questionnaire pages save each answer as it is given (autosave), so nothing is lost when
//   the connection drops between pages; the server returns the draft's new revision.
// - On the participant's pages (data-keep) each answer is also kept on the phone until the
//   server has it, and sent once (a save id per save) on page load, on `online` and on a back-off
//   that doubles up to a minute; see docs/pages.md, "Answering offline".
// - Buttons marked data-print print the page.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  var keep = form && form.getAttribute("data-keep");
  if (keep && window.fetch && window.FormData && window.JSON) {
    offline(form, keep);
  } else if (form && window.fetch && window.FormData) {
    var status = form.querySelector(".saved");
    var revision = form.querySelector("input[name=revision]");
    // Saves run one after another, each with the revision the previous one returned.
    var queue = Promise.resolve();
    // A save that fails says so next to the answer it was for, and why; the page's button
    // (which posts every answer again) is the way on.
    var mark = function (fieldset, kind) { failedNote(fieldset, status, kind); };
    var save = function (e) {
      var fieldset = e && e.target && e.target.closest ? e.target.closest("fieldset") : null;
      queue = queue.then(function () {
        var data = new FormData(form);
        data.set("go", "save");
        return fetch(form.action, {
          method: "POST",
          body: new URLSearchParams(data),
          credentials: "same-origin",
          redirect: "manual",
          headers: { "Content-Type": "application/x-www-form-urlencoded" }
        }).then(function (r) {
          if (r.status === 204) {
            var rev = r.headers.get("X-Revision");
            if (rev && revision) { revision.value = rev; }
            mark(fieldset, null);
            if (status) { status.textContent = status.getAttribute("data-saved-text"); status.hidden = false; }
          } else {
            if (status) { status.hidden = true; }
            mark(fieldset, r.status === 401 ? "session" : "other");
          }
        }).catch(function () {
          if (status) { status.hidden = true; }
          mark(fieldset, "offline");
        });
      });
    };
    form.addEventListener("change", save);
    form.addEventListener("submit", function (e) {
      // Let running saves finish first so the revision sent with the page is current.
      e.preventDefault();
      var submitter = e.submitter;
      queue.then(function () {
        if (submitter) {
          var hidden = document.createElement("input");
          hidden.type = "hidden"; hidden.name = submitter.name; hidden.value = submitter.value;
          form.appendChild(hidden);
        }
        form.submit();
      });
    });
  }
  // Questions asked only for some answers (show_if) appear and disappear with the answer they
  // depend on; an answer given to a question that disappears is cleared, and the page says so.
  // The server applies the same rule on every save, so the page works without this too.
  var qform = document.querySelector("form.questionnaire");
  if (qform) {
    var js = document.createElement("input");
    js.type = "hidden"; js.name = "js"; js.value = "1";
    qform.appendChild(js);
    var dependents = qform.querySelectorAll("fieldset[data-show-field]");
    var clearedNote = qform.querySelector(".cleared-note");
    var update = function () {
      for (var d = 0; d < dependents.length; d++) {
        var fs = dependents[d];
        var field = fs.getAttribute("data-show-field");
        var values = (fs.getAttribute("data-show-values") || "").split(" ");
        var chosen = qform.querySelector("input[name=\"" + field + "\"]:checked");
        var holds = !!chosen && values.indexOf(chosen.value) >= 0;
        if (!holds && !fs.hidden) {
          var had = false;
          var inputs = fs.querySelectorAll("input, textarea");
          for (var k = 0; k < inputs.length; k++) {
            var el = inputs[k];
            if (el.type === "radio" || el.type === "checkbox") {
              if (el.checked) { had = true; el.checked = false; }
            } else if (el.value) { had = true; el.value = ""; }
          }
          if (had && clearedNote) {
            // Said where the participant is: under the answer that made the question go.
            var ctrl = chosen ? chosen.closest("fieldset") : null;
            if (ctrl && ctrl.parentNode) { ctrl.parentNode.insertBefore(clearedNote, ctrl.nextSibling); }
            clearedNote.hidden = false;
          }
        }
        fs.hidden = !holds;
      }
    };
    qform.addEventListener("change", update);
  }
  var review = document.querySelector("form[data-send-later]");
  if (review && window.fetch && window.JSON) { sendLater(review); }
  // A revoked link, or the PIN page's "this is not my phone": nothing stays on this phone.
  if (document.querySelector("[data-forget]")) { forgetAll(); }
  var shared = document.querySelector("input[data-not-my-phone]");
  if (shared) {
    shared.form.addEventListener("submit", function () {
      try { sessionStorage.setItem("epro.shared", shared.checked ? "1" : ""); } catch (e) { /* none */ }
      if (shared.checked) { forgetAll(); }
    });
  }
  var logout = document.querySelector("form[action='/p/logout']");
  if (logout) { logout.addEventListener("submit", forgetAll); }
  var printers = document.querySelectorAll("[data-print]");
  for (var i = 0; i < printers.length; i++) {
    printers[i].addEventListener("click", function () { window.print(); });
  }

  // A save that fails says so next to the answer it was for, and why (`kind`: session, offline,
  // other; none removes the note); the page's button (which posts every answer again) is the way on.
  function failedNote(fieldset, status, kind) {
    if (!fieldset) { return; }
    var note = fieldset.querySelector(".save-failed");
    if (!kind) { if (note) { note.parentNode.removeChild(note); } return; }
    if (!note) {
      note = document.createElement("p");
      note.className = "save-failed";
      note.setAttribute("role", "alert");
      fieldset.appendChild(note);
    }
    note.textContent = status ? status.getAttribute("data-failed-" + kind) : "";
  }
  // The phone's store: localStorage, or memory when the participant said "this is not my phone"
  // (or storage is refused, as in some private modes). Entries are named epro:<keep>:<form>.
  function store() {
    var mem = store.mem || (store.mem = {});
    var shared = false;
    try { shared = sessionStorage.getItem("epro.shared") === "1"; } catch (e) { shared = true; }
    var ls = null;
    try { ls = shared ? null : window.localStorage; } catch (e) { ls = null; }
    return {
      get: function (k) {
        var raw = null;
        try { raw = ls ? ls.getItem(k) : mem[k]; } catch (e) { raw = mem[k]; }
        try { return raw ? JSON.parse(raw) : null; } catch (e) { return null; }
      },
      set: function (k, v) {
        var raw = JSON.stringify(v);
        try { if (ls) { ls.setItem(k, raw); return; } } catch (e) { /* full: memory */ }
        mem[k] = raw;
      },
      del: function (k) { try { if (ls) { ls.removeItem(k); } } catch (e) { /* none */ } delete mem[k]; }
    };
  }
  function forgetAll() {
    try {
      for (var i = localStorage.length - 1; i >= 0; i--) {
        var k = localStorage.key(i);
        if (k && k.indexOf("epro:") === 0) { localStorage.removeItem(k); }
      }
    } catch (e) { /* none */ }
    if (window.caches) { caches.delete("epro-visit"); }
  }
  function newId() {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  // One sender per page: never two requests at once; after a failure it waits 2 s, then 4, 8 …
  // up to 60 s; `online` and a page load try at once. `attempt` returns a promise of
  // "done" | "wait" (the session ended: wait for the PIN) | "retry".
  function sender(attempt) {
    var busy = false, again = false, delay = 2000, timer = null;
    var run = function () {
      // Asked again while a request is out (a new answer): once more after it, not at once.
      if (busy) { again = true; return; }
      clearTimeout(timer); timer = null;
      busy = true;
      attempt().then(function (how) {
        busy = false;
        if (how === "retry") {
          again = false;
          timer = setTimeout(run, delay);
          delay = Math.min(delay * 2, 60000);
        } else {
          delay = 2000;
          if (again) { again = false; run(); }
        }
      });
    };
    window.addEventListener("online", function () { delay = 2000; run(); });
    return run;
  }
  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      body: new URLSearchParams(fields),
      credentials: "same-origin",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    });
  }
  // A questionnaire page of the participant.
  function offline(form, keep) {
    var db = store();
    var name = "epro:" + keep + ":" + form.getAttribute("action");
    var rec = db.get(name) || { answers: {}, pending: {}, batch: null };
    var status = form.querySelector(".saved");
    var pageNo = (form.querySelector("input[name=page]") || {}).value || "1";
    var csrf = function () { return (form.querySelector("input[name=csrf]") || {}).value || ""; };
    var say = function (attr, hidden) {
      if (!status) { return; }
      status.textContent = status.getAttribute(attr) || "";
      status.hidden = !!hidden;
    };
    // A save refused says so next to each answer it carried, and why.
    var mark = function (fields, kind) {
      for (var f in fields) {
        var el = form.querySelector("[name=\"" + f + "\"]");
        failedNote(el && el.closest ? el.closest("fieldset") : null, status, kind);
      }
    };
    var fieldsOf = function () {
      var seen = {}, out = [];
      var els = form.querySelectorAll("fieldset.item input, fieldset.item textarea");
      for (var i = 0; i < els.length; i++) {
        if (!seen[els[i].name]) { seen[els[i].name] = true; out.push(els[i].name); }
      }
      return out;
    };
    var valueOf = function (field) {
      var els = form.querySelectorAll("[name=\"" + field + "\"]");
      for (var i = 0; i < els.length; i++) {
        var el = els[i];
        if (el.type === "radio" || el.type === "checkbox") { if (el.checked) { return el.value; } } else { return el.value; }
      }
      return "";
    };
    var show = function (field, value) {
      var els = form.querySelectorAll("[name=\"" + field + "\"]");
      for (var i = 0; i < els.length; i++) {
        var el = els[i];
        if (el.type === "radio" || el.type === "checkbox") { el.checked = el.value === value; } else { el.value = value; }
      }
    };
    // Put back what this phone kept: answers not yet confirmed always; on the offline copy of a
    // page (which has no answers), every answer kept for it.
    var copy = form.hasAttribute("data-offline-copy");
    var fields = fieldsOf();
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i], p = rec.pending[f], a = rec.answers[f];
      if (p) { show(f, p.v); } else if (copy && a) { show(f, a.v); }
    }
    if (fields.length) { form.dispatchEvent(new Event("change")); }
    var wantSubmit = null;
    // The next batch: the pending answers of one page, with an id kept until the server has it,
    // so a resend is the same save with the same answers.
    var attempt = function () {
      if (!rec.batch) {
        var page = null, batch = {};
        for (var f in rec.pending) {
          if (page === null) { page = rec.pending[f].page; }
          if (rec.pending[f].page === page) { batch[f] = rec.pending[f].v; }
        }
        if (page === null) { return Promise.resolve(finish()); }
        // A question shown for some answers of this page goes with the answer it depends on
        // (the server checks the condition on what one save carries).
        for (var d in batch) {
          var el = form.querySelector("[name=\"" + d + "\"]");
          var fs = el && el.closest ? el.closest("fieldset[data-show-field]") : null;
          var on = fs && fs.getAttribute("data-show-field");
          if (on && !(on in batch) && rec.answers[on] && rec.answers[on].page === page) { batch[on] = rec.answers[on].v; }
        }
        rec.batch = { id: newId(), page: page, fields: batch };
        db.set(name, rec);
      }
      var b = rec.batch;
      var body = [["csrf", csrf()], ["page", b.page], ["go", "save"], ["js", "1"], ["save_id", b.id]];
      for (var k in b.fields) { body.push([k, b.fields[k]]); }
      return post(form.action, body).then(function (r) {
        if (r.status === 204) {
          var rev = r.headers.get("X-Revision");
          var revision = form.querySelector("input[name=revision]");
          if (rev && revision) { revision.value = rev; }
          for (var f in b.fields) {
            if (rec.pending[f] && rec.pending[f].v === b.fields[f]) { delete rec.pending[f]; }
          }
          rec.batch = null;
          db.set(name, rec);
          mark(b.fields, null);
          if (Object.keys(rec.pending).length) { return attempt(); }
          return finish();
        }
        // The session ended: kept here, sent after the PIN is given again (page load).
        if (r.status === 401) {
          // Nothing was saved under this id: the next try makes a batch of all that is pending.
          rec.batch = null; db.set(name, rec);
          say("data-saved-text", true);
          var all = {};
          for (var f in rec.pending) { all[f] = true; }
          mark(all, "session");
          return "wait";
        }
        if (r.status === 422 || r.status === 409 || r.type === "opaqueredirect") {
          // Refused for good (already sent, a value the server does not take): the page's
          // button posts the page and shows why; the batch is not sent again.
          rec.batch = null; rec.pending = {}; db.set(name, rec);
          say("data-saved-text", true);
          mark(b.fields, "other");
          return "done";
        }
        say("data-kept-text");
        return "retry";
      }, function () {
        say("data-kept-text");
        return "retry";
      });
    };
    var finish = function () {
      say("data-saved-text");
      if (wantSubmit) { var s = wantSubmit; wantSubmit = null; go(s); }
      return "done";
    };
    var send = sender(attempt);
    form.addEventListener("change", function (e) {
      var el = e.target;
      if (!el || !el.name || !el.closest || !el.closest("fieldset.item")) { return; }
      var v = valueOf(el.name);
      rec.answers[el.name] = { v: v, page: pageNo };
      if (v !== "") { rec.pending[el.name] = { v: v, page: pageNo }; } else { delete rec.pending[el.name]; }
      db.set(name, rec);
      say("data-kept-text", !navigator.onLine ? false : true);
      send();
      register();
    });
    // Next or back posts the page's answers with a save id of their own (merged item by item,
    // like the saves above); this page's pending answers go with it. Without a connection the
    // page stays, says its answers are kept, and goes on once the connection returns.
    var go = function (submitter) {
      var extra = [["save_id", newId()]];
      if (submitter) { extra.push([submitter.name, submitter.value]); }
      for (var i = 0; i < extra.length; i++) {
        var hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = extra[i][0]; hidden.value = extra[i][1];
        form.appendChild(hidden);
      }
      for (var f in rec.pending) { if (rec.pending[f].page === pageNo) { delete rec.pending[f]; } }
      if (rec.batch && rec.batch.page === pageNo) { rec.batch = null; }
      db.set(name, rec);
      form.submit();
    };
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var submitter = e.submitter || { name: "go", value: "next" };
      if (navigator.onLine) { go(submitter); return; }
      wantSubmit = submitter;
      say("data-kept-text");
      send();
    });
    send();
    if (navigator.serviceWorker && navigator.serviceWorker.controller) { register(); }
  }
  // The service worker keeps this visit's pages for an offline reload. Registered once the
  // participant answers (not on the first load, which stays within the page budget).
  function register() {
    if (register.done || !navigator.serviceWorker) { return; }
    register.done = true;
    navigator.serviceWorker.register("/static/epro-sw.js", { scope: "/p/" }).catch(function () { /* none */ });
  }
  // The review's "send": pressed without a connection, the page says it will be sent and sends
  // it (the same key, so once) when the connection returns, also after a reload. The phone's
  // time when *send* was pressed goes with it: a form finished inside the window that arrives
  // after the visit closed is judged by it (docs/trial-rules.md).
  function sendLater(review) {
    var db = store();
    var name = "epro:" + review.getAttribute("data-keep") + ":" + review.getAttribute("action").replace(/\/review$/, "");
    var note = review.querySelector(".send-later");
    var field = function (n) { return (review.querySelector("input[name=" + n + "]") || {}).value || ""; };
    var attempt = function () {
      var rec = db.get(name);
      if (!rec || !rec.submit) { return Promise.resolve("done"); }
      var body = [["csrf", field("csrf")], ["idem", rec.submit]];
      if (rec.sentAt) { body.push(["device_completed_at", rec.sentAt]); }
      return post(review.action, body).then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 303) {
          db.del(name);
          location.href = review.action.replace(/\/review$/, "") + "/review";
          return "done";
        }
        if (r.status === 401) { return "wait"; }
        // Refused (the page says why): shown by posting the form as without this script.
        var at = rec.sentAt;
        rec.submit = null; rec.sentAt = null; db.set(name, rec);
        if (at) {
          var hidden = document.createElement("input");
          hidden.type = "hidden"; hidden.name = "device_completed_at"; hidden.value = at;
          review.appendChild(hidden);
        }
        review.submit();
        return "done";
      }, function () { return "retry"; });
    };
    var send = sender(attempt);
    var queued = function () {
      note.textContent = review.getAttribute("data-send-later");
      note.hidden = false;
    };
    review.addEventListener("submit", function (e) {
      e.preventDefault();
      var rec = db.get(name) || { answers: {}, pending: {}, batch: null };
      rec.submit = rec.submit || field("idem");
      rec.sentAt = rec.sentAt || new Date().toISOString();
      db.set(name, rec);
      if (!navigator.onLine) { queued(); }
      send();
      setTimeout(function () { if ((db.get(name) || {}).submit) { queued(); } }, 1500);
    });
    var rec = db.get(name);
    if (rec && rec.submit) { queued(); send(); }
  }
})();
