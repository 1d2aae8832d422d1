// The sandbox's stand-in for the Saleor Dashboard: signs in locally, frames a lifecycle page
// and speaks the Dashboard's AppBridge to it as the Dashboard's AppFrame does (SALEOR_NOTES
// §15.4): `handshake {token, version: 1}` when the frame loads and again on `notifyReady`;
// actions are accepted only from the frame's window at the frame's origin, answered with
// `response {actionId, ok}`; `tokenRefresh` about 30 s before the token expires; `theme`.
(function () {
  "use strict";

  var frame = document.getElementById("frame");
  var theme = document.getElementById("theme");
  var grant = null;
  var refreshTimer = null;

  function frameOrigin() {
    return new URL(frame.src, window.location.href).origin;
  }

  function post(type, payload) {
    if (frame.contentWindow) {
      frame.contentWindow.postMessage({ type: type, payload: payload }, frameOrigin());
    }
  }

  function handshake() {
    post("handshake", { token: grant.token, version: 1, saleorVersion: "sandbox", dashboardVersion: "sandbox" });
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      fetch("/dashboard/token/", { method: "POST", headers: { "Content-Type": "application/json" },
                                   body: JSON.stringify({ refreshToken: grant.refreshToken }) })
        .then(function (r) { return r.json(); })
        .then(function (fresh) {
          if (fresh.token) {
            grant = fresh;
            post("tokenRefresh", { token: grant.token });
            scheduleRefresh();
          }
        });
    }, Math.max(5, grant.expiresIn - 30) * 1000);
  }

  function open(page, extra) {
    var query = new URLSearchParams(extra || {});
    query.set("theme", theme.value);
    query.set("id", "sandbox");
    frame.src = "/app/" + page + "/?" + query.toString();
    frame.hidden = false;
  }

  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow || event.origin !== frameOrigin()) {
      return;
    }
    var message = event.data || {};
    var payload = message.payload || {};
    if (!payload.actionId) {
      return;
    }
    if (message.type === "notifyReady") {
      handshake();
    }
    post("response", { actionId: payload.actionId, ok: true });
  });
  frame.addEventListener("load", function () {
    if (grant) {
      handshake();
    }
  });

  document.getElementById("login").addEventListener("submit", function (event) {
    event.preventDefault();
    var error = document.getElementById("login-error");
    fetch("/dashboard/login/", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: document.getElementById("username").value,
                             password: document.getElementById("password").value }) })
      .then(function (r) { return r.json(); })
      .then(function (result) {
        if (!result.token) {
          error.textContent = result.error || "Sign-in failed.";
          error.hidden = false;
          return;
        }
        grant = result;
        scheduleRefresh();
        document.getElementById("login").hidden = true;
        document.getElementById("nav").hidden = false;
        open("overview");
      });
  });
  Array.prototype.forEach.call(document.querySelectorAll("nav button[data-page]"), function (button) {
    button.addEventListener("click", function () { open(button.getAttribute("data-page")); });
  });
  document.getElementById("card-form").addEventListener("submit", function (event) {
    event.preventDefault();
    open("customer", { email: document.getElementById("card-email").value });
  });
  theme.addEventListener("change", function () { post("theme", { theme: theme.value }); });
})();
