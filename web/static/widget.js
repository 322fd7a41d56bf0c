/* The chat widget. One tag on any page adds it:
 *   <script src="https://support.example.com/static/widget.js" defer></script>
 * Optional attributes: data-title, and for signed-in customers data-email, data-expires and
 * data-signature (made by the shop's server with SUPPORT_WIDGET_SECRET; see the README).
 * No build step, no dependencies. The conversation is kept in localStorage across reloads,
 * for the customer who started it: another signed-in customer on the same browser gets a
 * new one. On logout the shop calls SupportWidget.reset(). */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script.src, location.href).origin;
  var api = base + "/api/v1";
  var title = script.dataset.title || "Support";
  var storeKey = "support-widget:" + base;
  var who = fingerprint((script.dataset.email || "").toLowerCase()); // "" for a guest
  var state = JSON.parse(localStorage.getItem(storeKey) || "null"); // {id, token, who}
  if (state && state.who !== who) { state = null; localStorage.removeItem(storeKey); }
  var seen = {}; // message ids already on screen
  var sentTexts = []; // customer messages shown before the server gave them an id
  var provisional = null; // the reply bubble while it streams
  var cursor = 0;
  var streaming = false;

  /* FNV-1a of the signed-in email: tells customers apart without keeping their address. */
  function fingerprint(text) {
    if (!text) return "";
    var hash = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash.toString(16);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  var css = el("link", { rel: "stylesheet", href: base + "/static/widget.css" });
  document.head.appendChild(css);
  var root = el("div", { class: "sw-root" });
  var bubble = el("button", { class: "sw-bubble", type: "button", "aria-label": "Open chat: " + title,
    "aria-expanded": "false", "aria-controls": "sw-panel" });
  // An inline icon: emoji fonts are missing on many systems.
  bubble.innerHTML = '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true">' +
    '<path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  var panel = el("section", { class: "sw-panel", id: "sw-panel", role: "dialog", "aria-label": title, hidden: "" });
  var head = el("header", { class: "sw-head" });
  head.appendChild(el("h2", {}, title));
  var close = el("button", { class: "sw-close", type: "button", "aria-label": "Close chat" }, "×");
  head.appendChild(close);
  var log = el("ol", { class: "sw-log", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  var hello = el("li", { class: "sw-hello" },
    "Hi! Ask us anything. We answer from our help pages, and a person checks anything we are unsure about.");
  log.appendChild(hello);
  var notice = el("p", { class: "sw-notice", role: "status", hidden: "" });
  var form = el("form", { class: "sw-form" });
  var input = el("textarea", { class: "sw-input", rows: "2", maxlength: "4000", "aria-label": "Your message",
    placeholder: "Ask about shipping, returns or an order…" });
  var send = el("button", { class: "sw-send", type: "submit" }, "Send");
  form.appendChild(input);
  form.appendChild(send);
  var rating = el("div", { class: "sw-rating", hidden: "" });
  rating.appendChild(el("span", {}, "How did we do?"));
  [1, 2, 3, 4, 5].forEach(function (n) {
    var star = el("button", { type: "button", "aria-label": "Rate " + n + " of 5" }, "★");
    star.addEventListener("click", function () { rate(n); });
    rating.appendChild(star);
  });
  [head, log, notice, rating, form].forEach(function (n) { panel.appendChild(n); });
  root.appendChild(panel);
  root.appendChild(bubble);
  document.body.appendChild(root);

  function open() {
    panel.hidden = false;
    bubble.setAttribute("aria-expanded", "true");
    input.focus();
    if (state && !streaming) listen();
  }
  function shut() {
    panel.hidden = true;
    bubble.setAttribute("aria-expanded", "false");
    bubble.focus();
  }
  bubble.addEventListener("click", function () { panel.hidden ? open() : shut(); });
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") shut(); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });

  function scroll() { log.scrollTop = log.scrollHeight; }

  function fill(item, msg) {
    item.className = "sw-msg sw-" + msg.author;
    item.textContent = "";
    item.appendChild(el("p", {}, msg.text));
    if (msg.author === "operator") item.appendChild(el("small", { class: "sw-by" }, "Checked by a person"));
    if (msg.citations && msg.citations.length) {
      var list = el("ul", { class: "sw-sources", "aria-label": "Sources" });
      msg.citations.forEach(function (c) {
        var li = el("li");
        if (c.url) {
          li.appendChild(el("a", { href: c.url, target: "_blank", rel: "noopener noreferrer" }, c.title));
        } else { li.textContent = c.title; }
        list.appendChild(li);
      });
      item.appendChild(list);
    }
    if (msg.id) { item.dataset.id = msg.id; seen[msg.id] = true; }
    if (msg.author !== "customer") { rating.hidden = false; }
    scroll();
  }

  function show(msg) {
    if (msg.id && seen[msg.id]) return;
    if (msg.author === "customer") {
      var i = sentTexts.findIndex(function (s) { return s.text === msg.text; });
      if (i >= 0) { sentTexts[i].item.dataset.id = msg.id; seen[msg.id] = true; sentTexts.splice(i, 1); return; }
    } else if (provisional) {
      var item = provisional; provisional = null; fill(item, msg); return;
    }
    if (msg.author !== "customer") notice.hidden = true;
    var li = el("li");
    log.appendChild(li);
    fill(li, msg);
  }

  function waitNotice(minutes) {
    var wait = minutes >= 90 ? Math.round(minutes / 60) + " hours" : minutes + " minutes";
    notice.textContent = "A person will check this and reply here, usually within about " + wait + ".";
    notice.hidden = false;
  }

  function say(text) { notice.textContent = text; notice.hidden = false; }

  function request(path, options) {
    options = options || {};
    options.headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
    if (state) options.headers.Authorization = "Bearer " + state.token;
    return fetch(api + path, options);
  }

  function problem(response) {
    return response.json().then(function (b) { return b.error.message; },
      function () { return "Something went wrong (" + response.status + ")."; });
  }

  function start() {
    if (state) return Promise.resolve();
    var body = script.dataset.email ? {
      email: script.dataset.email,
      expires: parseInt(script.dataset.expires, 10),
      signature: script.dataset.signature,
    } : {};
    return request("/conversations", { method: "POST", body: JSON.stringify(body) }).then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { throw new Error(m); });
      return r.json().then(function (c) {
        state = { id: c.id, token: c.token, who: who };
        localStorage.setItem(storeKey, JSON.stringify(state));
        listen();
      });
    });
  }

  /* Server-sent events read through fetch, so the token goes in a header, not the URL. */
  function parseEvent(part, onEvent) {
    var name = "message", data = "";
    part.split("\n").forEach(function (line) {
      if (line.indexOf("event: ") === 0) name = line.slice(7);
      if (line.indexOf("data: ") === 0) data += line.slice(6);
    });
    if (data) onEvent(name, JSON.parse(data));
  }

  function readEvents(response, onEvent) {
    if (!response.ok || !response.body) {
      return problem(response).then(function (m) { throw Object.assign(new Error(m), { status: response.status }); });
    }
    var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var parts = buffer.split("\n\n");
        buffer = parts.pop();
        parts.forEach(function (part) { parseEvent(part, onEvent); });
        return pump();
      });
    }
    return pump();
  }

  function listen() {
    if (streaming || !state) return;
    streaming = true;
    request("/conversations/" + state.id + "/events?after=" + cursor, {
      headers: { Accept: "text/event-stream" },
    }).then(function (r) {
      return readEvents(r, function (name, msg) {
        if (name === "message") { cursor = Math.max(cursor, msg.id); show(msg); }
      });
    }).catch(function (error) {
      if (error.status === 403) { forget(); }
    }).then(function () {
      streaming = false;
      if (state) setTimeout(listen, 2000);
    });
  }

  function forget() { state = null; localStorage.removeItem(storeKey); }

  /* For the shop's logout: the next visitor on this browser starts a new conversation. */
  window.SupportWidget = {
    reset: function () {
      forget();
      seen = {};
      sentTexts = [];
      cursor = 0;
      log.textContent = "";
      log.appendChild(hello);
      notice.hidden = true;
    },
  };

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send.disabled = true;
    notice.hidden = true;
    var mine = el("li");
    log.appendChild(mine);
    fill(mine, { author: "customer", text: text });
    sentTexts.push({ text: text, item: mine });
    start().then(function () {
      provisional = el("li", { class: "sw-msg sw-agent sw-provisional", "aria-busy": "true" });
      provisional.appendChild(el("p", {}, "…"));
      log.appendChild(provisional);
      scroll();
      var streamed = "";
      return request("/conversations/" + state.id + "/messages", {
        method: "POST", headers: { Accept: "text/event-stream" }, body: JSON.stringify({ text: text }),
      }).then(function (r) {
        return readEvents(r, function (name, data) {
          if (name === "token" && provisional) {
            streamed += data.text;
            provisional.firstChild.textContent = streamed;
            scroll();
          } else if (name === "result") {
            mine.dataset.id = data.message_id;
            seen[data.message_id] = true;
            if (data.status === "sent") {
              show({ id: data.reply.message_id, author: "agent", text: data.reply.text, citations: data.reply.citations });
            } else if (data.drafting) {
              dropProvisional();  /* the reply arrives through the event stream */
              say("Still working on your answer: it will appear here.");
            } else {
              dropProvisional();
              waitNotice(data.expected_wait_minutes);
            }
          } else if (name === "error") { dropProvisional(); say(data.message); }
        });
      });
    }).catch(function (error) { dropProvisional(); say(error.message); })
      .then(function () { send.disabled = false; input.focus(); });
  });

  function dropProvisional() { if (provisional) { provisional.remove(); provisional = null; } }

  function rate(score) {
    request("/conversations/" + state.id + "/rating", { method: "POST", body: JSON.stringify({ score: score }) })
      .then(function (r) { rating.textContent = r.ok ? "Thanks for rating us " + score + " of 5." : "Rating failed."; });
  }

  /* Back after a reload: the conversation, and whether a person is still to reply. */
  if (state) {
    request("/conversations/" + state.id + "/messages?after=0").then(function (r) {
      if (r.status === 403 || r.status === 401) { forget(); return; }
      return r.json().then(function (body) {
        body.messages.forEach(show);
        cursor = body.cursor;
        if (body.pending) say("A person will check your last message and reply here.");
        listen();
      });
    });
  }
})();
