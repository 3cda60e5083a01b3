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
    var save = function () {
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
            if (status) { status.textContent = status.getAttribute("data-saved-text"); status.hidden = false; }
          }
        }).catch(function () { /* offline: the page change will save */ });
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
  var printers = document.querySelectorAll("[data-print]");
  for (var i = 0; i < printers.length; i++) {
    printers[i].addEventListener("click", function () { window.print(); });
  }
})();
