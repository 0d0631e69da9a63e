// The workspace's script: filters that apply on change; replies and status
// changes sent through the REST API with the session's CSRF token; the live
// socket, on whose notices the page fetches its own HTML again; presence.
(function () {
  "use strict";

  // The REST API, with the session's CSRF token; rejects with the API's message.
  function api(method, path, body) {
    var meta = document.querySelector("meta[name=csrf]");
    return fetch("/api/v1" + path, {
      method: method,
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": meta ? meta.getAttribute("content") : "" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      if (response.status === 204) return null;
      if (response.ok) return response.json();
      return response.json().then(function (e) {
        var error = (e && e.error) || {}, message = error.message || response.statusText;
        (error.fields || []).forEach(function (f) { message += "; " + f.field + ": " + f.message; });
        throw new Error(message);
      }, function () { throw new Error(response.statusText); });
    });
  }

  // Times are sent in UTC; each is shown in the reader's own time zone, in
  // the page's language.
  var dates = window.Intl ? new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" }) : null;
  function localTimes() {
    if (!dates) return;
    document.querySelectorAll("time[datetime]:not([data-local])").forEach(function (t) {
      var at = new Date(t.getAttribute("datetime"));
      if (isNaN(at)) return;
      t.title = t.textContent;
      t.textContent = dates.format(at);
      t.setAttribute("data-local", "");
    });
  }
  localTimes();
  document.addEventListener("threadline:refreshed", localTimes);

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // The language chosen in the top bar is saved for the user.
  var language = document.querySelector("select[data-language]");
  if (language) {
    language.addEventListener("change", function () {
      api("PUT", "/me/language", { language: language.value || null }).then(function () { window.location.reload(); });
    });
  }

  // Replaces the parts of the page named by `selectors` with their current
  // server-rendered version. Nothing is executed: DOMParser runs no scripts.
  // Requests made while one is on its way are gathered into the next.
  var wanted = {}, timer = null, fetching = false;
  function refresh(selectors) {
    selectors.forEach(function (s) { wanted[s] = true; });
    if (!timer && !fetching) timer = setTimeout(fetchPage, 0);
  }
  function fetchPage() {
    timer = null;
    fetching = true;
    var selectors = Object.keys(wanted);
    wanted = {};
    fetch(window.location.href, { credentials: "same-origin", headers: { accept: "text/html" } }).then(function (r) {
      if (!r.ok) throw new Error(r.statusText);
      return r.text();
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      selectors.forEach(function (selector) {
        var now = document.querySelector(selector), next = fresh.querySelector(selector);
        if (now && next) now.replaceWith(document.importNode(next, true));
      });
      document.dispatchEvent(new CustomEvent("threadline:refreshed"));
    }).catch(function () {}).then(function () {
      fetching = false;
      if (Object.keys(wanted).length) timer = setTimeout(fetchPage, 0);
    });
  }

  var inboxPage = document.querySelector("main.inbox");
  // The wallboard follows the socket too, and looks again every 30 s
  // (waits grow while nothing happens).
  var wallboard = document.querySelector("main.wallboard");
  if (wallboard) setInterval(function () { refresh(["main.wallboard .board"]); }, 30000);
  // In the inbox, j and k move through the list and Enter opens.
  if (inboxPage) {
    var index = -1;
    document.addEventListener("keydown", function (event) {
      if (/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) return;
      var rows = document.querySelectorAll(".conversations .conversation");
      if (!rows.length || !/^[jk]$/.test(event.key)) return;
      index = Math.max(0, Math.min(rows.length - 1, index + (event.key === "j" ? 1 : -1)));
      rows.forEach(function (r, i) { r.classList.toggle("current", i === index); });
      rows[index].querySelector("a").focus();
    });
  }
  // Saved views: the filters shown now, saved under a name; or one deleted.
  if (inboxPage) {
    document.addEventListener("click", function (event) {
      var save = event.target.closest && event.target.closest("button[data-save-view]");
      if (save) {
        var name = window.prompt(save.getAttribute("data-prompt"));
        if (!name || !name.trim()) return;
        api("POST", "/me/views", { name: name.trim(), query: window.location.search }).then(function () {
          window.location.reload();
        }, function (e) { alert(e.message); });
      }
      var remove = event.target.closest && event.target.closest("button[data-delete-view]");
      if (remove) {
        api("DELETE", "/me/views/" + remove.getAttribute("data-delete-view")).then(function () {
          remove.parentNode.remove();
        }, function (e) { alert(e.message); });
      }
    });
  }
  // Administration: each form, control and button names the API path it
  // calls (data-api) and the part of the page to draw again (data-refresh).
  var admin = document.querySelector("main.admin, main[data-forms]");
  if (admin) {
    var redraw = function (el) { refresh(el.getAttribute("data-refresh").split(",").map(function (s) { return s.trim(); })); };
    var fieldValue = function (el) {
      var type = el.getAttribute("data-type");
      if (el.type === "checkbox") return el.checked;
      if (type === "json") return el.value.trim() ? JSON.parse(el.value) : undefined;
      if (type === "list") return el.value.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
      if (type === "number") return el.value.trim() === "" ? undefined : Number(el.value);
      // "name:3, other:name:2" → { "name": 3, "other:name": 2 }
      if (type === "levels") {
        var map = {};
        el.value.split(",").map(function (v) { return v.trim(); }).filter(Boolean).forEach(function (pair) {
          var at = pair.lastIndexOf(":");
          if (at < 1 || isNaN(Number(pair.slice(at + 1)))) throw new Error(pair + ": name:number");
          map[pair.slice(0, at).trim()] = Number(pair.slice(at + 1));
        });
        return map;
      }
      return el.value === "" ? undefined : el.value;
    };
    // A field named "a.b" goes into body.a.b.
    var put = function (body, name, value) {
      var path = name.split("."), last = path.pop();
      path.forEach(function (key) { body = body[key] = body[key] || {}; });
      body[last] = value;
    };
    var done = function (where, created) {
      var secret = created && (typeof created.token === "string" ? "token " + created.token + " · secret " + created.secret : created.secret);
      if (secret) {
        var shown = admin.querySelector(".secret-shown");
        shown.querySelector("code").textContent = secret;
        shown.hidden = false;
        shown.scrollIntoView({ block: "center" });
      }
      if (where) { where.textContent = admin.getAttribute("data-saved"); where.className = "result ok"; }
    };
    var failed = function (where, e) {
      var message = admin.getAttribute("data-not-saved") + ": " + e.message;
      if (where) { where.textContent = message; where.className = "result error"; } else { alert(message); }
    };
    admin.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.hasAttribute("data-api")) return;
      event.preventDefault();
      var body = {}, result = form.querySelector(".result");
      try {
        Array.prototype.forEach.call(form.elements, function (el) {
          var value = el.name ? fieldValue(el) : undefined;
          if (value !== undefined) put(body, el.name, value);
        });
      } catch (e) { return failed(result, e); }
      api(form.getAttribute("data-method") || "POST", form.getAttribute("data-api"), body).then(function (created) {
        // A form that asks a question shows the answer's reasons instead.
        if (form.hasAttribute("data-show")) {
          var list = form.querySelector(".shown");
          list.textContent = "";
          ((created && created[form.getAttribute("data-show")]) || []).forEach(function (r) {
            var li = document.createElement("li");
            li.textContent = r.label + ": " + r.value + " — " + r.why;
            list.appendChild(li);
          });
          return;
        }
        // A form that creates something to open next (a journey's builder).
        // Its address names fields of the answer: "/segments/{id}",
        // "/conversations/{request.conversation_id}".
        if (form.hasAttribute("data-redirect") && created) {
          window.location.href = form.getAttribute("data-redirect").replace(/\{([\w.]+)\}/g, function (_, path) {
            var value = path.split(".").reduce(function (at, key) { return at == null ? at : at[key]; }, created);
            return encodeURIComponent(value == null ? "" : String(value));
          });
          return;
        }
        if (form.classList.contains("create")) form.reset();
        done(result, created);
        // A form whose result is something under way says what happens next.
        if (result && form.hasAttribute("data-done")) result.textContent = form.getAttribute("data-done");
        if (form.hasAttribute("data-refresh")) redraw(form);
      }, function (e) { failed(result, e); });
    });
    admin.addEventListener("change", function (event) {
      var el = event.target;
      if (el.hasAttribute("data-inbox-bot")) {
        var choice = el.value, bot = null;
        if (choice === "builtin") bot = { mode: "builtin" };
        else if (choice) bot = { mode: "external", agent_bot_id: choice };
        api("PUT", el.getAttribute("data-inbox-bot"), bot).then(function () { redraw(el); }, function (e) { failed(null, e); redraw(el); });
        return;
      }
      if (el.hasAttribute("data-add-member") && el.value) {
        api("PUT", el.getAttribute("data-add-member") + el.value).then(function () {
          redraw(el);
        }, function (e) { failed(null, e); });
        return;
      }
      if (!el.hasAttribute("data-api") || el.form) return;
      var body = {};
      body[el.name] = fieldValue(el);
      api("PATCH", el.getAttribute("data-api"), body).then(function () {
        redraw(el);
      }, function (e) { failed(null, e); redraw(el); });
    });
    admin.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("button[data-api]");
      if (!button) return;
      var confirmation = button.getAttribute("data-confirm");
      if (confirmation && !window.confirm(confirmation)) return;
      var body = button.hasAttribute("data-body") ? JSON.parse(button.getAttribute("data-body")) : undefined;
      api(button.getAttribute("data-method"), button.getAttribute("data-api"), body).then(function () {
        // A button that removes the page's subject goes elsewhere after.
        if (button.hasAttribute("data-redirect")) { window.location.href = button.getAttribute("data-redirect"); return; }
        redraw(button);
      }, function (e) { failed(null, e); });
    });
  }

  // The phone menu builder: the form's fields become the inbox's `ivr`
  // setting, saved with its other settings (data-settings) as they were.
  var ivrBuilder = document.querySelector("[data-ivr-builder]");
  if (ivrBuilder) {
    var ivrRows = ivrBuilder.querySelector(".ivr-menu tbody");
    ivrBuilder.addEventListener("click", function (event) {
      if (event.target.closest("[data-add-option]")) {
        ivrRows.appendChild(ivrBuilder.querySelector(".ivr-option-template").content.cloneNode(true));
      } else if (event.target.closest("[data-remove-option]")) {
        event.target.closest("tr").remove();
      }
    });
    ivrBuilder.addEventListener("submit", function (event) {
      event.preventDefault();
      var f = ivrBuilder.elements, result = ivrBuilder.querySelector(".result");
      var trim = function (v) { return v.trim(); };
      var words = function (it, en) {
        var w = {};
        if (it.trim()) w.it = it.trim();
        if (en.trim()) w.en = en.trim();
        return w;
      };
      var list = function (text) { return text.split(",").map(trim).filter(Boolean); };
      var ivr;
      try {
        var languages = [];
        if (f.lang_it.checked) languages.push("it");
        if (f.lang_en.checked) languages.push("en");
        if (f.english_first.checked) languages.reverse();
        var menu = Array.prototype.map.call(ivrRows.querySelectorAll("tr.ivr-option"), function (row) {
          var field = function (name) { return row.querySelector("[name=" + name + "]").value; };
          var option = { digit: field("digit").trim(), label: words(field("label_it"), field("label_en")), words: {} };
          if (list(field("words_it")).length) option.words.it = list(field("words_it"));
          if (list(field("words_en")).length) option.words.en = list(field("words_en"));
          if (field("team_id")) option.team_id = field("team_id");
          return option;
        });
        ivr = { languages: languages, greeting: words(f.greeting_it.value, f.greeting_en.value), menu: menu,
                closed: words(f.closed_it.value, f.closed_en.value), max_wait_secs: Number(f.max_wait.value || 300),
                callback: f.callback.checked, ring_secs: Number(f.ring_secs.value || 20), record: f.record.checked };
        if (f.hold_music.value.trim()) ivr.hold_music_url = f.hold_music.value.trim();
        var openings = f.openings.value.split("\n").map(trim).filter(Boolean).map(function (line) {
          var m = line.match(/^([A-Za-z]+)\s+(\d\d:\d\d)\s*-\s*(\d\d:\d\d)$/);
          if (!m) throw new Error(line + ": monday 09:00-18:00");
          return { day: m[1].toLowerCase(), open: m[2], close: m[3] };
        });
        if (f.time_zone.value.trim() || openings.length) ivr.hours = { time_zone: f.time_zone.value.trim(), openings: openings };
      } catch (e) {
        result.textContent = ivrBuilder.closest("main").getAttribute("data-not-saved") + ": " + e.message;
        result.className = "result error";
        return;
      }
      var settings = JSON.parse(ivrBuilder.getAttribute("data-settings"));
      settings.ivr = ivr;
      api("PATCH", ivrBuilder.getAttribute("data-ivr-builder"), { settings: settings }).then(function () {
        result.textContent = ivrBuilder.closest("main").getAttribute("data-saved");
        result.className = "result ok";
      }, function (e) {
        result.textContent = ivrBuilder.closest("main").getAttribute("data-not-saved") + ": " + e.message;
        result.className = "result error";
      });
    });
  }

  // The journey builder: the spec travels with the flow (data-spec); edits
  // in the cards, removed and added steps change it, and saving sends it
  // whole as a new version.
  var flow = document.querySelector("[data-journey-builder]");
  if (flow) {
    var spec = JSON.parse(flow.getAttribute("data-spec"));
    var output = document.querySelector("[data-journey-result]");
    // Every list of steps in the spec, by the name the page gives it.
    var lists = function () {
      var found = { top: spec.steps };
      var walk = function (steps) {
        steps.forEach(function (step) {
          if (step.type === "wait_for_event") {
            found[step.id + "|then"] = step.then = step.then || [];
            found[step.id + "|timeout"] = step.timeout = step.timeout || [];
            walk(step.then); walk(step.timeout);
          }
          if (step.type === "branch") {
            (step.branches || []).forEach(function (arm, i) { found[step.id + "|branches." + i] = arm.steps = arm.steps || []; walk(arm.steps); });
            found[step.id + "|otherwise"] = step.otherwise = step.otherwise || [];
            walk(step.otherwise);
          }
        });
      };
      walk(spec.steps);
      return found;
    };
    var findStep = function (id) {
      var all = lists(), hit = null;
      Object.keys(all).forEach(function (name) {
        all[name].forEach(function (step, i) { if (step.id === id) hit = { list: all[name], index: i, step: step }; });
      });
      return hit;
    };
    // The cards' fields into the spec.
    var collect = function () {
      flow.querySelectorAll("[data-step]").forEach(function (card) {
        var hit = findStep(card.getAttribute("data-step"));
        if (!hit) return;
        card.querySelectorAll("[data-field]").forEach(function (input) {
          var field = input.getAttribute("data-field"), kind = input.getAttribute("data-kind"), value = input.value;
          if (kind === "hours") {
            var seconds = Math.round(Number(value) * 3600);
            if (isNaN(seconds)) throw new Error(field + ": " + value);
            hit.step[hit.step.type === "wait_for_event" ? "timeout_seconds" : "seconds"] = seconds;
          } else if (kind === "json") {
            try { hit.step[field] = JSON.parse(value); } catch (e) { hit.step[field] = value; }
          } else {
            hit.step[field] = value;
          }
        });
      });
    };
    var save = function () {
      try { collect(); } catch (e) { output.textContent = e.message; output.className = "result error"; return; }
      api("PATCH", flow.getAttribute("data-journey-builder"), { spec: spec }).then(function () {
        window.location.reload();
      }, function (e) { output.textContent = e.message; output.className = "result error"; });
    };
    var fresh = {
      wait: { seconds: 3600 },
      wait_window: { days: [], from: "09:00", to: "18:00" },
      wait_for_event: { event: { name: "Order Completed" }, timeout_seconds: 86400, then: [], timeout: [] },
      branch: { branches: [{ name: "A", when: [{ type: "has_open_conversation" }], steps: [] }], otherwise: [] },
      send: { channel: "email", purpose: "service", text: "Hi {{name}}" },
      task: { kind: "call", title: "Call {{name}}" },
      set_attribute: { key: "stage", value: "contacted" },
      add_label: { label: "journey" },
      open_conversation: { note: "From a journey" },
      webhook: { url: "https://example.com/hook" },
      exit: {}
    };
    document.querySelector("[data-save-journey]").addEventListener("click", save);
    flow.addEventListener("click", function (event) {
      var remove = event.target.closest && event.target.closest("[data-remove-step]");
      if (!remove) return;
      try { collect(); } catch (e) { return; }
      var hit = findStep(remove.getAttribute("data-remove-step"));
      if (hit) hit.list.splice(hit.index, 1);
      save();
    });
    flow.addEventListener("change", function (event) {
      var select = event.target;
      if (!select.hasAttribute("data-add-step") || !select.value) return;
      try { collect(); } catch (e) { return; }
      var list = lists()[select.getAttribute("data-add-step")], kind = select.value, base = kind.replace(/_/g, "-"), n = 1;
      while (findStep(base + "-" + n)) n += 1;
      var step = JSON.parse(JSON.stringify(fresh[kind]));
      step.id = base + "-" + n;
      step.type = kind;
      if (list) list.push(step);
      save();
    });
  }

  // Tasks at the top of the inbox: done, and gone from the list.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-task-done]");
    if (!button) return;
    api("PATCH", "/tasks/" + button.getAttribute("data-task-done"), { done: true }).then(function () {
      var item = button.closest("li"), list = item.parentNode;
      item.remove();
      if (!list.children.length) list.closest(".tasks").remove();
    }, function (e) { alert(e.message); });
  });

  var page = document.querySelector(".conversation-page");
  var current = page && page.getAttribute("data-conversation");

  function connect(attempt) {
    if (!inboxPage && !page && !wallboard) return;
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live");
    socket.onopen = function () {
      document.documentElement.setAttribute("data-live", "on");
      // Back after a lost connection: catch up on what happened meanwhile.
      if (attempt > 0) notice({ type: "resync" });
      attempt = 0;
    };
    socket.onmessage = function (event) {
      try { notice(JSON.parse(event.data)); } catch (e) { /* not ours */ }
    };
    socket.onclose = function () {
      document.documentElement.setAttribute("data-live", "off");
      setTimeout(function () { connect(attempt + 1); }, Math.min(30000, 500 * Math.pow(2, attempt)));
    };
  }

  // Fields that keep what was typed last on this device (the shop on the
  // in-store page's tablet).
  Array.prototype.forEach.call(document.querySelectorAll("input[data-remember]"), function (input) {
    var key = "threadline:" + input.getAttribute("data-remember");
    try {
      if (!input.value) input.value = localStorage.getItem(key) || "";
      input.addEventListener("change", function () { localStorage.setItem(key, input.value.trim()); });
    } catch (e) { /* storage refused: nothing remembered */ }
  });

  // A colleague's note named this agent: a notice with a link, until closed.
  // So was a missed SLA target, for supervisors (`what` names the words).
  // At most three show at once, each conversation once; beyond that, the
  // oldest make way and a line counts them (a burst of missed targets
  // must not bury the page).
  var MAX_TOASTS = 3, hidden = 0;
  function mentioned(conversation, what) {
    var toasts = document.querySelector(".toasts");
    if (!toasts || !/^[0-9a-f-]{36}$/.test(conversation)) return;
    var key = (what || "data-mention") + ":" + conversation;
    if (toasts.querySelector('[data-key="' + key + '"]')) return;
    var toast = document.createElement("div"), link = document.createElement("a"), close = document.createElement("button");
    toast.className = "toast";
    toast.setAttribute("data-key", key);
    toast.appendChild(document.createTextNode(toasts.getAttribute(what || "data-mention") + " "));
    link.href = "/conversations/" + conversation;
    link.textContent = toasts.getAttribute("data-open");
    close.type = "button";
    close.className = "link";
    close.textContent = "×";
    close.setAttribute("aria-label", "close");
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(link);
    toast.appendChild(close);
    toasts.appendChild(toast);
    var shown = toasts.querySelectorAll(".toast");
    if (shown.length > MAX_TOASTS) {
      shown[0].remove();
      hidden += 1;
      var more = toasts.querySelector(".toast-more");
      if (!more) {
        more = document.createElement("a");
        more.className = "toast-more";
        more.href = "/inbox";
        toasts.insertBefore(more, toasts.firstChild);
      }
      more.textContent = "+" + hidden + " " + toasts.getAttribute("data-more");
    }
  }

  // Agent assist: suggestions for the customer's latest message, fetched
  // after the page (they take a search) and again when the customer writes.
  var slot = document.querySelector("[data-assist]");
  function loadAssist() {
    if (!slot) return;
    fetch(slot.getAttribute("data-assist"), { credentials: "same-origin", headers: { accept: "text/html" } }).then(function (r) {
      return r.ok ? r.text() : "";
    }).then(function (html) {
      var part = new DOMParser().parseFromString(html, "text/html").querySelector("#assist");
      slot.textContent = "";
      if (part) slot.appendChild(document.importNode(part, true));
    }).catch(function () {});
  }
  loadAssist();

  // The screen pop: while an agent's phone rings for a caller, the call's
  // notice shows the caller's panel (who they are, their orders, their
  // conversations), read from the conversation's page; to read, not edit.
  function screenPop(conversation) {
    var toast = document.querySelector('.toasts [data-key="data-call:' + conversation + '"]');
    if (!toast || toast.querySelector(".screen-pop") || conversation === current) return;
    fetch("/conversations/" + conversation, { credentials: "same-origin", headers: { accept: "text/html" } }).then(function (r) {
      return r.ok ? r.text() : "";
    }).then(function (html) {
      var panel = new DOMParser().parseFromString(html, "text/html").querySelector("aside.customer");
      if (!panel) return;
      panel = document.importNode(panel, true);
      Array.prototype.forEach.call(panel.querySelectorAll("form.contact-name"), function (form) {
        var name = document.createElement("p");
        name.className = "caller-name";
        name.textContent = form.elements.name.value || form.elements.name.placeholder;
        form.replaceWith(name);
      });
      Array.prototype.forEach.call(panel.querySelectorAll(".privacy"), function (el) {
        if (el.previousElementSibling && el.previousElementSibling.tagName === "H3") el.previousElementSibling.remove();
      });
      Array.prototype.forEach.call(panel.querySelectorAll("form, button, details, .call-box, .privacy"), function (el) { el.remove(); });
      Array.prototype.forEach.call(panel.querySelectorAll("input, select, textarea"), function (el) { el.disabled = true; });
      panel.className = "screen-pop";
      panel.removeAttribute("data-contact");
      toast.appendChild(panel);
    }).catch(function () {});
  }

  var typingTimer = null;
  function notice(n) {
    if (n.type === "typing") {
      var shown = page && document.querySelector(".typing");
      if (shown && n.contact_id === page.getAttribute("data-contact")) {
        shown.hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { shown.hidden = true; }, 4000);
      }
      return;
    }
    if (n.type === "mention") mentioned(n.conversation_id);
    if (n.type === "sla.breached") mentioned(n.conversation_id, "data-sla");
    if (n.type === "call") {
      mentioned(n.conversation_id, "data-call");
      screenPop(n.conversation_id);
    }
    if (inboxPage) refresh(["main.inbox .list"]);
    if (wallboard) refresh(["main.wallboard .board"]);
    if (page && (n.type === "resync" || n.conversation_id === current)) {
      refresh([".timeline", ".thread-head"]);
      if (n.type === "message.created") loadAssist();
    }
  }
  connect(0);

  // While a workspace page is open, the agent is online.
  function presence() {
    if (!document.querySelector("meta[name=csrf]") || document.visibilityState !== "visible") return;
    api("PUT", "/me/presence", { status: "online" }).catch(function () {});
  }
  presence();
  setInterval(presence, 4 * 60 * 1000);
  document.addEventListener("visibilitychange", presence);

  if (!page) return;
  var id = page.getAttribute("data-conversation");

  var form = document.getElementById("reply");
  var error = form.querySelector(".error");

  // Where only an approved template may go (a WhatsApp window has closed),
  // the reply box offers the channel's templates and their values instead of text.
  var picker = form.querySelector(".template-picker");
  function templateOnly() {
    var option = form.elements.channel.selectedOptions[0];
    return !!option && option.hasAttribute("data-template-only") && !form.elements.note.checked;
  }
  function showTemplate() {
    var only = templateOnly();
    picker.hidden = !only;
    form.elements.text.hidden = only;
    form.elements.text.required = !only;
    if (!only) return;
    var channel = form.elements.channel.value, select = form.elements.template, first = null;
    Array.prototype.forEach.call(select.options, function (o) {
      o.hidden = o.getAttribute("data-channel") !== channel;
      if (!o.hidden && !first) first = o;
    });
    if (select.selectedOptions[0] && select.selectedOptions[0].hidden && first) select.value = first.value;
    var chosen = select.selectedOptions[0];
    picker.querySelector(".template-body").textContent = chosen ? chosen.getAttribute("data-body") : "";
    var box = picker.querySelector(".template-variables");
    box.textContent = "";
    var count = chosen ? parseInt(chosen.getAttribute("data-variables"), 10) || 0 : 0;
    for (var i = 1; i <= count; i++) {
      var input = document.createElement("input");
      input.name = "variable";
      input.required = true;
      input.placeholder = box.getAttribute("data-label") + " {{" + i + "}}";
      box.appendChild(input);
    }
  }
  form.elements.channel.addEventListener("change", showTemplate);
  form.elements.template.addEventListener("change", showTemplate);
  form.elements.note.addEventListener("change", showTemplate);
  showTemplate();
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    error.hidden = true;
    var note = form.elements.note.checked;
    var body = { text: form.elements.text.value, kind: note ? "note" : "message" };
    if (!note) body.channel = form.elements.channel.value;
    if (templateOnly()) {
      var values = Array.prototype.map.call(form.querySelectorAll("input[name=variable]"), function (i) { return i.value; });
      body = { channel: form.elements.channel.value, template: { template_id: form.elements.template.value, variables: values } };
    }
    api("POST", "/conversations/" + id + "/messages", body).then(function () {
      form.elements.text.value = "";
      button.disabled = false;
      refresh([".timeline", ".thread-head"]);
    }, function (e) {
      error.textContent = page.getAttribute("data-error") + ": " + e.message;
      error.hidden = false;
      button.disabled = false;
    });
  });

  // The head is re-rendered live: listen on the document, not the buttons.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-status]");
    if (!button) return;
    api("PATCH", "/conversations/" + id, { status: button.getAttribute("data-status") }).then(function () {
      refresh([".timeline", ".thread-head"]);
    }, function (e) { alert(e.message); });
  });

  // A suggestion goes into the reply box; an agent may take over from the bot.
  document.addEventListener("click", function (event) {
    var use = event.target.closest && event.target.closest("button[data-insert]");
    if (use) {
      var box = form.elements.text, text = use.getAttribute("data-insert");
      box.value = box.value.trim() ? box.value.replace(/\s*$/, "\n\n") + text : text;
      box.focus();
    }
    var take = event.target.closest && event.target.closest("button[data-take-over]");
    if (take) {
      api("POST", "/conversations/" + id + "/take-over").then(function () {
        refresh([".timeline", ".thread-head"]);
      }, function (e) { alert(e.message); });
    }
  });

  // While the agent types a reply, the customer's chat says so (every 3 s at most).
  var lastTyping = 0;
  form.elements.text.addEventListener("input", function () {
    if (form.elements.note.checked || Date.now() - lastTyping < 3000) return;
    lastTyping = Date.now();
    api("POST", "/conversations/" + id + "/typing").catch(function () {});
  });

  // A canned response goes into the reply box, already filled in.
  if (form.elements.canned) {
    form.elements.canned.addEventListener("change", function () {
      var chosen = form.elements.canned.selectedOptions[0];
      if (!chosen || !chosen.value) return;
      var box = form.elements.text, text = chosen.getAttribute("data-text");
      box.value = box.value.trim() ? box.value.replace(/\s*$/, "\n\n") + text : text;
      form.elements.canned.value = "";
      box.focus();
    });
  }

  // Assignee, team, priority and labels save as soon as they change.
  document.addEventListener("change", function (event) {
    var field = event.target.getAttribute && event.target.getAttribute("data-field");
    if (!field) return;
    var value = event.target.value, body = {};
    if (field === "labels") {
      body.labels = value.split(",").map(function (l) { return l.trim(); }).filter(Boolean);
    } else {
      body[field] = value === "" ? null : value;
    }
    api("PATCH", "/conversations/" + id, body).then(function () {
      refresh([".timeline", ".thread-head"]);
    }, function (e) { alert(e.message); });
  });

  // Snooze until 9:00 tomorrow, the agent's time.
  document.addEventListener("click", function (event) {
    if (!(event.target.closest && event.target.closest("button[data-snooze]"))) return;
    var until = new Date();
    until.setDate(until.getDate() + 1);
    until.setHours(9, 0, 0, 0);
    api("PATCH", "/conversations/" + id, { snoozed_until: until.toISOString() }).then(function () {
      refresh([".timeline", ".thread-head"]);
    }, function (e) { alert(e.message); });
  });

  // Customer 360: the name and attributes save as they change; a likely
  // duplicate merges into this customer after a confirmation.
  var contact = page.getAttribute("data-contact");
  function saveContact(body) {
    var shown = document.querySelector(".contact-error");
    if (shown) shown.hidden = true;
    return api("PATCH", "/contacts/" + contact, body).then(function () {
      refresh([".customer", ".thread-head"]);
    }, function (e) {
      var shown = document.querySelector(".contact-error");
      shown.textContent = shown.getAttribute("data-label") + ": " + e.message;
      shown.hidden = false;
    });
  }
  function attribute(scope, key, value) {
    var body = {};
    body[scope] = {};
    body[scope][key] = value;
    return body;
  }
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.closest || !input.closest(".customer")) return;
    if (input.name === "name" && input.closest("[data-contact-edit]")) {
      saveContact({ name: input.value.trim() || null });
    } else if (input.hasAttribute("data-attribute")) {
      var value = input.value;
      if (input.hasAttribute("data-json")) {
        try { value = JSON.parse(value); } catch (e) { /* kept as text */ }
      }
      saveContact(attribute(input.getAttribute("data-scope"), input.getAttribute("data-attribute"), value));
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("data-contact-edit")) {
      event.preventDefault();
      form.elements.name.blur();
    } else if (form.hasAttribute("data-add-attribute")) {
      event.preventDefault();
      saveContact(attribute("custom_attributes", form.elements.key.value.trim(), form.elements.value.value));
    }
  });
  document.addEventListener("click", function (event) {
    var remove = event.target.closest && event.target.closest("button[data-remove-attribute]");
    if (remove) saveContact(attribute(remove.getAttribute("data-scope"), remove.getAttribute("data-remove-attribute"), null));
    var erase = event.target.closest && event.target.closest("button[data-erase]");
    if (erase && window.confirm(erase.getAttribute("data-confirm"))) {
      api("POST", "/contacts/" + contact + "/erase", {}).then(function () { location.reload(); }, function (e) { alert(e.message); });
    }
    var merge = event.target.closest && event.target.closest("button[data-merge]");
    if (merge && window.confirm(merge.getAttribute("data-confirm"))) {
      api("POST", "/contacts/" + contact + "/merge", { contact_id: merge.getAttribute("data-merge") }).then(function () {
        refresh([".customer", ".timeline", ".thread-head"]);
      }, function (e) { alert(e.message); });
    }
  });

  document.addEventListener("keydown", function (event) {
    // "r" jumps to the reply box, as in most helpdesks.
    if (event.key === "r" && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      event.preventDefault();
      form.elements.text.focus();
    }
  });
})();
