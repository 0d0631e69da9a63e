/*
 * Threadline web chat. Embed with one tag:
 *
 *   <script src="https://support.example.com/widget.js" data-inbox="INBOX_ID" async></script>
 *
 * For a signed-in user of your site, set before the tag:
 *
 *   window.threadlineSettings = { userId: "42", userHash: "<hex HMAC-SHA256 of the id with the inbox's identity_secret>",
 *                                 name: "Giulia Rossi", email: "giulia@example.com", language: "it" };
 *
 * Page views: when the inbox has `track_pages` on, the chat reports the
 * pages the visitor opens — only once the site says the visitor agreed,
 * with `threadlineSettings.trackingConsent = true` (set it from your
 * consent banner, before or after the tag; later pages follow it).
 *
 * The chat speaks Italian or English: `language` above, else the page's
 * <html lang>, else the browser's language.
 *
 * Everything renders inside a shadow root, so the page's styles and the
 * chat's never mix. Customer and agent text is only ever set as text.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__threadlineChat) return;
  window.__threadlineChat = true;
  var inbox = script.getAttribute("data-inbox");
  var server = new URL(script.src, location.href).origin;
  var base = server + "/widget/" + encodeURIComponent(inbox);
  var settings = window.threadlineSettings || {};
  var storeKey = "threadline:" + inbox;

  // The visitor's language (the page may set it), Italian or English.
  var STRINGS = {
    en: {
      chat: "Chat", name: "Your name", email: "Your email", message: "Message", write: "Write a message…", attach: "Attach a file",
      send: "Send", offlineIntro: "We're not online right now. Leave your email and we'll answer you there.",
      onlineIntro: "Tell us who you are, then write your message.", offline: "We'll reply by email", online: "We're online",
      typing: "An agent is typing…", needEmail: "Please leave your email so we can answer.", unavailable: "The chat is unavailable: ",
      unreadable: "the file could not be read"
    },
    it: {
      chat: "Chat", name: "Il tuo nome", email: "La tua email", message: "Messaggio", write: "Scrivi un messaggio…", attach: "Allega un file",
      send: "Invia", offlineIntro: "Ora non siamo online. Lasciaci la tua email e ti risponderemo lì.",
      onlineIntro: "Dicci chi sei, poi scrivi il tuo messaggio.", offline: "Ti risponderemo via email", online: "Siamo online",
      typing: "Un operatore sta scrivendo…", needEmail: "Lasciaci la tua email, così possiamo risponderti.",
      unavailable: "La chat non è disponibile: ", unreadable: "non è stato possibile leggere il file"
    }
  };
  var language = String(settings.language || document.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase();
  var t = STRINGS[language] || STRINGS.en;

  var state = {
    token: null, open: false, unread: 0, cursor: null, agentsOnline: 0, seen: {},
    name: settings.name || "", email: settings.email || "", introduced: false, socket: null, retry: 0,
    typingTimer: null, lastTypingSent: 0
  };
  try {
    var saved = JSON.parse(localStorage.getItem(storeKey) || "{}");
    state.token = saved.token || null;
    state.introduced = !!saved.introduced;
    state.name = state.name || saved.name || "";
    state.email = state.email || saved.email || "";
  } catch (e) { /* storage unavailable: a fresh visitor each time */ }

  function save() {
    try {
      localStorage.setItem(storeKey, JSON.stringify({ token: state.token, introduced: state.introduced, name: state.name, email: state.email }));
    } catch (e) { /* ignore */ }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function request(method, path, body) {
    var headers = { "content-type": "application/json" };
    if (state.token) headers["x-threadline-visitor"] = state.token;
    return fetch(base + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (json) {
          if (!r.ok) throw new Error((json.error && json.error.message) || ("HTTP " + r.status));
          return json;
        });
      });
  }

  // --- the interface -------------------------------------------------------
  var host = el("div", { id: "threadline-chat" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var style = el("style", { text: [
    ":host{all:initial}","[hidden]{display:none!important}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center;",
    "box-shadow:0 4px 14px rgba(0,0,0,.25);font-size:24px;z-index:2147483000}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#d93025;color:#fff;",
    "font-size:12px;line-height:20px;text-align:center;padding:0 5px}",
    ".panel{position:fixed;right:20px;bottom:88px;width:340px;max-width:calc(100vw - 40px);height:480px;max-height:calc(100vh - 120px);",
    "background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:none;flex-direction:column;overflow:hidden;z-index:2147483000}",
    ".panel.open{display:flex}",
    ".head{color:#fff;padding:12px 14px}.head b{display:block;font-size:15px}.head small{opacity:.85;font-size:12px}",
    ".list{flex:1;overflow-y:auto;padding:12px;background:#f6f7f9}",
    ".msg{width:fit-content;max-width:80%;margin:6px 0;padding:8px 10px;border-radius:10px;font-size:14px;line-height:1.35;white-space:pre-wrap;word-wrap:break-word}",
    ".msg.visitor{margin-left:auto;color:#fff}.msg.agent,.msg.bot{background:#fff;border:1px solid #e3e5e8;color:#1d1f23}",
    ".msg a{color:inherit}.note{font-size:12px;color:#5f6368;text-align:center;margin:8px 0}",
    ".typing{font-size:12px;color:#5f6368;padding:0 12px 6px;height:18px}",
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #e3e5e8;background:#fff;flex-wrap:wrap}",
    "input,textarea{flex:1;border:1px solid #cfd3d8;border-radius:8px;padding:8px;font-size:14px;min-width:0}",
    "textarea{resize:none;height:38px}",
    "button.send,button.attach{border:0;border-radius:8px;padding:0 12px;color:#fff;cursor:pointer;font-size:14px}",
    "button.attach{background:#e8eaed;color:#1d1f23;display:flex;align-items:center}",
    ".intro{padding:12px;display:flex;flex-direction:column;gap:8px;background:#fff;border-top:1px solid #e3e5e8}",
    ".intro p{margin:0;font-size:13px;color:#1d1f23}.intro input{flex:none}",
    ".error{color:#d93025;font-size:12px;padding:0 12px}",
    ".choices{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}",
    ".choices button{border:1px solid #cfd3d8;background:#fff;border-radius:16px;padding:6px 10px;font-size:13px;cursor:pointer;color:#1d1f23}",
    ".choices button small{color:#5f6368;margin-left:4px}"
  ].join("") });
  // Icons are inline SVG: no font on the visitor's machine is assumed.
  function icon(path) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "24");
    svg.setAttribute("height", "24");
    svg.setAttribute("aria-hidden", "true");
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", path);
    p.setAttribute("fill", "currentColor");
    svg.appendChild(p);
    return svg;
  }
  var CHAT_ICON = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
  var CLIP_ICON = "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z";
  var launcher = el("button", { "class": "launcher", "aria-label": t.chat, type: "button" }, [icon(CHAT_ICON)]);
  var badge = el("span", { "class": "badge", hidden: "" });
  launcher.appendChild(badge);
  var title = el("b", { text: "" });
  var status = el("small", { text: "" });
  var head = el("div", { "class": "head" }, [title, status]);
  var list = el("div", { "class": "list", role: "log", "aria-live": "polite" });
  var typing = el("div", { "class": "typing" });
  var error = el("div", { "class": "error", role: "alert" });
  var nameInput = el("input", { type: "text", placeholder: t.name, autocomplete: "name", name: "name" });
  var emailInput = el("input", { type: "email", placeholder: t.email, autocomplete: "email", name: "email" });
  var introText = el("p", { text: "" });
  var intro = el("div", { "class": "intro", hidden: "" }, [introText, nameInput, emailInput]);
  var text = el("textarea", { placeholder: t.write, "aria-label": t.message, name: "text" });
  var file = el("input", { type: "file", hidden: "" });
  var attach = el("button", { "class": "attach", type: "button", "aria-label": t.attach }, [icon(CLIP_ICON)]);
  var send = el("button", { "class": "send", type: "submit", text: t.send });
  var form = el("form", {}, [text, attach, send, file]);
  var panel = el("div", { "class": "panel", role: "dialog", "aria-label": t.chat }, [head, list, typing, error, intro, form]);
  root.appendChild(style);
  root.appendChild(panel);
  root.appendChild(launcher);

  function paint(color) {
    [launcher, head, send].forEach(function (n) { n.style.background = color; });
    state.color = color;
  }

  function showIntro() {
    // Ask who they are before the first message; when nobody is online,
    // insist on an email address so the answer can reach them.
    var offline = state.agentsOnline === 0;
    var needIntro = !state.introduced || (offline && !state.email);
    intro.hidden = !needIntro;
    introText.textContent = offline
      ? t.offlineIntro
      : t.onlineIntro;
    emailInput.required = offline;
    nameInput.value = nameInput.value || state.name;
    emailInput.value = emailInput.value || state.email;
    status.textContent = offline ? t.offline : t.online;
  }

  function setBadge() {
    badge.hidden = state.unread === 0;
    badge.textContent = state.unread > 9 ? "9+" : String(state.unread);
  }

  // `advance`: the message came in order (history, socket), so the next
  // catch-up may start after it. A message we just sent did not: a reply
  // stored before it may still be on its way.
  function render(message, advance) {
    if (advance !== false && (!state.cursor || message.cursor > state.cursor)) state.cursor = message.cursor;
    if (state.seen[message.id]) return;
    state.seen[message.id] = true;
    var bubble = el("div", { "class": "msg " + message.from, "data-id": message.id });
    if (message.text) bubble.appendChild(document.createTextNode(message.text));
    (message.attachments || []).forEach(function (a) {
      if (message.text) bubble.appendChild(el("br"));
      bubble.appendChild(el("a", { href: a.url, target: "_blank", rel: "noopener noreferrer", text: a.filename }));
    });
    if (message.from === "visitor") bubble.style.background = state.color;
    // Choices belong to the latest message only: anything said after them
    // (the visitor's answer included) takes them away.
    if (state.choices) { state.choices.remove(); state.choices = null; }
    list.appendChild(bubble);
    if (message.choices && message.choices.length) {
      state.choices = el("div", { "class": "choices", role: "group", "data-for": message.id });
      message.choices.forEach(function (c) {
        var label = [document.createTextNode(c.title)];
        if (c.description) label.push(el("small", { text: c.description }));
        var button = el("button", { type: "button", "aria-label": c.description ? c.title + " " + c.description : c.title }, label);
        button.addEventListener("click", function () { submit(null, c.title); });
        state.choices.appendChild(button);
      });
      list.appendChild(state.choices);
    }
    list.scrollTop = list.scrollHeight;
    if (message.from !== "visitor") {
      typing.textContent = "";
      if (state.open && document.visibilityState !== "hidden") markRead(message.id);
      else { state.unread += 1; setBadge(); state.pendingRead = (state.pendingRead || []).concat(message.id); }
    }
  }

  function markRead(id) {
    if (state.socket && state.socket.readyState === 1) state.socket.send(JSON.stringify({ type: "read", id: id }));
  }

  function catchUp() {
    var path = "/messages" + (state.cursor ? "?after=" + encodeURIComponent(state.cursor) : "");
    return request("GET", path).then(function (page) { page.data.forEach(function (m) { render(m, true); }); });
  }

  // A reply stored on another server node reaches this visitor's socket
  // only through a catch-up: do one now and then while the socket is open.
  setInterval(function () {
    if (state.token && state.socket && state.socket.readyState === 1) catchUp().catch(function () {});
  }, 30000);

  function connect() {
    var url = server.replace(/^http/, "ws") + "/widget/" + encodeURIComponent(inbox) + "/live?token=" + encodeURIComponent(state.token);
    var socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = function () { state.retry = 0; catchUp().catch(function () {}); };
    socket.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "message") render(data.message, true);
      else if (data.type === "typing") {
        typing.textContent = t.typing;
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(function () { typing.textContent = ""; }, 4000);
      } else if (data.type === "presence") { state.agentsOnline = data.agents_online; showIntro(); }
      else if (data.type === "resync") catchUp().catch(function () {});
    };
    socket.onclose = function () {
      // Reconnect with growing pauses; the catch-up fetch fills any gap.
      state.retry = Math.min(state.retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, state.retry - 1));
    };
  }

  function start() {
    var body = { token: state.token };
    if (settings.userId) { body.user_id = String(settings.userId); body.user_hash = settings.userHash; }
    return request("POST", "/session", body).then(function (session) {
      state.token = session.token;
      state.agentsOnline = session.agents_online;
      if (session.verified && settings.name) state.introduced = true;
      save();
      title.textContent = session.title;
      paint(session.color);
      showIntro();
      list.appendChild(el("div", { "class": "note", text: session.greeting }));
      if (session.track_pages) trackPages();
      return catchUp().then(connect);
    });
  }

  // Page views, with the visitor's consent only (read at each page, so a
  // consent given later counts from then on).
  var lastPage = null;
  function trackPage() {
    var consent = (window.threadlineSettings || {}).trackingConsent === true;
    if (!consent || !state.token || location.href === lastPage) return;
    lastPage = location.href;
    var body = { url: location.href, title: document.title || undefined, referrer: document.referrer || undefined };
    request("POST", "/pages", body).catch(function () { /* a page view is not worth bothering the visitor */ });
  }
  function trackPages() {
    trackPage();
    // Single-page sites change the address without loading a page.
    var push = history.pushState;
    history.pushState = function () {
      var result = push.apply(this, arguments);
      setTimeout(trackPage, 0);
      return result;
    };
    window.addEventListener("popstate", function () { setTimeout(trackPage, 0); });
  }

  function readFile(f) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(String(reader.result).split(",")[1] || ""); };
      reader.onerror = function () { reject(new Error(t.unreadable)); };
      reader.readAsDataURL(f);
    });
  }

  // `chosen`: the title of a choice tapped, sent instead of the text typed.
  function submit(attachment, chosen) {
    error.textContent = "";
    var message = chosen != null ? chosen : text.value.trim();
    if (!message && !attachment) return;
    if (!intro.hidden) {
      if (emailInput.required && !emailInput.value.trim()) { error.textContent = t.needEmail; emailInput.focus(); return; }
      state.name = nameInput.value.trim();
      state.email = emailInput.value.trim();
    }
    var body = { text: message };
    if (state.name) body.name = state.name;
    if (state.email) body.email = state.email;
    var ready = attachment
      ? readFile(attachment).then(function (data) {
          body.attachments = [{ filename: attachment.name, content_type: attachment.type || "application/octet-stream", data_base64: data }];
        })
      : Promise.resolve();
    send.disabled = true;
    ready.then(function () { return request("POST", "/messages", body); })
      .then(function (sent) {
        if (chosen == null) text.value = "";
        state.introduced = true;
        save();
        intro.hidden = true;
        render(sent, false);
        catchUp().catch(function () {});
      })
      .catch(function (e) { error.textContent = e.message; })
      .then(function () { send.disabled = false; });
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); submit(null); });
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(null); return; }
    var now = Date.now();
    if (state.socket && state.socket.readyState === 1 && now - state.lastTypingSent > 2000) {
      state.lastTypingSent = now;
      state.socket.send(JSON.stringify({ type: "typing" }));
    }
  });
  attach.addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () {
    if (file.files && file.files[0]) submit(file.files[0]);
    file.value = "";
  });
  launcher.addEventListener("click", function () {
    state.open = !state.open;
    panel.classList.toggle("open", state.open);
    if (state.open) {
      state.unread = 0;
      setBadge();
      (state.pendingRead || []).forEach(markRead);
      state.pendingRead = [];
      text.focus();
    }
  });

  function mount() {
    document.body.appendChild(host);
    start().catch(function (e) { error.textContent = t.unavailable + e.message; });
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
