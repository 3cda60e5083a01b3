// Progressive enhancement only: every page works without this file.
// - Questionnaire pages save each answer as it is given (autosave), so nothing is lost when
//   the connection drops between pages; the server returns the draft's new revision.
// - Buttons marked data-print print the page.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  if (form && window.fetch && window.FormData) {
    var status = form.querySelector(".saved");
    var revision = form.querySelector("input[name=revision]");
    // Saves run one after another, each with the revision the previous one returned.
    var queue = Promise.resolve();
    // A save that fails says so next to the answer it was for, and why; the page's button
    // (which posts every answer again) is the way on.
    var mark = function (fieldset, kind) {
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
    };
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
  var printers = document.querySelectorAll("[data-print]");
  for (var i = 0; i < printers.length; i++) {
    printers[i].addEventListener("click", function () { window.print(); });
  }
})();
