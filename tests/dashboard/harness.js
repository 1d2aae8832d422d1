// Runs the pages' app.js under Node with a minimal window and document, plays the
// Dashboard's side of the AppBridge, and prints what the script did as JSON.
// Usage: node harness.js <app.js> <referrer> <messages.json>
// messages.json: [{"origin": ..., "fromParent": true, "data": {...}}, ...] delivered in order.
"use strict";
const fs = require("fs");
const vm = require("vm");

const [scriptPath, referrer, messagesPath] = process.argv.slice(2);
const elements = {};
function element(id) {
  return { id, textContent: "", className: "", hidden: true, listeners: {},
           addEventListener(type, fn) { this.listeners[type] = fn; } };
}
const getElementById = (id) => elements[id] || (elements[id] = element(id));
const posted = [];
const requests = [];
const listeners = [];
const parent = { postMessage(message, targetOrigin) { posted.push({ message, targetOrigin }); } };
const window = {
  parent,
  location: { search: "?theme=dark&id=QXBwOjE=" },
  crypto: require("crypto").webcrypto,
  addEventListener(type, fn) { if (type === "message") listeners.push(fn); },
};
const document = {
  referrer,
  body: { dataset: { api: "/plugins/global/saleor.lifecycle/app/graphql/" } },
  documentElement: { attributes: {}, lang: "en", setAttribute(name, value) { this.attributes[name] = value; } },
  getElementById,
};
function fetch(url, init) {
  requests.push({ url, authorization: init.headers.Authorization, body: JSON.parse(init.body) });
  const data = { lifecycleViewer: { kind: "staff", email: "owner@example.com", canManageUsers: true, canManagePlugins: false } };
  return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve({ data }) });
}

vm.runInNewContext(fs.readFileSync(scriptPath, "utf8"), { window, document, fetch, URL, URLSearchParams });
for (const { origin, fromParent, data } of JSON.parse(fs.readFileSync(messagesPath, "utf8"))) {
  const event = { origin, source: fromParent ? parent : {}, data };
  listeners.forEach((listener) => listener(event));
  if (data.type === "retry") getElementById("retry").listeners.click();
}
setTimeout(() => {
  process.stdout.write(JSON.stringify({
    posted, requests,
    status: getElementById("status").textContent,
    statusIsError: getElementById("status").className === "error",
    email: getElementById("viewer-email").textContent,
    viewerShown: !getElementById("viewer").hidden,
    theme: document.documentElement.attributes["data-theme"] || null,
    lang: document.documentElement.lang,
  }));
}, 50);
