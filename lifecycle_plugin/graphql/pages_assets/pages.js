// The lifecycle pages' content: overview, customer card, settings and what-if, messages.
// app.js does the Dashboard's handshake and calls start() with an `api(query, variables)`
// that carries the Dashboard's token. Charts are Charts.css: each chart IS an HTML table
// (a screen reader reads it as one), and "Show as table" drops the chart styling.
// Sizes go through the CSSOM (style.setProperty), which the pages' CSP allows.
(function () {
  "use strict";

  var ctx = null;
  var content = null;
  var reload = null;

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "text") {
        node.textContent = value;
      } else if (name.slice(0, 2) === "on") {
        node.addEventListener(name.slice(2), value);
      } else {
        node.setAttribute(name, value === true ? "" : value);
      }
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function number(value, digits) {
    if (value === null || value === undefined) {
      return "—";
    }
    return new Intl.NumberFormat(ctx.locale(), { maximumFractionDigits: digits === undefined ? 0 : digits }).format(value);
  }

  function money(item) {
    try {
      return new Intl.NumberFormat(ctx.locale(), { style: "currency", currency: item.currency }).format(item.amount);
    } catch (error) {
      return item.currency + " " + number(item.amount, 2);
    }
  }

  function when(value) {
    if (!value) {
      return "—";
    }
    return new Intl.DateTimeFormat(ctx.locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(value));
  }

  function day(value) {
    return new Intl.DateTimeFormat(ctx.locale(), { dateStyle: "medium" }).format(value);
  }

  function facts(value) {
    return Object.keys(value || {}).map(function (key) {
      return key.replace(/_/g, " ") + ": " + (typeof value[key] === "object" ? JSON.stringify(value[key]) : value[key]);
    }).join("; ");
  }

  // Wide tables scroll sideways inside their own box instead of overflowing the frame.
  function dataTable(caption, headers, rows, numeric) {
    return el("div", { "class": "scroll" }, [plainTable(caption, headers, rows, numeric)]);
  }

  function plainTable(caption, headers, rows, numeric) {
    return el("table", { "class": "data" }, [
      el("caption", { text: caption }),
      el("thead", {}, [el("tr", {}, headers.map(function (h, i) {
        return el("th", { scope: "col", "class": numeric && numeric[i] ? "num" : null, text: h });
      }))]),
      el("tbody", {}, rows.map(function (row) {
        return el("tr", {}, row.map(function (cell, i) {
          return i === 0 ? el("th", { scope: "row", text: String(cell) })
                         : el("td", { "class": numeric && numeric[i] ? "num" : null, text: String(cell) });
        }));
      }))
    ]);
  }

  // A bar chart that is a table: rows of [label, value]. "Show as table" toggles the styling.
  function barChart(caption, rows) {
    var max = Math.max.apply(null, rows.map(function (r) { return r[1]; }).concat([1]));
    var table = el("table", { "class": "charts-css bar show-labels show-heading data-spacing-2" }, [
      el("caption", { text: caption }),
      el("tbody", {}, rows.map(function (row) {
        var cell = el("td", {}, [el("span", { "class": "data", text: number(row[1]) })]);
        cell.style.setProperty("--size", String(row[1] / max));
        return el("tr", {}, [el("th", { scope: "row", text: row[0] }), cell]);
      }))
    ]);
    return chartBox(table);
  }

  // Stacked columns: one column per period point, one segment per series.
  function stackedColumns(caption, labels, series, values) {
    var max = Math.max.apply(null, values.map(function (row) {
      return row.reduce(function (a, b) { return a + b; }, 0);
    }).concat([1]));
    var table = el("table", { "class": "charts-css column multiple stacked show-labels show-heading show-data-axes" }, [
      el("caption", { text: caption }),
      el("thead", {}, [el("tr", {}, [el("th", { scope: "col", text: "Date" })].concat(series.map(function (s) {
        return el("th", { scope: "col", text: s });
      })))]),
      el("tbody", {}, labels.map(function (label, i) {
        return el("tr", {}, [el("th", { scope: "row", text: label })].concat(values[i].map(function (v, j) {
          // (An empty segment keeps its cell, for the table view, but shows no number over the axis.)
          var cell = el("td", { title: series[j] + ": " + number(v) },
                        [el("span", { "class": "data", text: v ? number(v) : "" })]);
          cell.style.setProperty("--size", String(v / max));
          return cell;
        })));
      }))
    ]);
    var box = chartBox(table);
    box.insertBefore(el("ul", { "class": "charts-css legend legend-inline legend-square", "aria-hidden": "true" },
                        series.map(function (name) { return el("li", { text: name }); })), table);
    // The date labels hang below the columns' box: keep the toggle and what follows clear of them.
    box.insertBefore(el("div", { "class": "labels-room" }), table.nextSibling);
    return box;
  }

  function chartBox(table) {
    var box = el("div", { "class": "chart" }, [table]);
    var chartClass = table.getAttribute("class");
    var toggle = el("button", { type: "button", "aria-pressed": "false", text: "Show as table", onclick: function () {
      var asTable = toggle.getAttribute("aria-pressed") !== "true";
      toggle.setAttribute("aria-pressed", String(asTable));
      toggle.textContent = asTable ? "Show as chart" : "Show as table";
      table.setAttribute("class", asTable ? "data" : chartClass);
    } });
    box.appendChild(toggle);
    return box;
  }

  function section(title, children, id) {
    return el("section", { id: id || null, "aria-label": title }, [el("h2", { text: title })].concat(children));
  }

  function unavailable(title, id) {
    return el("section", { "class": "unavailable", id: id, "aria-label": title }, [
      el("h2", { text: title }), el("p", { text: "Not available in this version." })
    ]);
  }

  function fail(error, retry) {
    reload = retry;
    ctx.say("The lifecycle plugin refused or failed the request: " + error.message, true);
    document.getElementById("retry-box").hidden = false;
  }

  function show(nodes) {
    content.textContent = "";
    nodes.forEach(function (node) { content.appendChild(node); });
    content.hidden = false;
  }

  // A section whose body loads on its own: `fill` puts its loading state, content or error there.
  function part(title, id) {
    return section(title, [el("div", { id: id + "-body", "class": "part", "aria-live": "polite" })], id);
  }

  // Loads `request()` into `body` and draws it with `draw(data)` (a node or a list); an error stays
  // in the body with a Retry that loads it again. data-state: loading, loaded or error.
  function fill(body, request, draw) {
    var started = performance.now();
    body.setAttribute("data-state", "loading");
    body.setAttribute("aria-busy", "true");
    body.textContent = "";
    body.appendChild(el("p", { "class": "muted", text: "Loading…" }));
    return request().then(function (data) {
      body.textContent = "";
      [].concat(draw(data)).forEach(function (node) { body.appendChild(node); });
      body.setAttribute("data-ms", String(Math.round(performance.now() - started)));  // timing output, not asserted
      body.setAttribute("data-state", "loaded");
      body.removeAttribute("aria-busy");
      return data;
    }, function (error) {
      body.textContent = "";
      body.appendChild(el("p", { "class": "error", role: "alert", text: "Could not load: " + error.message }));
      body.appendChild(el("button", { type: "button", "class": "retry", text: "Retry",
                                      onclick: function () { fill(body, request, draw); } }));
      body.setAttribute("data-state", "error");
      body.removeAttribute("aria-busy");
    });
  }

  function stageLabel(stage) {
    return stage ? stage.label : "(new)";
  }

  // ------------------------------------------------------------------ overview

  var STAGES_AT = "stage { key label } count";
  var KPI_TITLE = "KPIs per stage (CLV, AOV, frequency, churn)";
  var RETENTION_TITLE = "Cohort retention";
  var KPI_ROW = "stage { key label } customers buyers orders transactionFrequency purchaseFrequencyPerYear " +
    "repeatPurchaseRate churn { activeAtStart churned rate } " +
    "money { currency orders revenue averageOrderValue historicClv simpleClv }";

  function percent(value) {
    return value === null || value === undefined ? "—" : number(value * 100, 1) + " %";
  }

  function amount(currency, value) {
    return value === null || value === undefined ? "—" : money({ currency: currency, amount: value });
  }

  // One table per currency: money is never summed across currencies. The counts, frequency,
  // repeat rate and churn do not depend on the currency and repeat in each table.
  function kpiTables(report) {
    var rows = report.rows.concat([report.total]);
    var currencies = [];
    rows.forEach(function (row) {
      row.money.forEach(function (m) { if (currencies.indexOf(m.currency) < 0) { currencies.push(m.currency); } });
    });
    currencies.sort();
    if (!currencies.length) {
      currencies = [null];
    }
    return currencies.map(function (currency) {
      var body = rows.map(function (row) {
        var m = row.money.filter(function (item) { return item.currency === currency; })[0] || {};
        return [row.stage ? row.stage.label : "All stages", number(row.customers), number(row.buyers),
                number(m.orders || 0), currency ? amount(currency, m.revenue || 0) : "—",
                currency ? amount(currency, m.averageOrderValue) : "—", number(row.transactionFrequency, 2),
                currency ? amount(currency, m.historicClv) : "—", currency ? amount(currency, m.simpleClv) : "—",
                percent(row.repeatPurchaseRate), percent(row.churn.rate) +
                  (row.churn.activeAtStart ? " (" + number(row.churn.churned) + " of " + number(row.churn.activeAtStart) + ")" : "")];
      });
      var table = dataTable(currency ? "KPIs per stage in " + currency : "KPIs per stage (no orders in the period)",
        ["Stage", "Customers", "Buyers", "Orders", "Revenue", "Average order value", "Orders per buyer",
         "Historic CLV", "Simple CLV", "Repeat purchase rate", "Churn"], body,
        [false, true, true, true, true, true, true, true, true, true, true]);
      table.firstChild.setAttribute("data-currency", currency || "");
      return table;
    });
  }

  // Rows: cohorts (first-order month); columns: months after it. Each cell shows its share as
  // text and is shaded by it (--share); its title says how many of the cohort's customers.
  function retentionHeatmap(report) {
    var width = report.months + 1;
    var headers = ["Cohort", "Customers"];
    for (var i = 0; i < width; i += 1) {
      headers.push("Month " + i);
    }
    var table = el("table", { "class": "data heat", id: "retention" }, [
      el("caption", { text: "Share of each cohort buying again, by month after its first order (* month not over)" }),
      el("thead", {}, [el("tr", {}, headers.map(function (h, i) {
        return el("th", { scope: "col", "class": i ? "num" : null, text: h });
      }))]),
      el("tbody", {}, report.cohorts.map(function (cohort) {
        var cells = [el("th", { scope: "row", text: cohort.cohort }), el("td", { "class": "num", text: number(cohort.customers) })];
        for (var m = 0; m < width; m += 1) {
          var month = cohort.months.filter(function (item) { return item.month === m; })[0];
          if (!month) {
            cells.push(el("td", { "class": "num muted", text: "" }));
            continue;
          }
          var cell = el("td", {
            "class": "num cell" + (month.share >= 0.5 ? " strong" : ""), "data-month": String(m),
            title: cohort.cohort + ", month " + m + ": " + number(month.customers) + " of " + number(cohort.customers) +
              " customers" + (month.complete ? "" : " (month not over)"),
            text: percent(month.share) + (month.complete ? "" : " *")
          });
          cell.style.setProperty("--share", String(month.share));
          cells.push(cell);
        }
        return el("tr", { "data-cohort": cohort.cohort }, cells);
      }))
    ]);
    return el("div", { "class": "scroll" }, [table]);
  }

  // Stage flow (lifecycleStageFlow, docs/metrics.md "Stage flow"): customers per stage at each
  // point of the period, as stacked columns that toggle to a table, and the conversions with
  // their numerator, denominator and median days. Its own request, error and retry.
  var FLOW_TITLE = "Stage flow";
  var FLOW = "query ($since: DateTime!, $until: DateTime!, $interval: LifecycleFlowInterval!) {" +
    " lifecycleStageFlow(since: $since, until: $until, interval: $interval) { interval" +
    " points { at stages { stage { key label } count } }" +
    " conversions { name entered converted rate medianDays unavailable } } }";
  var CONVERSION_NAMES = {
    lead_to_new: "Lead → first order", new_to_repeat: "New → repeat", repeat_to_loyal: "Repeat → loyal",
    win_back: "At risk or lapsed → back (win-back)"
  };

  function flowInterval(periodDays) {
    return periodDays <= 31 ? "DAY" : periodDays <= 190 ? "WEEK" : "MONTH";
  }

  function flowNodes(report) {
    var series = [];
    var keys = [];
    report.points.forEach(function (point) {
      point.stages.forEach(function (row) {
        if (keys.indexOf(row.stage.key) < 0) { keys.push(row.stage.key); series.push(row.stage.label); }
      });
    });
    var values = report.points.map(function (point) {
      return keys.map(function (key) {
        var found = point.stages.filter(function (row) { return row.stage.key === key; })[0];
        return found ? found.count : 0;
      });
    });
    var labels = report.points.map(function (point) { return day(new Date(point.at)); });
    var short = new Intl.DateTimeFormat(ctx.locale(), { month: "short", day: "numeric" });
    var chart = stackedColumns("Customers per stage, " + labels[0] + " to " + labels[labels.length - 1] +
                               " (every " + report.interval.toLowerCase() + ")",
                               report.points.map(function (point) { return short.format(new Date(point.at)); }),
                               series, values);
    var conversions = dataTable("Conversions of customers who entered a stage in the period",
      ["Conversion", "Entered", "Converted by the end", "Rate", "Median days"],
      report.conversions.map(function (c) {
        var dash = c.unavailable ? "—" : null;
        return [CONVERSION_NAMES[c.name] || c.name, dash || number(c.entered), dash || number(c.converted),
                dash || percent(c.rate), c.medianDays === null ? "—" : number(c.medianDays, 1)];
      }), [false, true, true, true, true]);
    conversions.querySelector("table").setAttribute("id", "conversions");
    return [chart, conversions, el("p", { "class": "muted", text: "Counts: the stage each customer held at " +
      "each date, from the dated stage history. Conversions: of the customers who entered the first stage in " +
      "the period, those who reached the next by its end; median days from one move to the other." })];
  }

  // The overview: the counts first (one quick request: customers per stage and tier now, and
  // which metrics this version has), drawn at once; every other section then loads on its own
  // (`fill`: its own "Loading…", error and Retry), so a slow metric never holds the counts.
  // Changing the period reloads only the sections that depend on it.
  var COUNTS = "{ now: lifecycleStageCounts { " + STAGES_AT + " }" +
    " tiers: lifecycleTierCounts { tier { key label } count }" +
    " cross: lifecycleStageTierCounts { stage { key label } tier { key label } count }" +
    " __schema { queryType { fields { name } } } }";
  var PERIODS = [30, 90, 180, 365];

  function overview() {
    var started = performance.now();
    ctx.say("Loading…");
    ctx.api(COUNTS).then(function (data) {
      var fields = data.__schema.queryType.fields.map(function (f) { return f.name; });
      var has = function (name) { return fields.indexOf(name) >= 0; };
      var periodSelect = el("select", { id: "period", onchange: function () { loadPeriod(Number(periodSelect.value)); } },
        PERIODS.map(function (d) { return el("option", { value: String(d), selected: d === 90, text: "last " + d + " days" }); }));
      show([
        el("div", { "class": "toolbar" }, [el("div", {}, [el("label", { "for": "period", text: "Period" }), periodSelect])]),
        section("Customers per stage", [
          barChart("Customers per stage now", data.now.map(function (r) { return [r.stage.label, r.count]; }))
        ], "stages"),
        section("Customers per tier", tierParts(data), "tiers"),
        part(FLOW_TITLE + " over the last 90 days", "flow"),
        part("Predictions per stage", "predictions"),
        has("lifecycleKpis") ? part(KPI_TITLE, "kpis") : unavailable(KPI_TITLE, "kpis"),
        has("lifecycleRetention") ? part(RETENTION_TITLE, "cohorts") : unavailable(RETENTION_TITLE, "cohorts"),
        has("lifecycleActionResults") ? part(ACTION_RESULTS_TITLE, "action-results")
          : unavailable(ACTION_RESULTS_TITLE, "action-results")
      ]);
      ctx.say("Overview loaded.");
      timing("overview", started);
      loadPredictions();
      loadPeriod(90);
    }, function (error) { fail(error, overview); });
  }

  // The sections over the chosen period, each in its own request.
  function loadPeriod(periodDays) {
    var until = new Date();
    var since = new Date(until.getTime() - periodDays * 86400000);
    var period = { since: since.toISOString(), until: until.toISOString() };
    ["flow", "kpis", "cohorts", "action-results"].forEach(function (id) {
      var node = document.getElementById(id);
      // The period the figures cover, as sent (the tests recompute them for it).
      node.setAttribute("data-since", period.since);
      node.setAttribute("data-until", period.until);
    });
    document.querySelector("#flow h2").textContent = FLOW_TITLE + " over the last " + periodDays + " days";
    loadFlow(period, periodDays);
    if (document.getElementById("kpis-body")) { loadKpis(period); }
    if (document.getElementById("cohorts-body")) { loadRetention(period, periodDays); }
    if (document.getElementById("action-results-body")) { loadActionResults(period, periodDays); }
  }

  function tierParts(data) {
    // Tiers lowest first, as lifecycleTierCounts lists them, then "No tier".
    var tierNames = data.tiers.map(function (row) { return row.tier ? row.tier.label : "No tier"; });
    var crossRows = data.now.map(function (stageRow) {
      return [stageRow.stage.label].concat(tierNames.map(function (name) {
        var found = data.cross.filter(function (r) {
          return r.stage.key === stageRow.stage.key && (r.tier ? r.tier.label : "No tier") === name;
        })[0];
        return number(found ? found.count : 0);
      }));
    });
    return [
      barChart("Customers per tier now", data.tiers.map(function (r) { return [r.tier ? r.tier.label : "No tier", r.count]; })),
      dataTable("Customers per stage and tier", ["Stage"].concat(tierNames), crossRows,
                [false].concat(tierNames.map(function () { return true; })))
    ];
  }

  function loadFlow(period, periodDays) {
    fill(document.getElementById("flow-body"), function () {
      return ctx.api(FLOW, { since: period.since, until: period.until, interval: flowInterval(periodDays) });
    }, function (data) { return flowNodes(data.lifecycleStageFlow); });
  }

  function loadPredictions() {
    fill(document.getElementById("predictions-body"), function () {
      return ctx.api("{ predictions: lifecyclePredictionsByStage { stage { label } customers predicted expectedOrdersMean " +
                     "probabilityActiveMean predictedSpend { currency sum mean } } }");
    }, function (data) {
      return dataTable("Predicted value per stage",
        ["Stage", "Customers", "With a prediction", "Expected orders (365 days, mean)", "Probability active (mean)",
         "Predicted spend (365 days)"],
        data.predictions.map(function (p) {
          return [p.stage.label, number(p.customers), number(p.predicted), number(p.expectedOrdersMean, 2),
                  p.probabilityActiveMean === null ? "—" : number(p.probabilityActiveMean * 100, 1) + " %",
                  p.predictedSpend.map(function (s) { return money({ currency: s.currency, amount: s.sum }); }).join(", ") || "—"];
        }), [false, true, true, true, true, false]);
    });
  }

  function loadKpis(period) {
    fill(document.getElementById("kpis-body"), function () {
      return ctx.api("query ($since: DateTime!, $until: DateTime!) { kpis: lifecycleKpis(groupBy: STAGE, since: $since, " +
                     "until: $until) { rows { " + KPI_ROW + " } total { " + KPI_ROW + " } } }", period);
    }, function (data) { return kpiTables(data.kpis); });
  }

  function loadRetention(period, periodDays) {
    fill(document.getElementById("cohorts-body"), function () {
      return ctx.api("query ($since: DateTime!, $until: DateTime!, $months: Int) { retention: lifecycleRetention(" +
                     "since: $since, until: $until, months: $months) { months cohorts { cohort customers " +
                     "months { month complete customers share } } } }",
                     { since: period.since, until: period.until, months: Math.min(12, Math.ceil(periodDays / 30)) });
    }, function (data) {
      return data.retention.cohorts.length ? retentionHeatmap(data.retention)
        : el("p", { "class": "muted", text: "No first orders in the period." });
    });
  }

  // "What each action earned": lifecycleActionResults over the overview's period, one row
  // per action, then one per action and ISO week (docs/actions.md, "Action results").
  var ACTION_RESULTS_TITLE = "What each action earned";
  var ACTION_FIGURES = "sent customers vouchersIssued vouchersRedeemed heldBack { total heldOut } failed converted " +
    "orders conversionRate revenue { currency amount } lift { holdoutCustomers holdoutRate difference ratio }";
  var ACTION_RESULTS = "query ($since: DateTime!, $until: DateTime!) { lifecycleActionResults(since: $since, " +
    "until: $until) { windowDays conversionsUnavailable actions { action " + ACTION_FIGURES +
    " weeks { week " + ACTION_FIGURES + " } } } }";

  // The lift against the holdout: "+3.2 pts (×1.25)"; "—" while a group is empty.
  function lift(value) {
    if (!value || value.difference === null) {
      return "—";
    }
    var points = value.difference * 100;
    return (points > 0 ? "+" : "") + number(points, 1) + " pts" +
      (value.ratio === null ? "" : " (×" + number(value.ratio, 2) + ")");
  }

  function actionFigures(a) {
    var dash = function (value, text) { return value === null ? "—" : text; };
    return [number(a.sent), number(a.customers), number(a.vouchersIssued), number(a.vouchersRedeemed),
            number(a.heldBack.total), number(a.failed), dash(a.converted, number(a.converted)),
            dash(a.orders, number(a.orders)), percent(a.conversionRate),
            number(a.heldBack.heldOut), percent(a.lift && a.lift.holdoutRate), lift(a.lift),
            dash(a.revenue, (a.revenue || []).map(money).join(", ") || "—")];
  }

  var FIGURE_HEADERS = ["Sent", "Customers", "Vouchers issued", "Vouchers redeemed", "Held back", "Failed",
                        "Converted", "Orders", "Conversion rate", "Held out", "Holdout conversion", "Lift",
                        "Revenue"];
  var FIGURE_NUMERIC = [true, true, true, true, true, true, true, true, true, true, true, true, false];

  function loadActionResults(period, periodDays) {
    fill(document.getElementById("action-results-body"), function () {
      return ctx.api(ACTION_RESULTS, period);
    }, function (data) {
      var report = data.lifecycleActionResults;
      var weekRows = [];
      report.actions.forEach(function (a) {
        a.weeks.forEach(function (w) { weekRows.push([a.action, w.week].concat(actionFigures(w))); });
      });
      var parts = report.actions.length ? [
        dataTable("Actions in the last " + periodDays + " days", ["Action"].concat(FIGURE_HEADERS),
          report.actions.map(function (a) { return [a.action].concat(actionFigures(a)); }),
          [false].concat(FIGURE_NUMERIC)),
        dataTable("By ISO week (Monday to Sunday, UTC)", ["Action", "Week"].concat(FIGURE_HEADERS), weekRows,
          [false, false].concat(FIGURE_NUMERIC))
      ] : [el("p", { "class": "muted", text: "No action ran in the period." })];
      parts.push(el("p", { "class": "muted", text: report.conversionsUnavailable
        ? "Conversions not computed: " + report.conversionsUnavailable + "."
        : "Converted: customers who placed a counted order within " + report.windowDays + " days of a message " +
          "(a voucher's validity when it announced one); revenue per currency, never added across currencies. " +
          "Held out: customers the holdout (holdout_percent) kept from the action; lift: the conversion rate of " +
          "those sent it minus that of those held out, in points (and their ratio)." }));
      return parts;
    });
  }

  // Timing output (printed by the browser tests and bench/pages.py, never asserted): from the
  // section's request, and from the Dashboard's handshake (app.js notes when it came).
  function timing(name, started) {
    var now = performance.now();
    document.body.setAttribute("data-" + name + "-ms", String(Math.round(now - started)));
    if (document.body.dataset.handshakeAt) {
      document.body.setAttribute("data-" + name + "-after-handshake-ms",
                                 String(Math.round(now - Number(document.body.dataset.handshakeAt))));
    }
  }

  // ------------------------------------------------------------------ customer card

  var CARD = "email userId stage { key label since } tier { label since } nextCheckAt decidedAt stageRule ordersCount " +
    "lifetimeSpend { currency amount } history { fromStage { label } toStage { label } occurredAt reason rule facts } " +
    "prediction { expectedOrders365 probabilityActive predictedSpend { currency amount } predictedAt reason }";

  // `afterLoad(text)`: what the status says once the card is drawn (default "Loaded.").
  function customer(afterLoad) {
    var query = new URLSearchParams(window.location.search);
    var userId = query.get("customerId");
    var email = query.get("email");
    if (!userId && !email) {
      show([el("p", { "class": "error", text: "No customer given: the Dashboard opens this card from a customer's page." })]);
      ctx.say("No customer given.", true);
      return;
    }
    var started = performance.now();
    ctx.say("Loading…");
    ctx.api("query ($userId: ID, $email: String) { customerLifecycle(userId: $userId, email: $email) { " + CARD + " } }",
            { userId: userId, email: userId ? null : email }).then(function (data) {
      var profile = data.customerLifecycle;
      if (!profile) {
        show([el("p", { text: "The lifecycle plugin has not seen this customer yet." })]);
        ctx.say("Loaded.");
        return;
      }
      return ctx.api("query ($email: String) { lifecycleLedger(filter: {email: $email}, first: 50) { totalCount entries " +
                     "{ kind action status createdAt completedAt dueAt attempts lastError } } }", { email: profile.email })
        .then(function (ledger) {
          drawCard(profile, ledger.lifecycleLedger);
          ctx.say(typeof afterLoad === "string" ? afterLoad : "Loaded.");
          timing("customer", started);
        });
    }).then(null, function (error) { fail(error, customer); });
  }

  function drawCard(p, ledger) {
    var prediction = p.prediction;
    var recompute = el("button", { type: "button", id: "recompute", text: "Recompute", onclick: function () {
      recompute.disabled = true;
      ctx.say("Recomputing…");
      ctx.api("mutation ($email: String) { lifecycleRecompute(email: $email) { stageChanged tierChanged } }",
              { email: p.email }).then(function (data) {
        var r = data.lifecycleRecompute;
        // Said once the card is drawn again, so the reload's "Loaded." cannot overwrite it.
        customer("Recomputed: " + (r.stageChanged || r.tierChanged ? "the stage or tier changed." : "nothing changed."));
      }, function (error) { recompute.disabled = false; fail(error, customer); });
    } });
    show([
      el("dl", { id: "card" }, [
        el("dt", { text: "Customer" }), el("dd", { text: p.email }),
        el("dt", { text: "Stage" }), el("dd", { id: "card-stage", text: p.stage.label }),
        el("dt", { text: "Since" }), el("dd", { text: when(p.stage.since) }),
        el("dt", { text: "Tier" }), el("dd", { text: p.tier ? p.tier.label + " since " + when(p.tier.since) : "No tier" }),
        el("dt", { text: "Next check" }), el("dd", { text: when(p.nextCheckAt) }),
        el("dt", { text: "Rule" }), el("dd", { text: p.stageRule || "—" }),
        el("dt", { text: "Orders" }), el("dd", { text: number(p.ordersCount) + " (" + (p.lifetimeSpend.map(money).join(", ") || "no spend") + ")" }),
        el("dt", { text: "Prediction" }), el("dd", { id: "card-prediction", text: !prediction ? "Not predicted yet"
          : prediction.reason ? "None: " + prediction.reason
          : number(prediction.expectedOrders365, 2) + " orders in 365 days, " + number(prediction.probabilityActive * 100, 0) +
            " % active, " + ((prediction.predictedSpend || []).map(money).join(", ") || "no spend model") })
      ]),
      el("p", {}, [recompute]),
      section("History", [dataTable("Stage moves, newest first", ["When", "From", "To", "Why", "Rule", "Facts"],
        (p.history || []).slice().reverse().map(function (h) {
          return [when(h.occurredAt), stageLabel(h.fromStage), h.toStage.label, h.reason.toLowerCase().replace(/_/g, " "),
                  h.rule, facts(h.facts)];
        }))], "history"),
      section("Actions sent and scheduled", [ledger.entries.length ? dataTable("Actions, newest first",
        ["Action", "Kind", "State", "Created", "Done or due", "Attempts", "Last error"],
        ledger.entries.map(function (e) {
          return [e.action, e.kind, e.status, when(e.createdAt), when(e.completedAt || e.dueAt), number(e.attempts), e.lastError || ""];
        }), [false, false, false, false, false, true, false])
        : el("p", { "class": "muted", text: "No actions for this customer." })], "actions")
    ]);
  }

  // ------------------------------------------------------------------ settings and what-if

  var previewSeq = 0;
  var RULE_FIELDS = { at_risk_days: "atRiskDays", lapsed_days: "lapsedDays", loyal_min_orders: "loyalMinOrders",
    loyal_window_days: "loyalWindowDays", personal_gap_min_orders: "personalGapMinOrders",
    personal_gap_multiplier: "personalGapMultiplier", personal_gap_floor_days: "personalGapFloorDays",
    count_only_paid: "countOnlyPaid", tier_window_days: "tierWindowDays" };

  function settings() {
    ctx.say("Loading…");
    ctx.api("{ lifecycleSettings { name label helpText kind value default choices minimum maximum } }").then(function (data) {
      drawSettings(data.lifecycleSettings);
      ctx.say(ctx.viewer.canManagePlugins ? "Change a value to preview its effect; Apply saves."
        : "You may preview changes; saving them needs MANAGE_PLUGINS.");
    }, function (error) { fail(error, settings); });
  }

  function input(setting) {
    var id = "setting-" + setting.name;
    var attrs = { id: id, name: setting.name, "aria-describedby": id + "-help " + id + "-message" };
    if (setting.kind === "Boolean") {
      attrs.type = "checkbox";
      attrs.checked = setting.value === "true";
      return el("input", attrs);
    }
    if (setting.kind === "Choice") {
      return el("select", attrs, setting.choices.map(function (c) { return el("option", { value: c, selected: c === setting.value, text: c }); }));
    }
    if (setting.kind === "Multiline" || setting.kind === "Template") {
      var area = el("textarea", attrs);
      area.value = setting.value;
      return area;
    }
    attrs.type = setting.kind === "Secret" ? "password" : "text";
    if (setting.kind === "Integer" || setting.kind === "Decimal") {
      attrs.inputmode = "decimal";
    }
    var field = el("input", attrs);
    field.value = setting.value;
    return field;
  }

  function valueOf(control) {
    return control.type === "checkbox" ? String(control.checked) : control.value;
  }

  function drawSettings(list) {
    var form = el("form", { id: "settings-form", novalidate: true });
    var controls = {};
    list.forEach(function (setting) {
      var control = input(setting);
      controls[setting.name] = control;
      var isBox = setting.kind === "Boolean";
      var label = el("label", { "for": control.id, text: setting.label });
      form.appendChild(el("div", { "class": "field" }, isBox ? [el("label", { "for": control.id }, [control, " " + setting.label]),
        el("p", { "class": "help", id: control.id + "-help", text: setting.helpText }),
        el("p", { "class": "message", id: control.id + "-message", hidden: true })]
        : [label, control, el("p", { "class": "help", id: control.id + "-help", text: setting.helpText }),
           el("p", { "class": "message", id: control.id + "-message", hidden: true })]));
    });
    var preview = el("div", { id: "what-if", "aria-live": "polite" });
    var apply = el("button", { type: "submit", "class": "primary", id: "apply", text: "Apply", hidden: !ctx.viewer.canManagePlugins });
    var previewButton = el("button", { type: "button", id: "preview", text: "Preview", onclick: function () { whatIf(controls, preview); } });
    form.appendChild(el("p", { "class": "toolbar" }, [previewButton, apply]));
    var timer = null;
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { whatIf(controls, preview); }, 600);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      save(list, controls);
    });
    show([el("div", { "class": "columns" }, [form, section("What would change", [preview], "what-if-section")])]);
    whatIf(controls, preview);
  }

  function clearMessages(controls) {
    Object.keys(controls).forEach(function (name) {
      controls[name].removeAttribute("aria-invalid");
      var message = document.getElementById(controls[name].id + "-message");
      message.hidden = true;
      message.textContent = "";
    });
  }

  function showFieldErrors(controls, errors) {
    errors.forEach(function (e) {
      var control = controls[e.field];
      if (!control) { return; }
      control.setAttribute("aria-invalid", "true");
      var message = document.getElementById(control.id + "-message");
      message.textContent = e.message;
      message.hidden = false;
    });
    var first = errors.length && controls[errors[0].field];
    if (first) { first.focus(); }
  }

  function save(list, controls) {
    // Only what the owner changed: a setting never touched keeps following its default.
    var values = list.filter(function (s) { return valueOf(controls[s.name]) !== s.value; })
      .map(function (s) { return { name: s.name, value: valueOf(controls[s.name]) }; });
    clearMessages(controls);
    ctx.say("Saving…");
    // The recompute before saving: one with the same request time afterwards was not opened by this save.
    ctx.api("{ lifecycleRecomputeStatus { requestedAt state } }").then(function (before) {
      var previous = before.lifecycleRecomputeStatus;
      saveValues(list, controls, values, previous && previous.state === "done" ? previous.requestedAt : null);
    }, function (error) { fail(error, function () { save(list, controls); }); });
  }

  var RECOMPUTE = "{ lifecycleRecomputeStatus { state scope changed done total moved etaSeconds requestedAt finishedAt lastError } }";
  var recomputeTimer = null;

  function recomputeBox() {
    var box = document.getElementById("recompute-progress");
    if (!box) {
      box = el("section", { id: "recompute-progress", "aria-label": "Recompute" });
      // Above the form and preview columns, not inside their grid.
      var form = document.getElementById("settings-form");
      var anchor = form.closest(".columns") || form;
      anchor.parentNode.insertBefore(box, anchor);
    }
    return box;
  }

  function seconds(value) {
    if (value === null || value === undefined) {
      return "estimating…";
    }
    return value < 60 ? "about " + number(Math.max(1, Math.round(value))) + " s left"
      : "about " + number(Math.round(value / 60)) + " min left";
  }

  // Polls lifecycleRecomputeStatus every 2 s until the run is done (or failed), drawing its progress.
  function watchRecompute(previousRequestedAt) {
    clearTimeout(recomputeTimer);
    ctx.api(RECOMPUTE).then(function (data) {
      var run = data.lifecycleRecomputeStatus;
      var box = recomputeBox();
      box.textContent = "";
      box.appendChild(el("h2", { text: "Recompute" }));
      if (!run || (previousRequestedAt && run.requestedAt === previousRequestedAt)) {
        box.appendChild(el("p", { id: "recompute-state", "data-state": "none",
          text: "No threshold changed: no customer needs recomputing." }));
        ctx.say("Saved. The new settings apply to every decision from now on.");
        return;
      }
      var bar = el("progress", { max: String(Math.max(run.total, 1)), value: String(run.state === "done" ? Math.max(run.total, 1) : run.done),
                                 "aria-labelledby": "recompute-state" });
      var text = run.state === "done"
        ? "Done: " + number(run.done) + " of " + number(run.total) + " customers recomputed, " + number(run.moved) + " moved."
        : run.state === "failed"
          ? "Stopped at " + number(run.done) + " of " + number(run.total) + " customers: " + (run.lastError || "unknown error") +
            ". The next request or the periodic task resumes it."
          : (run.state === "queued" ? "Queued: " : "Running: ") + number(run.done) + " of " + number(run.total) +
            " customers, " + number(run.moved) + " moved so far; " + seconds(run.etaSeconds) + ".";
      box.appendChild(bar);
      box.appendChild(el("p", { id: "recompute-state", "data-state": run.state, "class": run.state === "failed" ? "error" : null,
                                text: text }));
      box.appendChild(el("p", { "class": "muted", text: "Changed: " + run.changed.join(", ") + " (scope: " + run.scope + ")." }));
      if (run.state === "done") {
        ctx.say("Saved. Recompute done: " + number(run.moved) + " customers moved.");
      } else if (run.state === "failed") {
        ctx.say("Saved, but the recompute stopped: " + (run.lastError || "unknown error"), true);
        recomputeTimer = setTimeout(function () { watchRecompute(null); }, 2000);
      } else {
        ctx.say("Saved. Recomputing the customers the change affects…");
        recomputeTimer = setTimeout(function () { watchRecompute(null); }, 2000);
      }
    }, function (error) { fail(error, function () { watchRecompute(previousRequestedAt); }); });
  }

  function saveValues(list, controls, values, previousRequestedAt) {
    ctx.api("mutation ($values: [LifecycleSettingValueInput!]!) { lifecycleSettingsUpdate(values: $values) " +
            "{ saved errors { field message } } }", { values: values }).then(function (data) {
      var result = data.lifecycleSettingsUpdate;
      if (result.saved) {
        list.forEach(function (s) { s.value = valueOf(controls[s.name]); });
        ctx.say("Saved. Reading the recompute's progress…");
        watchRecompute(previousRequestedAt);
        // The preview compared the values with the old settings: against the saved ones it changes.
        whatIf(controls, document.getElementById("what-if"));
      } else {
        showFieldErrors(controls, result.errors);
        ctx.say("Nothing was saved: fix the fields marked below.", true);
      }
    }, function (error) { fail(error, function () { saveValues(list, controls, values, previousRequestedAt); }); });
  }

  function whatIf(controls, box) {
    var config = {};
    Object.keys(RULE_FIELDS).forEach(function (name) {
      if (!controls[name]) { return; }
      var raw = valueOf(controls[name]);
      config[RULE_FIELDS[name]] = name === "count_only_paid" ? raw === "true"
        : name === "personal_gap_multiplier" ? Number(raw) : parseInt(raw, 10);
    });
    var started = performance.now();
    var asked = ++previewSeq;  // an older answer arriving late must not replace a newer one
    box.textContent = "Computing the preview…";
    if (controls.tiers) {
      config.tiersText = valueOf(controls.tiers);  // the whole table as the form shows it, parsed by the server
    }
    ctx.api("query ($config: LifecycleConfigInput!) { lifecycleWhatIf(config: $config) { customersEvaluated complete " +
            "messages vouchers evaluator evaluatorReason stages { stage { label } count } currentStages { stage { label } count } " +
            "stageMoves { fromStage { label } toStage { label } count } tiers { tier { key label } count } " +
            "currentTiers { tier { key label } count } tierMoves { fromTier toTier count } } }", { config: config }).then(function (data) {
      if (asked !== previewSeq) { return; }
      var w = data.lifecycleWhatIf;
      var current = {};
      w.currentStages.forEach(function (r) { current[r.stage.label] = r.count; });
      var labels = w.stages.map(function (r) { return r.stage.label; });
      var moved = {};
      w.stageMoves.forEach(function (m) { moved[m.fromStage.label + "→" + m.toStage.label] = m.count; });
      box.textContent = "";
      box.appendChild(el("p", { id: "what-if-summary", text: number(w.customersEvaluated) + " customers evaluated; " +
        number(w.stageMoves.reduce(function (a, m) { return a + m.count; }, 0)) + " would move; " +
        number(w.tierMoves.reduce(function (a, m) { return a + m.count; }, 0)) + " would change tier; " + number(w.messages) +
        " messages and " + number(w.vouchers) + " vouchers would follow." }));
      box.appendChild(dataTable("Customers per stage: now and with these values", ["Stage", "Now", "With these values"],
        w.stages.map(function (r) { return [r.stage.label, number(current[r.stage.label] || 0), number(r.count)]; }), [false, true, true]));
      // The matrix over the stages anyone would leave or enter (all of them would be mostly zeros).
      var involved = labels.filter(function (label) {
        return w.stageMoves.some(function (m) { return m.fromStage.label === label || m.toStage.label === label; });
      });
      box.appendChild(involved.length ? dataTable("Who would move where (rows: now, columns: with these values)",
        ["From \\ to"].concat(involved), involved.map(function (from) {
          return [from].concat(involved.map(function (to) { return from === to ? "·" : number(moved[from + "→" + to] || 0); }));
        }), [false].concat(involved.map(function () { return true; })))
        : el("p", { id: "what-if-nobody", "class": "muted", text: "Nobody would move." }));
      tierPreview(w, box);
      box.appendChild(el("p", { id: "what-if-evaluator", "class": "muted", "data-evaluator": w.evaluator,
        text: w.evaluator === "sql" ? "Every customer decided in the database from their ladder digest."
          : "Decided customer by customer (" + w.evaluatorReason + ")." }));
      timing("whatif", started);
    }, function (error) {
      if (asked !== previewSeq) { return; }
      box.textContent = "";
      box.appendChild(el("p", { "class": "error", text: "No preview: " + error.message }));
    });
  }

  // Customers per tier now and with these values (tiers of either table, then no tier), and who changes tier.
  function tierPreview(w, box) {
    var labels = {}, now = {}, after = {}, keys = [];
    function note(rows, counts) {
      rows.forEach(function (r) {
        var key = r.tier ? r.tier.key : "";
        labels[key] = r.tier ? r.tier.label : "No tier";
        counts[key] = r.count;
        if (keys.indexOf(key) < 0 && key) { keys.push(key); }
      });
    }
    note(w.tiers, after);
    note(w.currentTiers, now);
    keys.push("");
    box.appendChild(dataTable("Customers per tier: now and with these values", ["Tier", "Now", "With these values"],
      keys.map(function (key) { return [labels[key] || "No tier", number(now[key] || 0), number(after[key] || 0)]; }),
      [false, true, true]));
    function label(key) { return key ? (labels[key] || key) : "No tier"; }
    box.appendChild(w.tierMoves.length ? el("div", { id: "what-if-tier-moves" }, [dataTable(
      "Who would change tier", ["From", "To", "Customers"],
      w.tierMoves.map(function (m) { return [label(m.fromTier), label(m.toTier), number(m.count)]; }), [false, false, true])])
      : el("p", { id: "what-if-no-tier-moves", "class": "muted", text: "Nobody's tier would change." }));
  }

  // ------------------------------------------------------------------ messages
  // Three sections, each loaded on its own (its own "Loading…", error and Retry): the outbox
  // (what waits to go out, soonest first), the ledger and schedule (the history, newest
  // first), and the template preview with its test send and the test sends kept.

  var PREVIEW_ACTIONS = ["repeat_purchase", "tier_upgrade", "review_request", "winback_reminder"];
  var PAGE_ROWS = 25;
  var OUTBOX_STATES = ["due", "held", "retry", "scheduled"];

  function messages() {
    show([
      part("Outbox: waiting to go out", "outbox"),
      part("Ledger and schedule", "ledger"),
      section("Template preview and test send", [templateForms(), part("Test sends", "test-sends")], "template-preview")
    ]);
    loadOutbox({}, 0);
    loadLedger({}, 0);
    loadTestSends();
  }

  function select(id, label, options, value) {
    return el("div", {}, [el("label", { "for": id, text: label }), el("select", { id: id }, [el("option", { value: "", text: "Any" })]
      .concat(options.map(function (o) { return el("option", { value: o, selected: o === value, text: o }); })))]);
  }

  // A filter form: the selects and the customer e-mail; `apply(filter)` with the chosen values.
  function filterForm(id, selects, email, apply) {
    var emailInput = el("input", { id: id + "-email", type: "search", value: email || "" });
    return el("form", { "class": "toolbar", id: id, onsubmit: function (event) {
      event.preventDefault();
      var next = {};
      selects.forEach(function (s) {
        var v = document.getElementById(s.id).value;
        if (v) { next[s.name] = v; }
      });
      if (emailInput.value.trim()) { next.email = emailInput.value.trim(); }
      apply(next);
    } }, selects.map(function (s) { return select(s.id, s.label, s.options, s.value); }).concat([
      el("div", {}, [el("label", { "for": id + "-email", text: "Customer e-mail" }), emailInput]),
      el("button", { type: "submit", text: "Filter" })
    ]));
  }

  function pager(total, offset, go) {
    return el("p", { "class": "toolbar" }, [
      el("button", { type: "button", disabled: offset === 0, text: "Newer", onclick: function () { go(Math.max(0, offset - PAGE_ROWS)); } }),
      el("span", { "class": "muted", text: (total ? offset + 1 : 0) + "–" + Math.min(offset + PAGE_ROWS, total) + " of " + number(total) }),
      el("button", { type: "button", disabled: offset + PAGE_ROWS >= total, text: "Older", onclick: function () { go(offset + PAGE_ROWS); } })
    ]);
  }

  function loadOutbox(filter, offset) {
    fill(document.getElementById("outbox-body"), function () {
      return ctx.api("query ($filter: LifecycleOutboxFilterInput, $offset: Int) { lifecycleOutbox(filter: $filter, " +
        "first: " + PAGE_ROWS + ", offset: $offset) { totalCount actions entries { kind action state email goesOutAt " +
        "attempts lastError reason } } }", { filter: filter, offset: offset });
    }, function (data) {
      var page = data.lifecycleOutbox;
      var again = function (next) { loadOutbox(next, 0); };
      return [
        filterForm("outbox-filters", [
          { id: "outbox-action", name: "action", label: "Action", options: page.actions, value: filter.action },
          { id: "outbox-state", name: "state", label: "State", options: OUTBOX_STATES, value: filter.state }
        ], filter.email, again),
        page.entries.length ? dataTable("Soonest first: due (runs at the next retry), held (quiet hours), retry " +
          "(failed, tries left), scheduled", ["Customer", "Action", "State", "Goes out", "Attempts", "Why waiting"],
          page.entries.map(function (e) {
            return [e.email, e.action, e.state, when(e.goesOutAt), number(e.attempts), e.reason || e.lastError || ""];
          }), [false, false, false, false, true, false])
          : el("p", { "class": "muted", id: "outbox-empty", text: "Nothing is waiting to go out." }),
        pager(page.totalCount, offset, function (next) { loadOutbox(filter, next); })
      ];
    });
  }

  function loadLedger(filter, offset) {
    fill(document.getElementById("ledger-body"), function () {
      return ctx.api("query ($filter: LifecycleLedgerFilterInput, $offset: Int) { lifecycleLedger(filter: $filter, " +
        "first: " + PAGE_ROWS + ", offset: $offset) { totalCount actions entries { kind action status email createdAt " +
        "completedAt dueAt attempts lastError } } }", { filter: filter, offset: offset });
    }, function (data) {
      var page = data.lifecycleLedger;
      ctx.say("Loaded " + number(page.totalCount) + " entries.");
      return [
        filterForm("ledger-filters", [
          { id: "filter-kind", name: "kind", label: "Kind", options: ["ledger", "scheduled"], value: filter.kind },
          { id: "filter-action", name: "action", label: "Action", options: page.actions, value: filter.action },
          { id: "filter-status", name: "status", label: "State", value: filter.status,
            options: ["pending", "sending", "done", "failed", "skipped", "cancelled", "uncertain"] }
        ], filter.email, function (next) { loadLedger(next, 0); }),
        page.entries.length ? dataTable("Actions, newest first",
          ["Customer", "Action", "Kind", "State", "Created", "Done or due", "Attempts", "Last error"],
          page.entries.map(function (e) {
            return [e.email, e.action, e.kind, e.status, when(e.createdAt), when(e.completedAt || e.dueAt), number(e.attempts), e.lastError || ""];
          }), [false, false, false, false, false, false, true, false])
          : el("p", { "class": "muted", text: "No entries match." }),
        pager(page.totalCount, offset, function (next) { loadLedger(filter, next); })
      ];
    });
  }

  function loadTestSends() {
    fill(document.getElementById("test-sends-body"), function () {
      return ctx.api("{ lifecycleTestSends(first: 10) { sentBy action customerEmail recipient status channel error createdAt } }");
    }, function (data) {
      var rows = data.lifecycleTestSends;
      return rows.length ? dataTable("The last test sends (who sent what to where, when)",
        ["When", "Sent by", "Action", "Data of", "To", "State", "Channel"],
        rows.map(function (r) {
          return [when(r.createdAt), r.sentBy, r.action, r.customerEmail || "sample data", r.recipient,
                  r.status + (r.error ? ": " + r.error : ""), r.channel];
        })) : el("p", { "class": "muted", text: "No test sends yet." });
    });
  }

  function previewVariables() {
    var customer = document.getElementById("preview-email").value.trim();
    return { action: document.getElementById("preview-action").value, email: customer || null };
  }

  function templateForms() {
    var previewBox = el("div", { id: "preview-result", "aria-live": "polite" });
    var previewForm = el("form", { "class": "toolbar", id: "preview-form", onsubmit: function (event) {
      event.preventDefault();
      previewBox.textContent = "Rendering…";
      ctx.api("mutation ($action: String!, $email: String) { lifecycleMessagePreview(action: $action, email: $email) " +
              "{ subject text html language } }", previewVariables())
        .then(function (data) {
          var m = data.lifecycleMessagePreview;
          previewBox.textContent = "";
          previewBox.appendChild(el("p", {}, [el("strong", { text: "Subject: " }), m.subject]));
          previewBox.appendChild(el("pre", { text: m.text }));
          if (m.html) {
            previewBox.appendChild(el("details", {}, [el("summary", { text: "HTML part (source)" }), el("pre", { text: m.html })]));
          }
          testForm.hidden = false;
        }, function (error) {
          previewBox.textContent = "";
          previewBox.appendChild(el("p", { "class": "error", text: "No preview: " + error.message }));
        });
    } }, [
      el("div", {}, [el("label", { "for": "preview-action", text: "Action" }),
        el("select", { id: "preview-action" }, PREVIEW_ACTIONS.map(function (a) { return el("option", { value: a, text: a }); }))]),
      el("div", {}, [el("label", { "for": "preview-email", text: "For customer (e-mail; empty: sample data)" }),
        el("input", { id: "preview-email", type: "email" })]),
      el("button", { type: "submit", text: "Preview message" })
    ]);
    var testForm = testSendForm();
    testForm.hidden = true;  // shown with the first preview: a test sends what the preview shows
    return el("div", {}, [previewForm, previewBox, testForm]);
  }

  // Sends the previewed message through the plugin's delivery channel, marked as a test.
  function testSendForm() {
    var canSend = ctx.viewer.canManagePlugins;
    var to = el("input", { id: "test-to", type: "email", value: ctx.viewer.email || "", disabled: !canSend,
                           "aria-describedby": "test-to-message" });
    var message = el("p", { "class": "message error", id: "test-to-message", hidden: true });
    var result = el("p", { id: "test-result", role: "status" });
    var button = el("button", { type: "submit", id: "test-send", disabled: !canSend, text: "Send test" });
    var form = el("form", { "class": "toolbar", id: "test-form", novalidate: true, onsubmit: function (event) {
      event.preventDefault();
      to.removeAttribute("aria-invalid");
      message.hidden = true;
      result.className = "";
      result.textContent = "Sending…";
      button.disabled = true;
      var variables = previewVariables();
      variables.to = to.value.trim();
      ctx.api("mutation ($action: String!, $email: String, $to: String) { lifecycleMessageTestSend(action: $action, " +
              "email: $email, sendTo: $to) { sent errors { field message } testSend { recipient channel } } }", variables)
        .then(function (data) {
          var answer = data.lifecycleMessageTestSend;
          button.disabled = false;
          if (answer.sent) {
            result.className = "ok";
            result.textContent = "Test sent to " + answer.testSend.recipient + " (" + answer.testSend.channel + ").";
            loadTestSends();
            return;
          }
          result.textContent = "Nothing was sent.";
          result.className = "error";
          answer.errors.forEach(function (e) {
            if (e.field === "sendTo") {
              to.setAttribute("aria-invalid", "true");
              message.textContent = e.message;
              message.hidden = false;
              to.focus();
            } else {
              result.textContent = "Nothing was sent: " + e.message;
            }
          });
        }, function (error) {
          button.disabled = false;
          result.className = "error";
          result.textContent = "Nothing was sent: " + error.message;
        });
    } }, [
      el("div", {}, [el("label", { "for": "test-to", text: "Send a test to" }), to, message]),
      button,
      el("span", { "class": "muted", text: canSend ? "Goes through the shop's delivery channel, subject starting [Test]; " +
        "no voucher is issued (the sample code) and nothing is counted." : "Sending a test needs MANAGE_PLUGINS." })
    ]);
    return el("div", {}, [form, result]);
  }

  // ------------------------------------------------------------------ start

  var PAGES = { overview: overview, customer: customer, settings: settings, messages: messages };

  window.LifecyclePages = {
    start: function (context) {
      ctx = context;
      content = document.getElementById("content");
      var draw = PAGES[context.page] || overview;
      reload = function () { draw(); };
      draw();
    },
    retry: function () {
      if (reload) { reload(); }
    }
  };
})();
