// Trireme's UI: the little the server-rendered pages need in the browser.
// - credentials: the token (or user and password) the sign-in page stored, sent as an
//   Authorization header on every request the page makes, to its own origin only;
// - live: one event stream (/discovery/events, or Marathon's /v2/events for a principal who may
//   not view the server's), read with fetch so it can carry the header; each event asks the
//   regions that show its framework to render again (at most one refresh per source per 400 ms,
//   and always one after the last event);
// - changes: forms and buttons marked data-api send JSON to the public API (the server refuses
//   other types), after a confirmation where they say data-confirm;
// - logs: a task's stdout or stderr read through the files API and followed while it grows (a
//   log panel drawn again for the same file is left as it is).
(function () {
  "use strict";
  var KEY = "trireme-auth";

  function auth() {
    return sessionStorage.getItem(KEY) || localStorage.getItem(KEY);
  }
  function headers(extra) {
    var h = extra || {};
    var a = auth();
    if (a) h["Authorization"] = a;
    return h;
  }
  function signIn() {
    var next = location.pathname + location.search;
    location.assign("/ui/signin?next=" + encodeURIComponent(next));
  }

  document.addEventListener("htmx:configRequest", function (e) {
    var a = auth();
    if (a) e.detail.headers["Authorization"] = a;
  });

  // ---- live: the server's event stream --------------------------------------------------------
  var pending = {};
  var timer = null;
  function fire() {
    timer = null;
    var sources = Object.keys(pending);
    pending = {};
    sources.forEach(function (s) { document.body.dispatchEvent(new CustomEvent("live-" + s)); });
  }
  function poke(source) {
    pending[source] = true;
    pending.any = true;
    if (timer === null) timer = setTimeout(fire, 400);
  }
  function status(text, state) {
    var el = document.getElementById("live-status");
    if (el) { el.textContent = text; el.dataset.state = state; }
  }
  function follow(path, fallback, delay) {
    fetch(path, { headers: headers({ Accept: "text/event-stream" }), cache: "no-store" }).then(function (res) {
      if (res.status === 403 && fallback) return follow(fallback, null, delay);
      if (res.status === 401) { status("signed out", "off"); return null; }
      if (!res.ok || !res.body) throw new Error("event stream: " + res.status);
      status("live", "on");
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var isMarathonOnly = path.indexOf("/v2/") === 0;
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error("event stream ended");
          buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
          var cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            var block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            var data = "";
            block.split("\n").forEach(function (line) {
              if (line.indexOf("data:") === 0) data += line.slice(5).trim();
            });
            if (!data) continue;
            var source = isMarathonOnly ? "marathon" : "core";
            try { source = JSON.parse(data).source || source; } catch (err) { /* a comment or partial */ }
            poke(source);
          }
          delay = 500;
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      status("reconnecting", "off");
      setTimeout(function () { follow(path, fallback, Math.min(delay * 2, 10000)); }, delay);
    });
  }

  // ---- changes through the public API ---------------------------------------------------------
  function show(el, text, ok) {
    var out = el.querySelector("[data-result]") || document.getElementById(el.dataset.result || "action-result");
    if (!out) return;
    out.textContent = text;
    out.className = ok ? "result ok" : "result error";
  }
  function jsonLine(text, path) {
    // the line of the editor where the field `path` (/cpus, /healthChecks/0/path) is written
    var key = path.split("/").filter(Boolean).pop();
    if (!key || /^\d+$/.test(key)) return null;
    var lines = text.split("\n");
    for (var i = 0; i < lines.length; i++) {
      if (lines[i].indexOf('"' + key + '"') >= 0) return i + 1;
    }
    return null;
  }
  function fieldErrors(form, body, text) {
    var list = form.querySelector("[data-field-errors]");
    if (!list) return false;
    list.innerHTML = "";
    var details = body && Array.isArray(body.details) ? body.details : [];
    details.forEach(function (d) {
      var li = document.createElement("li");
      var where = d.path || "";
      var line = where && text ? jsonLine(text, where) : null;
      li.textContent = (where ? where + (line ? " (line " + line + ")" : "") + ": " : "") +
        (d.errors ? d.errors.join("; ") : d.message || "");
      list.appendChild(li);
    });
    return details.length > 0;
  }
  function body(el) {
    if (el.dataset.body) return el.dataset.body;
    var editor = el.querySelector("textarea[data-json]");
    if (editor) return editor.value;
    var fields = {};
    el.querySelectorAll("[data-field]").forEach(function (input) {
      var v = input.type === "number" ? Number(input.value) : input.value;
      fields[input.dataset.field] = v;
    });
    return JSON.stringify(fields);
  }
  function fill(template, el, payload) {
    // {name} in a URL or a confirmation is the value of the form's field of that name, else
    // that field of the JSON sent (an app's id: where to go once it is created)
    var sent = null;
    try { sent = payload ? JSON.parse(payload) : null; } catch (err) { sent = null; }
    return template.replace(/\{(\w+)\}/g, function (m, name) {
      var input = el.querySelector("[data-field=" + name + "], [name=" + name + "]");
      if (input) return encodeURIComponent(input.value);
      if (sent && typeof sent[name] === "string") return encodeURIComponent(sent[name].replace(/^\/+/, "")).replace(/%2F/g, "/");
      return m;
    });
  }
  function send(el) {
    var method = el.dataset.method || "POST";
    var url = fill(el.dataset.api, el);
    var payload = method === "DELETE" && !el.dataset.body ? null : body(el);
    if (payload !== null) {
      try { JSON.parse(payload); } catch (err) {
        show(el, "Not valid JSON: " + err.message, false);
        return;
      }
    }
    if (el.dataset.confirm && !window.confirm(fill(el.dataset.confirm, el).replace(/%2F/g, "/"))) return;
    show(el, "Sending…", true);
    var init = { method: method, headers: headers(payload !== null ? { "Content-Type": "application/json" } : {}) };
    if (payload !== null) init.body = payload;
    fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var parsed = null;
        try { parsed = JSON.parse(text); } catch (err) { /* not JSON */ }
        if (res.status === 401) { signIn(); return; }
        if (!res.ok) {
          var editorText = payload || "";
          var shown = fieldErrors(el, parsed, editorText);
          var message = parsed && (parsed.message ||
            (parsed.details && parsed.details[0] && parsed.details[0].message)) || text || res.statusText;
          show(el, "Refused (" + res.status + "): " + message + (shown ? " — see the fields below" : ""), false);
          return;
        }
        fieldErrors(el, null, "");
        show(el, el.dataset.done || "Done", true);
        var next = el.dataset.then;
        if (next) {
          location.assign(fill(next, el, payload));
        } else {
          poke("any");
          poke(el.dataset.source || "core");
        }
      });
    }).catch(function (err) { show(el, "Could not reach the server: " + err.message, false); });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target.closest("form[data-api]");
    if (!form) return;
    e.preventDefault();
    send(form);
  });
  document.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-api]");
    if (!button || button.form && button.form.dataset.api) return;
    e.preventDefault();
    send(button);
  });

  // a JSON editor says where its text stops being JSON while it is typed in
  document.addEventListener("input", function (e) {
    var editor = e.target.closest("textarea[data-json]");
    if (!editor) return;
    var note = editor.form && editor.form.querySelector("[data-json-status]");
    if (!note) return;
    try { JSON.parse(editor.value); note.textContent = "valid JSON"; note.className = "result ok"; }
    catch (err) { note.textContent = err.message; note.className = "result error"; }
  });

  // ---- task logs through the files API ---------------------------------------------------------
  function followLog(el) {
    var path = el.dataset.logPath;
    var offset = Number(el.dataset.offset || 0);
    var pre = el.querySelector("pre");
    var wait = 500;
    function step() {
      if (!document.body.contains(el)) return;  // the region was rendered again: its new element follows
      var url = "/files/read?path=" + encodeURIComponent(path) + "&offset=" + offset + "&length=65536";
      fetch(url, { headers: headers() }).then(function (res) {
        if (!res.ok) throw new Error(String(res.status));
        return res.json();
      }).then(function (chunk) {
        if (chunk.data) {
          var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.textContent += chunk.data;
          offset = chunk.offset + new TextEncoder().encode(chunk.data).length;
          el.dataset.offset = String(offset);
          if (atEnd) pre.scrollTop = pre.scrollHeight;
          wait = 500;
        } else {
          wait = Math.min(wait * 2, 5000);
        }
        if (el.dataset.follow === "true") setTimeout(step, wait);
      }).catch(function () { setTimeout(step, 5000); });
    }
    if (el.dataset.follow === "true") setTimeout(step, 300);
  }
  function initLogs(root) {
    root.querySelectorAll("[data-log-path]").forEach(function (el) {
      if (el.dataset.following) return;
      el.dataset.following = "1";
      var pre = el.querySelector("pre");
      pre.scrollTop = pre.scrollHeight;
      followLog(el);
    });
  }

  // ---- sign-in ------------------------------------------------------------------------------------
  function initSignIn() {
    var form = document.getElementById("signin");
    if (!form) return;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var token = form.querySelector("[name=token]").value.trim();
      var user = form.querySelector("[name=user]").value;
      var password = form.querySelector("[name=password]").value;
      var value = token ? "Bearer " + token : "Basic " + btoa(unescape(encodeURIComponent(user + ":" + password)));
      fetch("/v1/acl/whoami", { headers: { Authorization: value } }).then(function (res) {
        if (!res.ok) {
          show(form, res.status === 401 ? "Those credentials are not valid." : "The server answered " + res.status, false);
          return;
        }
        // a token may be kept by this browser; a password only for this tab
        var keep = token && form.querySelector("[name=remember]").checked;
        (keep ? localStorage : sessionStorage).setItem(KEY, value);
        var next = new URLSearchParams(location.search).get("next") || "/ui";
        location.assign(next.indexOf("/ui") === 0 ? next : "/ui");
      }).catch(function (err) { show(form, "Could not reach the server: " + err.message, false); });
    });
  }
  document.addEventListener("click", function (e) {
    if (!e.target.closest("[data-signout]")) return;
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
    location.assign("/ui/signin");
  });

  // a log panel drawn again for the same file keeps its text, its follower and the reader's place
  // (it is drawn again on each event only to move on when another task or run becomes the latest)
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (!target || target.id !== "logpanel" || !e.detail.shouldSwap) return;
    var shown = target.querySelector("[data-log-path]");
    if (!shown || target.querySelector("[data-log-problem]")) return;
    var fresh = new DOMParser().parseFromString(e.detail.serverResponse, "text/html").getElementById("logpanel");
    var file = fresh && fresh.querySelector("[data-log-path]");
    if (file && !fresh.querySelector("[data-log-problem]") && file.dataset.logPath === shown.dataset.logPath) {
      e.detail.shouldSwap = false;
      target.dataset.kept = String(Number(target.dataset.kept || 0) + 1);
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) { initLogs(e.detail.target.parentNode || document); });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr.status;
    if (status === 401) { signIn(); return; }
    if (status === 404 || status === 403) {
      // the object this page shows is gone (destroyed elsewhere) or no longer visible: say so once
      var main = document.getElementById("main");
      if (main && !document.getElementById("gone")) {
        var note = document.createElement("p");
        note.id = "gone";
        note.setAttribute("role", "alert");
        note.className = "result error";
        note.textContent = status === 404 ? "This no longer exists: what is shown is how it last was."
          : "You may no longer view this.";
        main.insertBefore(note, main.firstChild);
      }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    initSignIn();
    var who = document.getElementById("who");
    if (who && auth()) who.hidden = false;
    if (document.querySelector("main[data-shell]") && !auth()) { signIn(); return; }
    initLogs(document);
    if (document.body.dataset.events) follow(document.body.dataset.events, "/v2/events", 500);
  });
})();
