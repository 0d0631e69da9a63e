// The workspace's script: filters that apply on change, and replies and
// status changes sent through the REST API with the session's CSRF token.
(function () {
  "use strict";

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  var page = document.querySelector(".conversation-page");
  if (!page) return;
  var id = page.getAttribute("data-conversation");
  var csrf = page.getAttribute("data-csrf");

  function api(method, path, body) {
    return fetch("/api/v1" + path, {
      method: method,
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) return response.json();
      return response.json().then(function (e) {
        throw new Error((e && e.error && e.error.message) || response.statusText);
      }, function () { throw new Error(response.statusText); });
    });
  }

  var form = document.getElementById("reply");
  var error = form.querySelector(".error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    error.hidden = true;
    var note = form.elements.note.checked;
    var body = { text: form.elements.text.value, kind: note ? "note" : "message" };
    if (!note) body.channel = form.elements.channel.value;
    api("POST", "/conversations/" + id + "/messages", body).then(function () {
      window.location.reload();
    }, function (e) {
      error.textContent = page.getAttribute("data-error") + ": " + e.message;
      error.hidden = false;
      button.disabled = false;
    });
  });

  document.querySelectorAll("button[data-status]").forEach(function (button) {
    button.addEventListener("click", function () {
      api("PATCH", "/conversations/" + id, { status: button.getAttribute("data-status") }).then(function () {
        window.location.reload();
      }, function (e) { alert(e.message); });
    });
  });

  document.addEventListener("keydown", function (event) {
    // "r" jumps to the reply box, as in most helpdesks.
    if (event.key === "r" && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      event.preventDefault();
      form.elements.text.focus();
    }
  });
})();
