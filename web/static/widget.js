/* The chat widget. One tag on any page adds it:
 *   <script src="https://support.example.com/static/widget.js" defer></script>
 * Optional attributes: data-title, data-lang (the widget's language; else the page's
 * <html lang>), and for signed-in customers data-email, data-expires and data-signature
 * (made by the shop's server with SUPPORT_WIDGET_SECRET; see the README).
 * No build step, no dependencies. The conversation is kept in localStorage across reloads,
 * for the customer who started it: another signed-in customer on the same browser gets a
 * new one. On logout the shop calls SupportWidget.reset(). */
(function () {
  "use strict";
  /* Every text the widget writes itself, by language. Strict JSON, so a test can check
   * that each language has every text with the same {placeholders}. */
  var TEXTS = {
    "en": {
      "title": "Support",
      "openChat": "Open chat: {title}",
      "closeChat": "Close chat",
      "messages": "Messages",
      "hello": "Hi! Ask us anything. We answer from our help pages, and a person checks anything we are unsure about.",
      "yourMessage": "Your message",
      "placeholder": "Ask about shipping, returns or an order…",
      "send": "Send",
      "writing": "Writing a reply…",
      "checkedByPerson": "Checked by a person",
      "sources": "Sources",
      "howDidWeDo": "How did we do?",
      "rate": "Rate {n} of 5",
      "rated": "Thanks for rating us {n} of 5.",
      "ratingFailed": "Your rating could not be saved.",
      "personWillReply": "A person will check this and reply here, usually within about {wait}.",
      "closedNow": "We're closed now. We open {day} at {time} ({zone}) and usually answer within {wait} of opening.",
      "awayUntil": "We're away until {date}; we'll answer when we're back.",
      "stillWorking": "Still working on your answer: it will appear here.",
      "personStillToReply": "A person will check your last message and reply here.",
      "offline": "We can't be reached right now. Please check your connection and try again.",
      "tooFast": "You're sending messages quickly. Please wait a moment and try again.",
      "tooLong": "Your message is too long. Please shorten it and try again.",
      "expired": "This chat has expired. Please reload the page.",
      "failed": "Something went wrong. Please try again."
    },
    "zh": {
      "title": "客服",
      "openChat": "打开聊天：{title}",
      "closeChat": "关闭聊天",
      "messages": "消息",
      "hello": "您好！有什么问题都可以问我们。我们根据帮助页面作答，不确定的内容会由工作人员核实。",
      "yourMessage": "您的消息",
      "placeholder": "咨询配送、退货或订单…",
      "send": "发送",
      "writing": "正在回复…",
      "checkedByPerson": "已由工作人员核实",
      "sources": "来源",
      "howDidWeDo": "您对我们的服务满意吗？",
      "rate": "评 {n} 分（满分 5 分）",
      "rated": "感谢您的评分：{n} 分（满分 5 分）。",
      "ratingFailed": "评分未能保存。",
      "personWillReply": "工作人员会查看并在这里回复您，一般需要约{wait}。",
      "closedNow": "我们现在不在服务时间。我们将于{day} {time}（{zone}）开始服务，通常在开始服务后{wait}内回复。",
      "awayUntil": "我们休假至{date}，回来后会回复您。",
      "stillWorking": "正在为您准备答复，稍后会显示在这里。",
      "personStillToReply": "工作人员会查看您的上一条消息并在这里回复。",
      "offline": "暂时无法连接，请检查网络后重试。",
      "tooFast": "您发送得太快了，请稍等片刻再试。",
      "tooLong": "消息太长，请缩短后重试。",
      "expired": "聊天已过期，请刷新页面。",
      "failed": "出了点问题，请重试。"
    },
    "de": {
      "title": "Kundenservice",
      "openChat": "Chat öffnen: {title}",
      "closeChat": "Chat schließen",
      "messages": "Nachrichten",
      "hello": "Hallo! Fragen Sie uns einfach. Wir antworten aus unseren Hilfeseiten; was wir nicht sicher wissen, prüft jemand aus unserem Team.",
      "yourMessage": "Ihre Nachricht",
      "placeholder": "Fragen zu Versand, Rücksendung oder Bestellung…",
      "send": "Senden",
      "writing": "Antwort wird geschrieben…",
      "checkedByPerson": "Von unserem Team geprüft",
      "sources": "Quellen",
      "howDidWeDo": "Wie zufrieden sind Sie?",
      "rate": "Mit {n} von 5 bewerten",
      "rated": "Danke für Ihre Bewertung: {n} von 5.",
      "ratingFailed": "Ihre Bewertung konnte nicht gespeichert werden.",
      "personWillReply": "Jemand aus unserem Team prüft das und antwortet hier, meist innerhalb von etwa {wait}.",
      "closedNow": "Wir haben gerade geschlossen. Wir öffnen am {day} um {time} Uhr ({zone}) und antworten meist innerhalb von {wait} nach Öffnung.",
      "awayUntil": "Wir sind bis zum {date} nicht da; wir antworten, sobald wir zurück sind.",
      "stillWorking": "Wir arbeiten noch an Ihrer Antwort – sie erscheint hier.",
      "personStillToReply": "Jemand aus unserem Team prüft Ihre letzte Nachricht und antwortet hier.",
      "offline": "Wir sind gerade nicht erreichbar. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
      "tooFast": "Sie schreiben gerade sehr schnell. Bitte warten Sie kurz und versuchen Sie es dann erneut.",
      "tooLong": "Ihre Nachricht ist zu lang. Bitte kürzen Sie sie und versuchen Sie es erneut.",
      "expired": "Dieser Chat ist abgelaufen. Bitte laden Sie die Seite neu.",
      "failed": "Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut."
    },
    "fr": {
      "title": "Assistance",
      "openChat": "Ouvrir le chat\u00a0: {title}",
      "closeChat": "Fermer le chat",
      "messages": "Messages",
      "hello": "Bonjour\u202f! Posez-nous vos questions. Nous répondons à partir de nos pages d'aide, et une personne de notre équipe vérifie ce dont nous ne sommes pas sûrs.",
      "yourMessage": "Votre message",
      "placeholder": "Une question sur la livraison, un retour ou une commande…",
      "send": "Envoyer",
      "writing": "Rédaction de la réponse…",
      "checkedByPerson": "Vérifié par notre équipe",
      "sources": "Sources",
      "howDidWeDo": "Votre avis sur notre aide\u202f?",
      "rate": "Noter {n} sur 5",
      "rated": "Merci pour votre note de {n} sur 5.",
      "ratingFailed": "Votre note n'a pas pu être enregistrée.",
      "personWillReply": "Une personne de notre équipe va examiner votre demande et vous répondra ici, généralement sous {wait} environ.",
      "closedNow": "Nous sommes fermés pour le moment. Nous ouvrons {day} à {time} ({zone}) et répondons généralement dans les {wait} suivant l'ouverture.",
      "awayUntil": "Nous sommes absents jusqu'au {date}\u00a0; nous vous répondrons à notre retour.",
      "stillWorking": "Nous préparons encore votre réponse\u00a0: elle s'affichera ici.",
      "personStillToReply": "Une personne de notre équipe va examiner votre dernier message et vous répondra ici.",
      "offline": "Connexion impossible pour le moment. Vérifiez votre connexion et réessayez.",
      "tooFast": "Vous envoyez des messages très rapidement. Patientez un instant, puis réessayez.",
      "tooLong": "Votre message est trop long. Raccourcissez-le, puis réessayez.",
      "expired": "Cette conversation a expiré. Veuillez recharger la page.",
      "failed": "Une erreur s'est produite. Veuillez réessayer."
    },
    "es": {
      "title": "Ayuda",
      "openChat": "Abrir chat: {title}",
      "closeChat": "Cerrar chat",
      "messages": "Mensajes",
      "hello": "¡Hola! Pregúntanos lo que quieras. Respondemos con nuestras páginas de ayuda y, si no estamos seguros, lo revisa una persona.",
      "yourMessage": "Tu mensaje",
      "placeholder": "Pregunta sobre envíos, devoluciones o pedidos…",
      "send": "Enviar",
      "writing": "Escribiendo una respuesta…",
      "checkedByPerson": "Revisado por una persona",
      "sources": "Fuentes",
      "howDidWeDo": "¿Qué te ha parecido nuestra ayuda?",
      "rate": "Valorar con {n} de 5",
      "rated": "Gracias por tu valoración: {n} de 5.",
      "ratingFailed": "No se pudo guardar tu valoración.",
      "personWillReply": "Una persona lo revisará y te responderá aquí, normalmente en un plazo aproximado de {wait}.",
      "closedNow": "Ahora estamos cerrados. Abrimos el {day} a las {time} ({zone}) y solemos responder en menos de {wait} desde la apertura.",
      "awayUntil": "Estamos fuera hasta el {date}; te responderemos a nuestra vuelta.",
      "stillWorking": "Seguimos preparando tu respuesta: aparecerá aquí.",
      "personStillToReply": "Una persona revisará tu último mensaje y te responderá aquí.",
      "offline": "No podemos conectar ahora mismo. Comprueba tu conexión y vuelve a intentarlo.",
      "tooFast": "Estás enviando mensajes muy rápido. Espera un momento y vuelve a intentarlo.",
      "tooLong": "Tu mensaje es demasiado largo. Acórtalo y vuelve a intentarlo.",
      "expired": "Este chat ha caducado. Vuelve a cargar la página.",
      "failed": "Algo ha fallado. Vuelve a intentarlo."
    },
    "ja": {
      "title": "サポート",
      "openChat": "チャットを開く：{title}",
      "closeChat": "チャットを閉じる",
      "messages": "メッセージ",
      "hello": "こんにちは！何でもお気軽にお尋ねください。ヘルプページをもとにお答えし、確かでない内容は担当者が確認します。",
      "yourMessage": "メッセージ",
      "placeholder": "配送・返品・ご注文についてお尋ねください…",
      "send": "送信",
      "writing": "返信を作成中…",
      "checkedByPerson": "担当者が確認済み",
      "sources": "参照元",
      "howDidWeDo": "対応はいかがでしたか？",
      "rate": "5段階中{n}で評価",
      "rated": "評価（5段階中{n}）をありがとうございました。",
      "ratingFailed": "評価を保存できませんでした。",
      "personWillReply": "担当者が確認し、こちらに返信します。通常{wait}ほどお待ちいただきます。",
      "closedNow": "ただいま営業時間外です。{day} {time}（{zone}）に営業を開始し、通常は開始から{wait}以内にお返事します。",
      "awayUntil": "{date}まで休業しております。戻り次第お返事いたします。",
      "stillWorking": "回答を準備しています。こちらに表示されます。",
      "personStillToReply": "担当者が最後のメッセージを確認し、こちらに返信します。",
      "offline": "現在接続できません。通信環境をご確認のうえ、もう一度お試しください。",
      "tooFast": "送信の間隔が短すぎます。少し待ってからもう一度お試しください。",
      "tooLong": "メッセージが長すぎます。短くしてもう一度お試しください。",
      "expired": "チャットの有効期限が切れました。ページを再読み込みしてください。",
      "failed": "問題が発生しました。もう一度お試しください。"
    },
    "ar": {
      "title": "الدعم",
      "openChat": "فتح المحادثة: {title}",
      "closeChat": "إغلاق المحادثة",
      "messages": "الرسائل",
      "hello": "مرحبًا! اسألنا عن أي شيء. نجيب من صفحات المساعدة لدينا، ويراجع أحد أفراد فريقنا كل ما لسنا متأكدين منه.",
      "yourMessage": "رسالتك",
      "placeholder": "اسأل عن الشحن أو الإرجاع أو طلبك…",
      "send": "إرسال",
      "writing": "جارٍ كتابة الرد…",
      "checkedByPerson": "راجعه أحد أفراد فريقنا",
      "sources": "المصادر",
      "howDidWeDo": "ما رأيك في خدمتنا؟",
      "rate": "تقييم {n} من 5",
      "rated": "شكرًا على تقييمك: {n} من 5.",
      "ratingFailed": "تعذّر حفظ تقييمك.",
      "personWillReply": "سيراجع أحد أفراد فريقنا رسالتك ويرد عليك هنا، عادةً خلال {wait} تقريبًا.",
      "closedNow": "نحن مغلقون الآن. نفتح يوم {day} الساعة {time} ({zone})، وعادةً نرد خلال {wait} من وقت الافتتاح.",
      "awayUntil": "نحن في إجازة حتى {date}، وسنرد عليك عند عودتنا.",
      "stillWorking": "ما زلنا نُعدّ إجابتك، وستظهر هنا.",
      "personStillToReply": "سيراجع أحد أفراد فريقنا رسالتك الأخيرة ويرد عليك هنا.",
      "offline": "تعذّر الاتصال بنا الآن. تحقق من اتصالك وحاول مرة أخرى.",
      "tooFast": "أنت ترسل الرسائل بسرعة كبيرة. انتظر قليلًا ثم حاول مرة أخرى.",
      "tooLong": "رسالتك طويلة جدًا. اختصرها وحاول مرة أخرى.",
      "expired": "انتهت صلاحية هذه المحادثة. يُرجى إعادة تحميل الصفحة.",
      "failed": "حدث خطأ ما. حاول مرة أخرى."
    }
  };
  // Written right to left; of these only ar has texts yet (he, fa, ur show English, left to right).
  var RIGHT_TO_LEFT = ["ar", "he", "fa", "ur"];
  // What the customer can act on, by the API's error code; any other code is "failed".
  var ERRORS = {
    too_many_requests: "tooFast",
    message_too_long: "tooLong",
    request_entity_too_large: "tooLong",
    expired_signature: "expired",
    unauthorized: "expired",
    forbidden: "expired",
    stream_failed: "stillWorking",
  };

  var script = document.currentScript;
  // data-lang, else the page's language; a region or script subtag folds (zh-CN → zh).
  var lang = (script.dataset.lang || document.documentElement.lang || "").trim().toLowerCase().split(/[-_]/)[0];
  if (!TEXTS.hasOwnProperty(lang)) lang = "en";
  var texts = TEXTS[lang];
  // Dates and times in the customer's own regional format of that language, if the browser has one.
  var locale = (navigator.languages || []).filter(function (l) {
    return l.toLowerCase().split(/[-_]/)[0] === lang;
  })[0] || lang;
  var base = new URL(script.src, location.href).origin;
  var api = base + "/api/v1";
  var title = script.dataset.title || texts.title;
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

  /* The language's text for KEY, its {placeholders} filled from VALUES. */
  function t(key, values) {
    return texts[key].replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  var css = el("link", { rel: "stylesheet", href: base + "/static/widget.css" });
  document.head.appendChild(css);
  // The widget's own language and direction, whatever the page around it uses.
  var root = el("div", { class: "sw-root", lang: lang, dir: RIGHT_TO_LEFT.indexOf(lang) >= 0 ? "rtl" : "ltr" });
  var bubble = el("button", { class: "sw-bubble", type: "button", "aria-label": t("openChat", { title: title }),
    "aria-expanded": "false", "aria-controls": "sw-panel" });
  // An inline icon: emoji fonts are missing on many systems.
  bubble.innerHTML = '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true">' +
    '<path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  var panel = el("section", { class: "sw-panel", id: "sw-panel", role: "dialog", "aria-label": title, hidden: "" });
  var head = el("header", { class: "sw-head" });
  head.appendChild(el("h2", {}, title));
  var close = el("button", { class: "sw-close", type: "button", "aria-label": t("closeChat") }, "×");
  head.appendChild(close);
  var log = el("ol", { class: "sw-log", role: "log", "aria-live": "polite", "aria-label": t("messages") });
  var hello = el("li", { class: "sw-hello" }, t("hello"));
  log.appendChild(hello);
  var notice = el("p", { class: "sw-notice", role: "status", hidden: "" });
  var form = el("form", { class: "sw-form" });
  var input = el("textarea", { class: "sw-input", rows: "2", maxlength: "4000", "aria-label": t("yourMessage"),
    placeholder: t("placeholder"), dir: "auto" });
  var send = el("button", { class: "sw-send", type: "submit" }, t("send"));
  form.appendChild(input);
  form.appendChild(send);
  var rating = el("div", { class: "sw-rating", hidden: "" });
  rating.appendChild(el("span", {}, t("howDidWeDo")));
  [1, 2, 3, 4, 5].forEach(function (n) {
    var star = el("button", { type: "button", "aria-label": t("rate", { n: n }) }, "★");
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
    item.dir = "auto"; // each message reads in its own direction, whatever the widget's language
    item.textContent = "";
    item.appendChild(el("p", {}, msg.text));
    if (msg.author === "operator") item.appendChild(el("small", { class: "sw-by" }, t("checkedByPerson")));
    if (msg.citations && msg.citations.length) {
      var list = el("ul", { class: "sw-sources", "aria-label": t("sources") });
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

  function duration(minutes) {
    var hours = minutes >= 90;
    // Intl knows each language's plural forms ("2 hours", "2 Stunden", "ساعتان").
    return new Intl.NumberFormat(lang, { style: "unit", unit: hours ? "hour" : "minute", unitDisplay: "long" })
      .format(hours ? Math.round(minutes / 60) : minutes);
  }

  /* A time on the shop's clock, written the customer's way (en-GB "09:00", en-US "9:00 AM"). */
  function shopTime(date, zone, options) {
    return new Intl.DateTimeFormat(locale, Object.assign({ timeZone: zone }, options)).format(date);
  }

  /* The honest estimate for a message that waits for a person (docs/formats.md). */
  function waitNotice(estimate) {
    var wait = duration(estimate.answer_within_minutes);
    if (!estimate.opens_at) { say(t("personWillReply", { wait: wait })); return; }
    var opens = new Date(estimate.opens_at), zone = estimate.timezone;
    if (estimate.away) {
      say(t("awayUntil", { date: shopTime(opens, zone, { day: "numeric", month: "long" }) }));
      // The owner's own words, on their own line in their own direction.
      if (estimate.away_note) {
        notice.appendChild(el("br"));
        notice.appendChild(el("bdi", {}, estimate.away_note));
      }
      return;
    }
    // Within six days the weekday alone is clear; later it needs its date.
    var soon = opens - Date.now() < 6 * 24 * 3600 * 1000;
    say(t("closedNow", {
      day: shopTime(opens, zone, soon ? { weekday: "long" } : { weekday: "long", day: "numeric", month: "long" }),
      // Kept on one line: "9:00 AM", not "9:00" and "AM" apart.
      time: shopTime(opens, zone, { hour: "numeric", minute: "2-digit" }).replace(/\s/g, "\u00a0"),
      zone: zone,
      wait: wait,
    }));
  }

  function say(text) { notice.textContent = text; notice.hidden = false; }

  function request(path, options) {
    options = options || {};
    options.headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
    if (state) options.headers.Authorization = "Bearer " + state.token;
    return fetch(api + path, options);
  }

  /* A refused request as an Error with the API's error code ("" when the body is not ours). */
  function problem(response) {
    return response.json().then(function (b) { return b.error.code; })
      .catch(function () { return ""; })
      .then(function (code) { return Object.assign(new Error(code), { code: code, status: response.status }); });
  }

  /* What to tell the customer about ERROR, in their language; fetch rejects with a TypeError offline. */
  function explain(error) {
    if (error.code !== undefined) return t(ERRORS[error.code] || "failed");
    return t(error instanceof TypeError ? "offline" : "failed");
  }

  function start() {
    if (state) return Promise.resolve();
    var body = script.dataset.email ? {
      email: script.dataset.email,
      expires: parseInt(script.dataset.expires, 10),
      signature: script.dataset.signature,
    } : {};
    return request("/conversations", { method: "POST", body: JSON.stringify(body) }).then(function (r) {
      if (!r.ok) return problem(r).then(function (error) { throw error; });
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
      return problem(response).then(function (error) { throw error; });
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
      provisional = el("li", { class: "sw-msg sw-agent sw-provisional", "aria-busy": "true", dir: "auto" });
      provisional.appendChild(el("p", {}, t("writing")));
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
              say(t("stillWorking"));
            } else {
              dropProvisional();
              waitNotice(data.estimate);
            }
          } else if (name === "error") { dropProvisional(); say(explain(data)); }
        });
      });
    }).catch(function (error) { dropProvisional(); say(explain(error)); })
      .then(function () { send.disabled = false; input.focus(); });
  });

  function dropProvisional() { if (provisional) { provisional.remove(); provisional = null; } }

  function rate(score) {
    request("/conversations/" + state.id + "/rating", { method: "POST", body: JSON.stringify({ score: score }) })
      .then(function (r) { rating.textContent = t(r.ok ? "rated" : "ratingFailed", { n: score }); });
  }

  /* Back after a reload: the conversation, and whether a person is still to reply. */
  if (state) {
    request("/conversations/" + state.id + "/messages?after=0").then(function (r) {
      if (r.status === 403 || r.status === 401) { forget(); return; }
      return r.json().then(function (body) {
        body.messages.forEach(show);
        cursor = body.cursor;
        if (body.pending) say(t("personStillToReply"));
        listen();
      });
    });
  }
})();
