(function () {
  "use strict";

  var report = JSON.parse(document.getElementById("report-data").textContent);

  var ALL = "";
  var UNASSIGNED = "__none__";
  var PAGE_SIZE = 25;
  var MONTHS = ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"];
  var MONTHS_LONG = ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
    "settembre", "ottobre", "novembre", "dicembre"];
  var FLOW_LABELS = {
    nurture: "Nurture", riattivazione: "Riattivazione", cashback: "Cashback", dp: "D&amp;P",
    cart: "Carrelli<br>abbandonati", wakeup: "Wake Up", recontact: "Ricontatto"
  };
  var FLOW_ORDER = ["nurture", "riattivazione", "cashback", "dp", "cart", "wakeup", "recontact"];
  var COLOR = {
    navy: "#17324d", teal: "#1b7f9e", green: "#2a9d8f", amber: "#e9a23b", blue: "#5b8fd9",
    grey: "#a4adb8", coral: "#e76f51", sand: "#e9c46a"
  };
  var FONT = '"Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", sans-serif';

  // ---- formatting: Italian style, the same as flywheel.domain.italian on the Python side ----

  function number(value, decimals) {
    var fixed = Math.abs(value).toFixed(decimals || 0);
    var parts = fixed.split(".");
    var grouped = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ".");
    return (value < 0 ? "-" : "") + grouped + (parts.length > 1 ? "," + parts[1] : "");
  }
  function euro(value) { return number(value, 2) + " €"; }
  function decimal(value) {
    // attributed orders under the linear model are shares of orders: show decimals only when there are some
    return Number.isInteger(value) ? number(value, 0) : number(value, 2);
  }
  function isoDay(text) {
    var p = text.split("-").map(Number);
    return Date.UTC(p[0], p[1] - 1, p[2]);
  }
  function shortDate(text) {
    if (!text) { return "—"; }
    var p = text.split("-");
    return p[2] + "/" + p[1] + "/" + p[0];
  }
  function monthLabel(text) {
    var p = text.split("-");
    return MONTHS[Number(p[1]) - 1] + "<br>" + p[0];
  }
  function daysBetween(from, to) { return Math.round((isoDay(to) - isoDay(from)) / 86400000); }
  function sumMoney(values) {
    // in cents, so that a thousand additions of x.x5 do not drift off the second decimal
    var cents = 0;
    values.forEach(function (v) { cents += Math.round(v * 100); });
    return cents / 100;
  }
  function plotText(text) {
    // Plotly reads <b>, <br>, <a href> in labels: data must stay text
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // ---- owners and the filter ----

  var ownersById = {};
  (report.owners || []).forEach(function (o) { ownersById[String(o.id)] = o; });
  var companiesById = {};
  report.companies.forEach(function (c) { companiesById[String(c.id)] = c; });

  function ownerKey(ownerId) { return ownerId === null || ownerId === undefined || ownerId === "" ? UNASSIGNED : String(ownerId); }
  function ownerName(ownerId, email) {
    var owner = ownersById[ownerKey(ownerId)];
    if (owner) { return owner.name || owner.email; }
    return email || "Senza commerciale";
  }

  var selected = ALL;
  function mine(ownerId) { return selected === ALL || ownerKey(ownerId) === selected; }
  function myCompanies() { return report.companies.filter(function (c) { return mine(c.owner_id); }); }
  function folded(text) {
    // "citta" finds "Città", "CONTI" finds "Conti"
    return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  var search = "";
  function searchedCompanies() {
    var companies = myCompanies();
    return search ? companies.filter(function (c) { return folded(c.name).indexOf(search) >= 0; }) : companies;
  }
  function companiesIn(ids) {
    return ids.map(function (id) { return companiesById[String(id)]; })
      .filter(function (c) { return c !== undefined && mine(c.owner_id); });
  }

  function buildFilter() {
    var select = document.getElementById("owner-filter");
    var collator = new Intl.Collator("it", { sensitivity: "base" });
    var owners = (report.owners || []).slice().sort(function (a, b) {
      return collator.compare(a.name || a.email || "", b.name || b.email || "");
    });
    owners.forEach(function (o) {
      var option = document.createElement("option");
      option.value = String(o.id);
      option.textContent = o.name || o.email;
      select.appendChild(option);
    });
    if (report.companies.some(function (c) { return ownerKey(c.owner_id) === UNASSIGNED; })) {
      var none = document.createElement("option");
      none.value = UNASSIGNED;
      none.textContent = "Senza commerciale";
      select.appendChild(none);
    }
    select.value = ALL;
    select.addEventListener("change", function () {
      selected = select.value;
      refresh();
    });
  }

  // ---- KPIs ----

  function renderKpis() {
    var companies = myCompanies();
    var active, sirank, r12;
    if (selected === ALL) {
      active = report.kpis.active_customers;
      sirank = report.kpis.customer_equity_sirank;
      r12 = report.kpis.customer_equity_r12;
    } else {
      active = companies.filter(function (c) {
        if (!c.last_purchase_date) { return false; }
        var days = daysBetween(c.last_purchase_date, report.as_of);
        return days >= 0 && days < 365;
      }).length;
      sirank = companies.reduce(function (t, c) { return t + (c.sirank || 0); }, 0);
      r12 = sumMoney(companies.map(function (c) { return c.r12 || 0; }));
    }
    document.getElementById("kpi-active").textContent = number(active, 0);
    document.getElementById("kpi-sirank").textContent = number(sirank, 0);
    document.getElementById("kpi-r12").textContent = euro(r12);
    document.getElementById("kpi-mtd").textContent = euro(sumMoney(companies.map(function (c) { return c.revenue_mtd || 0; })));
    var p = report.as_of.split("-");
    document.getElementById("kpi-mtd-note").textContent = "dal 1° " + MONTHS_LONG[Number(p[1]) - 1] + " " + p[0];
    document.getElementById("scope").textContent = selected === ALL
      ? (report.owner ? "Portafoglio di " + ownerByEmail(report.owner) : "Tutti i commerciali")
      : "Portafoglio di " + (selected === UNASSIGNED ? "nessun commerciale" : ownerName(selected));
    var filtered = selected !== ALL;
    document.getElementById("scope-note").hidden = !filtered;
    Array.prototype.forEach.call(document.querySelectorAll(".badge.portfolio"), function (b) { b.hidden = !filtered; });
  }
  function ownerByEmail(email) {
    var found = (report.owners || []).filter(function (o) { return o.email === email; })[0];
    return found ? (found.name || found.email) : email;
  }

  // ---- sortable, paged tables ----

  function compareValues(a, b, type) {
    if (type === "text") { return String(a).localeCompare(String(b), "it", { sensitivity: "base" }); }
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function Table(id, countId, noun, columns, rows, sort) {
    this.mount = document.getElementById(id);
    this.count = document.getElementById(countId);
    this.noun = noun;
    this.columns = columns;
    this.rows = rows;
    this.sort = sort;
    this.page = 0;
  }
  Table.prototype.sorted = function () {
    var column = this.columns.filter(function (c) { return c.key === this.sort.key; }, this)[0];
    var direction = this.sort.dir === "asc" ? 1 : -1;
    var indexed = this.rows().map(function (row, index) { return { row: row, index: index, value: column.value(row) }; });
    indexed.sort(function (x, y) {
      var xMissing = x.value === null || x.value === undefined || x.value === "";
      var yMissing = y.value === null || y.value === undefined || y.value === "";
      if (xMissing || yMissing) { return xMissing === yMissing ? x.index - y.index : (xMissing ? 1 : -1); }
      return direction * compareValues(x.value, y.value, column.type) || x.index - y.index;
    });
    return indexed.map(function (item) { return item.row; });
  };
  Table.prototype.render = function () {
    var self = this;
    var rows = this.sorted();
    var pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    this.page = Math.min(this.page, pages - 1);
    var shown = rows.slice(this.page * PAGE_SIZE, (this.page + 1) * PAGE_SIZE);

    var table = document.createElement("table");
    table.dataset.total = String(rows.length);
    var head = table.createTHead().insertRow();
    this.columns.forEach(function (column) {
      var th = document.createElement("th");
      th.scope = "col";
      th.dataset.key = column.key;
      if (column.type !== "text") { th.className = "num"; }
      if (column.type === "date") { th.className = ""; }
      th.setAttribute("aria-sort", self.sort.key === column.key ? (self.sort.dir === "asc" ? "ascending" : "descending") : "none");
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = column.label;
      button.addEventListener("click", function () {
        if (self.sort.key === column.key) {
          self.sort = { key: column.key, dir: self.sort.dir === "asc" ? "desc" : "asc" };
        } else {
          // names read best A to Z; figures and dates are read largest and latest first
          self.sort = { key: column.key, dir: column.type === "text" ? "asc" : "desc" };
        }
        self.page = 0;
        self.render();
        var again = self.mount.querySelector('th[data-key="' + column.key + '"] button');
        if (again) { again.focus(); }
      });
      th.appendChild(button);
      head.appendChild(th);
    });
    var body = table.createTBody();
    if (shown.length === 0) {
      var cell = body.insertRow().insertCell();
      cell.colSpan = this.columns.length;
      cell.className = "empty";
      cell.textContent = "Nessun " + this.noun[0] + " da mostrare";
    }
    shown.forEach(function (row) {
      var tr = body.insertRow();
      tr.dataset.owner = ownerKey(row.owner_id);
      if (row.company_id !== undefined) { tr.dataset.company = String(row.company_id); }
      else if (row.id !== undefined) { tr.dataset.company = String(row.id); }
      self.columns.forEach(function (column) {
        var td = tr.insertCell();
        td.dataset.key = column.key;
        td.textContent = column.show(row);
        if (column.type === "money" || column.type === "number") { td.className = "num"; }
        if (column.key === "name" || column.key === "product") { td.className = "name"; }
      });
    });
    this.mount.replaceChildren(table);
    if (rows.length > PAGE_SIZE) { this.mount.appendChild(this.pager(rows.length, pages)); }
    this.count.textContent = number(rows.length, 0) + " " + (rows.length === 1 ? this.noun[0] : this.noun[1]);
  };
  Table.prototype.pager = function (total, pages) {
    var self = this;
    var nav = document.createElement("div");
    nav.className = "pager";
    var label = document.createElement("span");
    label.textContent = number(this.page * PAGE_SIZE + 1, 0) + "–" + number(Math.min(total, (this.page + 1) * PAGE_SIZE), 0) +
      " di " + number(total, 0);
    function button(text, page, disabled) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.disabled = disabled;
      b.addEventListener("click", function () { self.page = page; self.render(); });
      return b;
    }
    nav.append(label, button("‹ Precedente", this.page - 1, this.page === 0), button("Successiva ›", this.page + 1, this.page >= pages - 1));
    return nav;
  };

  function text(key, label, value) {
    return { key: key, label: label, type: "text", value: value, show: function (r) { return value(r) || "—"; } };
  }
  function money(key, label, value) {
    return { key: key, label: label, type: "money", value: value, show: function (r) { var v = value(r); return v === null || v === undefined ? "—" : euro(v); } };
  }
  function count(key, label, value) {
    return { key: key, label: label, type: "number", value: value, show: function (r) { var v = value(r); return v === null || v === undefined ? "—" : number(v, 0); } };
  }
  function day(key, label, value) {
    return { key: key, label: label, type: "date", value: value, show: function (r) { return shortDate(value(r)); } };
  }
  var ownerColumn = text("owner", "Commerciale", function (r) { return ownerName(r.owner_id, r.owner_email); });
  function silentDays(c) { return c.last_purchase_date ? daysBetween(c.last_purchase_date, report.as_of) : null; }

  var tables = [
    new Table("table-overview", "count-overview", ["cliente", "clienti"], [
      text("name", "Azienda", function (c) { return c.name; }),
      money("available_credit", "Fido disponibile", function (c) { return c.available_credit; }),
      day("last_purchase_date", "Ultimo acquisto", function (c) { return c.last_purchase_date; }),
      money("revenue_mtd", "Fatturato mese", function (c) { return c.revenue_mtd; }),
      money("revenue_ytd", "Fatturato anno", function (c) { return c.revenue_ytd; }),
      money("revenue_prev_month", "Mese precedente", function (c) { return c.revenue_prev_month; }),
      count("sirank", "SiRank", function (c) { return c.sirank; }),
      ownerColumn
    ], searchedCompanies, { key: "sirank", dir: "desc" }),
    new Table("table-silent", "count-silent", ["cliente", "clienti"], [
      text("name", "Azienda", function (c) { return c.name; }),
      day("last_purchase_date", "Ultimo acquisto", function (c) { return c.last_purchase_date; }),
      count("silent_days", "Giorni senza acquisti", silentDays),
      count("sirank", "SiRank", function (c) { return c.sirank; }),
      ownerColumn
    ], function () { return companiesIn(report.silent_30); }, { key: "sirank", dir: "desc" }),
    new Table("table-credit", "count-credit", ["cliente", "clienti"], [
      text("name", "Azienda", function (c) { return c.name; }),
      money("available_credit", "Fido disponibile", function (c) { return c.available_credit; }),
      day("last_purchase_date", "Ultimo acquisto", function (c) { return c.last_purchase_date; }),
      ownerColumn
    ], function () { return companiesIn(report.credit_available); }, { key: "available_credit", dir: "desc" }),
    new Table("table-products", "count-products", ["riga d'ordine", "righe d'ordine"], [
      day("order_date", "Data ordine", function (p) { return p.order_date; }),
      text("product", "Prodotto", function (p) { return p.product; }),
      count("quantity", "Quantità", function (p) { return p.quantity; }),
      money("unit_price", "Prezzo unitario", function (p) { return p.unit_price; }),
      money("total", "Totale", function (p) { return sumMoney([p.quantity * p.unit_price]); }),
      text("company", "Azienda", function (p) { return p.company; }),
      text("owner", "Commerciale", function (p) {
        var c = companiesById[String(p.company_id)];
        return ownerName(p.owner_id, c ? c.owner_email : null);
      })
    ], function () { return report.products_sold.filter(function (p) { return mine(p.owner_id); }); }, { key: "order_date", dir: "desc" })
  ];

  // ---- charts ----

  var CONFIG = { displayModeBar: false, responsive: true, displaylogo: false };

  function layout(extra) {
    var base = {
      margin: { l: 64, r: 16, t: 10, b: 40 },
      separators: ",.",
      font: { family: FONT, size: 12, color: "#1d2733" },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      legend: { orientation: "h", x: 0, y: -0.2, traceorder: "normal", font: { size: 12 } },
      hoverlabel: { font: { family: FONT } },
      xaxis: { automargin: true, linecolor: "#cfd6df", tickfont: { color: "#5f6b7a" } },
      yaxis: { automargin: true, gridcolor: "#edf0f5", zerolinecolor: "#cfd6df", tickfont: { color: "#5f6b7a" } },
      bargap: 0.25
    };
    Object.keys(extra || {}).forEach(function (key) {
      base[key] = typeof extra[key] === "object" && !Array.isArray(extra[key]) && base[key]
        ? Object.assign({}, base[key], extra[key]) : extra[key];
    });
    return base;
  }
  function nothing(values) { return values.every(function (v) { return !v; }); }
  function noData(message) {
    return [{ text: message || "Nessun dato", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5,
      font: { size: 14, color: "#5f6b7a" } }];
  }

  var months = report.months.map(function (m) { return monthLabel(m.month); });

  function segmentsChart() {
    var series = [["attivo", "Attivi", COLOR.green], ["tiepido", "Tiepidi", COLOR.sand], ["freddo", "Freddi", COLOR.blue], ["perso", "Persi", COLOR.grey]];
    return {
      data: series.map(function (s) {
        return { type: "bar", name: s[1], x: months, y: report.months.map(function (m) { return m.segments[s[0]]; }),
          marker: { color: s[2] }, hovertemplate: "%{x}<br>" + s[1] + ": %{y:,} clienti<extra></extra>" };
      }),
      layout: layout({ barmode: "stack", yaxis: { title: { text: "Clienti" } } })
    };
  }
  function retentionChart() {
    function line(key, name, color) {
      return { type: "scatter", mode: "lines+markers", name: name, x: months,
        y: report.months.map(function (m) { return m[key]; }), line: { color: color, width: 2.5 }, marker: { size: 7 },
        hovertemplate: "%{x}<br>" + name + ": %{y:.1%}<extra></extra>", connectgaps: false };
    }
    return {
      data: [line("retention_rate", "Tasso di retention", COLOR.teal), line("churn_rate", "Tasso di churn", COLOR.coral)],
      layout: layout({ yaxis: { tickformat: ".0%", range: [0, 1.05], title: { text: "% dei clienti attivi a inizio mese" } } })
    };
  }
  function revenueChart() {
    var series = [["revenue_existing", "Clienti esistenti", COLOR.navy], ["revenue_reactivated", "Riattivati", COLOR.amber], ["revenue_new", "Nuovi clienti", COLOR.green]];
    return {
      data: series.map(function (s) {
        return { type: "bar", name: s[1], x: months, y: report.months.map(function (m) { return m[s[0]]; }),
          marker: { color: s[2] }, hovertemplate: "%{x}<br>" + s[1] + ": %{y:,.2f} €<extra></extra>" };
      }),
      layout: layout({ barmode: "stack", yaxis: { tickformat: ",.0f", ticksuffix: " €", rangemode: "nonnegative" } })
    };
  }
  function provincesChart() {
    var totals = {};
    if (selected === ALL) {
      Object.keys(report.revenue_by_province).forEach(function (p) { totals[p] = report.revenue_by_province[p]; });
    } else {
      myCompanies().forEach(function (c) {
        var p = c.province || "??";
        var t = totals[p] || (totals[p] = { mtd: 0, ytd: 0 });
        t.mtd = sumMoney([t.mtd, c.revenue_mtd || 0]);
        t.ytd = sumMoney([t.ytd, c.revenue_ytd || 0]);
      });
    }
    var provinces = Object.keys(totals).sort(function (a, b) { return totals[b].ytd - totals[a].ytd || a.localeCompare(b); });
    var TOP = 10;
    var shown = provinces.slice(0, TOP);
    var rest = provinces.slice(TOP);
    var labels = shown.map(function (p) { return p === "??" ? "Non indicata" : plotText(p); });
    var mtd = shown.map(function (p) { return totals[p].mtd; });
    var ytd = shown.map(function (p) { return totals[p].ytd; });
    if (rest.length) {
      labels.push("Altre");
      mtd.push(sumMoney(rest.map(function (p) { return totals[p].mtd; })));
      ytd.push(sumMoney(rest.map(function (p) { return totals[p].ytd; })));
    }
    return {
      data: [
        { type: "bar", name: "Da inizio anno", x: labels, y: ytd, marker: { color: COLOR.navy },
          hovertemplate: "%{x}<br>Da inizio anno: %{y:,.2f} €<extra></extra>" },
        { type: "bar", name: "Mese corrente", x: labels, y: mtd, marker: { color: COLOR.teal },
          hovertemplate: "%{x}<br>Mese corrente: %{y:,.2f} €<extra></extra>" }
      ],
      layout: layout({ barmode: "group",
        yaxis: { tickformat: ",.0f", ticksuffix: " €", rangemode: "nonnegative", showticklabels: !nothing(ytd) },
        annotations: nothing(ytd) ? noData("Nessun fatturato da inizio anno") : [] })
    };
  }
  function countAxis(largest, extra) {
    // with only a few per bar Plotly would tick at halves: a count of companies or deals has none
    return Object.assign(largest <= 6 ? { dtick: 1, tick0: 0 } : {}, { rangemode: "tozero" }, extra || {});
  }
  function niceStep(raw) {
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i += 1) { if (steps[i] * power >= raw) { return steps[i] * power; } }
    return 10 * power;
  }
  function sirankChart() {
    var values = myCompanies().map(function (c) { return c.sirank; }).filter(function (v) { return v !== null && v !== undefined; });
    var low = Math.min.apply(null, values.concat([0]));
    var high = Math.max.apply(null, values.concat([1]));
    var size = niceStep(Math.max(1, (high - low) / 20));
    var start = Math.floor(low / size) * size;
    var bins = {};
    values.forEach(function (v) { var b = Math.floor((v - start) / size); bins[b] = (bins[b] || 0) + 1; });
    var largest = Math.max.apply(null, Object.keys(bins).map(function (k) { return bins[k]; }).concat([0]));
    return {
      data: [{ type: "histogram", x: values, xbins: { start: start, end: start + size * (Math.floor((high - start) / size) + 1), size: size },
        name: "Clienti", marker: { color: COLOR.teal, line: { color: "#ffffff", width: 1 } },
        hovertemplate: "SiRank %{x}<br>%{y} clienti<extra></extra>" }],
      layout: layout({ bargap: 0.04, xaxis: { title: { text: "SiRank" }, tickformat: ",.0f" },
        yaxis: countAxis(largest, { title: { text: "Clienti" } }), annotations: values.length ? [] : noData() })
    };
  }
  function funnelChart() {
    var f = report.nurture_funnel;
    var keys = ["step_1", "step_2", "step_3", "step_4", "step_5", "converted"];
    var labels = ["Email 1", "Email 2", "Email 3", "Email 4", "Email 5", "Convertiti"];
    var values = keys.map(function (k) { return f[k]; });
    return {
      data: [{ type: "funnel", y: labels, x: values, textinfo: "value+percent initial",
        marker: { color: [COLOR.navy, "#24506f", COLOR.teal, "#3f9cb3", "#6cb7c9", COLOR.green] },
        connector: { fillcolor: "#eef2f6" }, hovertemplate: "%{y}: %{x:,} clienti<extra></extra>" }],
      layout: layout({ margin: { l: 90, r: 16, t: 10, b: 20 }, yaxis: { gridcolor: "rgba(0,0,0,0)" },
        annotations: nothing(values) ? noData("Nessuna email di nurture inviata") : [] })
    };
  }
  function wakeupChart() {
    var stages = report.wakeup_pipeline;
    return {
      data: [{ type: "bar", x: stages.map(function (s) { return plotText(s.label || s.stage_id); }), y: stages.map(function (s) { return s.deals; }),
        marker: { color: COLOR.amber }, text: stages.map(function (s) { return number(s.deals, 0); }), textposition: "outside",
        cliponaxis: false, hovertemplate: "%{x}: %{y:,} trattative<extra></extra>" }],
      layout: layout({ yaxis: countAxis(Math.max.apply(null, stages.map(function (s) { return s.deals; }).concat([0])),
        { title: { text: "Trattative" } }), annotations: stages.length ? [] : noData("Nessuna fase nella pipeline") })
    };
  }
  function attributionChart() {
    var flows = report.attribution.flows || {};
    var keys = FLOW_ORDER.filter(function (k) { return flows[k]; })
      .concat(Object.keys(flows).filter(function (k) { return FLOW_ORDER.indexOf(k) < 0; }));
    var labels = keys.map(function (k) { return FLOW_LABELS[k] || plotText(k); });
    var revenue = [];
    function model(name, key, color) {
      revenue = revenue.concat(keys.map(function (k) { return flows[k][key].revenue; }));
      return { type: "bar", name: name, x: labels, y: keys.map(function (k) { return flows[k][key].revenue; }),
        customdata: keys.map(function (k) { return decimal(flows[k][key].orders); }), marker: { color: color },
        hovertemplate: "%{x} · " + name + "<br>%{y:,.2f} € su %{customdata} ordini<extra></extra>" };
    }
    var traces = [model("Ultima interazione", "last_interaction", COLOR.navy), model("Lineare", "linear", COLOR.sand)];
    return {
      data: traces,
      layout: layout({ barmode: "group", xaxis: { tickangle: 0 },
        yaxis: { tickformat: ",.0f", ticksuffix: " €", rangemode: "nonnegative", showticklabels: !nothing(revenue) },
        annotations: nothing(revenue) ? noData("Nessun ordine attribuito ai flussi") : [] })
    };
  }

  var charts = {
    segments: segmentsChart, retention: retentionChart, revenue: revenueChart, provinces: provincesChart,
    sirank: sirankChart, funnel: funnelChart, wakeup: wakeupChart, attribution: attributionChart
  };
  var byOwner = ["provinces", "sirank"];

  function draw(name, first) {
    var figure = charts[name]();
    var element = document.getElementById("chart-" + name);
    return (first ? Plotly.newPlot : Plotly.react)(element, figure.data, figure.layout, CONFIG);
  }

  function refresh() {
    renderKpis();
    tables.forEach(function (t) { t.page = 0; t.render(); });
    document.body.dataset.ready = "false";
    Promise.all(byOwner.map(function (name) { return draw(name, false); })).then(function () {
      document.body.dataset.ready = "true";
    });
  }

  function start() {
    buildFilter();
    document.getElementById("search-overview").addEventListener("input", function (event) {
      search = folded(event.target.value.trim());
      tables[0].page = 0;
      tables[0].render();
    });
    renderKpis();
    tables.forEach(function (t) { t.render(); });
    var period = report.products_period || {};
    if (period.from && period.to) {
      document.getElementById("products-period").textContent = "dal " + shortDate(period.from) + " al " + shortDate(period.to);
    }
    var note = "Ordini di clienti che Flywheel ha contattato nei " + report.attribution.window_days +
      " giorni precedenti: «ultima interazione» assegna l'ordine all'ultimo contatto, «lineare» lo divide in parti " +
      "uguali tra i contatti.";
    var unattributed = report.attribution.unattributed;
    if (unattributed) {
      note += " Senza contatto: " + decimal(unattributed.orders) + " ordini, " + euro(unattributed.revenue) + ".";
    }
    document.getElementById("attribution-note").textContent = note;
    Promise.all(Object.keys(charts).map(function (name) { return draw(name, true); })).then(function () {
      document.body.dataset.ready = "true";
    }, function (error) {
      console.error("grafico non disegnato", error);
    });
  }

  start();
})();
