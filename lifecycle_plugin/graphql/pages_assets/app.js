// The Dashboard's AppBridge, as the Dashboard itself speaks it (SALEOR_NOTES §15.4):
// the Dashboard frames this page, posts {type: "handshake", payload: {token, ...}} on
// load and again after our "notifyReady", then "tokenRefresh" before the token expires,
// "theme" and "localeChanged". Only messages from the framing window at the origin of
// document.referrer (the Dashboard's, as @saleor/app-sdk trusts it) are read, and ours
// go only to that origin, each with an actionId (3.22+ ignores actions without one).
(function () {
  "use strict";

  var body = document.body;
  var status = document.getElementById("status");
  var viewerBox = document.getElementById("viewer");
  var retryBox = document.getElementById("retry-box");
  var dashboardOrigin = originOf(document.referrer);
  var token = null;
  var started = false;

  function originOf(url) {
    try {
      return url ? new URL(url).origin : null;
    } catch (error) {
      return null;
    }
  }

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function applyTheme(theme) {
    if (theme === "dark" || theme === "light") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  }

  function actionId() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function send(type, payload) {
    payload.actionId = actionId();
    window.parent.postMessage({ type: type, payload: payload }, dashboardOrigin);
  }

  function api(query, variables) {
    return fetch(body.dataset.api, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ query: query, variables: variables || {} })
    }).then(function (response) {
      return response.json().then(function (result) {
        if (result.errors && result.errors.length) {
          throw new Error(result.errors[0].message);
        }
        if (!response.ok) {
          throw new Error("The server answered " + response.status + ".");
        }
        return result.data;
      });
    });
  }

  function yesNo(allowed, what) {
    return allowed ? "may " + what : "may not " + what;
  }

  function showViewer() {
    retryBox.hidden = true;
    say("Loading…");
    api("{ lifecycleViewer { kind email canManageUsers canManagePlugins } }").then(
      function (data) {
        var viewer = data.lifecycleViewer;
        document.getElementById("viewer-email").textContent = viewer.email || "";
        document.getElementById("viewer-read").textContent = yesNo(viewer.canManageUsers, "read (MANAGE_USERS)");
        document.getElementById("viewer-settings").textContent = yesNo(viewer.canManagePlugins, "change (MANAGE_PLUGINS)");
        viewerBox.hidden = false;
        say("Connected to the lifecycle plugin.");
        // pages.js draws the page's content (absent: only who is signed in is shown).
        if (window.LifecyclePages && !started) {
          started = true;
          window.LifecyclePages.start({ page: body.dataset.page, api: api, say: say, viewer: viewer,
                                        locale: function () { return document.documentElement.lang || "en"; } });
        }
      },
      function (error) {
        viewerBox.hidden = true;
        retryBox.hidden = false;
        if (document.getElementById("content")) {
          document.getElementById("content").hidden = true;
        }
        say("The lifecycle plugin refused or failed the request: " + error.message, true);
      }
    );
  }

  function onMessage(event) {
    if (event.source !== window.parent || event.origin !== dashboardOrigin) {
      return;
    }
    var message = event.data || {};
    var payload = message.payload || {};
    if (message.type === "handshake") {
      // The Dashboard hands the same token twice (on load and after notifyReady): sign in once.
      if (payload.token === token) {
        return;
      }
      token = payload.token;
      if (window.performance) {  // the pages' timings count from here (pages.js `timing`)
        body.dataset.handshakeAt = String(window.performance.now());
      }
      showViewer();
    } else if (message.type === "tokenRefresh") {
      token = payload.token;
    } else if (message.type === "theme") {
      applyTheme(payload.theme);
    } else if (message.type === "localeChanged" && payload.locale) {
      document.documentElement.lang = payload.locale;
    } else if (message.type === "response" && payload.actionId) {
      return;  // the Dashboard acknowledging one of our actions
    }
  }

  var query = new URLSearchParams(window.location.search);
  applyTheme(query.get("theme"));
  if (query.get("locale")) {
    document.documentElement.lang = query.get("locale");
  }
  document.getElementById("retry").addEventListener("click", function () {
    if (started && window.LifecyclePages.retry) {
      retryBox.hidden = true;
      window.LifecyclePages.retry();
    } else {
      showViewer();
    }
  });
  if (window.parent === window || !dashboardOrigin) {
    say("Open this page from the Saleor Dashboard: it receives its sign-in from there.", true);
    return;
  }
  window.addEventListener("message", onMessage);
  send("notifyReady", {});
})();
