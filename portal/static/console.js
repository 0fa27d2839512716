// The dispatchers' console: the page as the server wrote it, kept live by the websocket at data-live. Each frame
// holds one or more JSON messages, one per line: a signal (added at the top of its list), the queue (rewritten
// whole), or "reload" (too far behind to catch up: load the page again). After a lost connection it reconnects
// with a growing delay, sending the cursor of the last signal it has, and the server sends what it missed.
(function () {
  "use strict";

  var root = document.getElementById("console");
  if (!root || !window.WebSocket) {
    return;
  }
  var status = document.getElementById("console-status");
  var alertBox = document.getElementById("console-alert");
  var soundButton = document.getElementById("console-sound");
  var alarmRows = document.getElementById("alarm-rows");
  var signalRows = document.getElementById("signal-rows");
  var queueRows = document.getElementById("queue-rows");
  var unknownRows = document.getElementById("unknown-rows");
  var queueEmpty = document.getElementById("queue-empty");
  var queueCounts = document.getElementById("queue-counts");
  var unknownCount = document.getElementById("unknown-count");

  var cursor = root.getAttribute("data-after") || "";
  var ageing = (root.getAttribute("data-ageing") || "60,180").split(",").map(Number);
  var latestLimit = Number(root.getAttribute("data-latest")) || 100;
  var alarmsLimit = Number(root.getAttribute("data-alarms")) || 30;
  var timeZone = root.getAttribute("data-timezone") || undefined;
  // The server's clock minus ours: ages are measured on the database's clock, whatever this computer's says.
  var clockOffset = Date.parse(root.getAttribute("data-at")) - Date.now() || 0;
  // Ids of signals shown, so that a message sent twice around a reconnect adds no second row. Only ids still on
  // screen can come again (the server sends in cursor order, and the tables keep the newest rows), so the map is
  // cut back to them now and then: a console open through a shift at 1,000 signals/s must not keep millions.
  var seenSignals = {};
  var seenCount = 0;
  var SEEN_MAX = 5000;
  var knownIncidents = {};
  var unseenAlarms = 0;
  var baseTitle = document.title;
  var socket = null;
  var backoff = 500;
  var audio = null;
  var ended = false;

  document.querySelectorAll("tr[data-signal-id]").forEach(function (row) {
    seenSignals[row.getAttribute("data-signal-id")] = true;
  });
  document.querySelectorAll("tr[data-incident-id]").forEach(function (row) {
    knownIncidents[row.getAttribute("data-incident-id")] = true;
  });

  var clock;
  try {
    clock = new Intl.DateTimeFormat(undefined, {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hour12: false,
      timeZone: timeZone,
    });
  } catch (error) {
    clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }
  var hourMinute = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: timeZone });

  function setStatus(state, text) {
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function cell(label, className) {
    var td = element("td", className);
    td.setAttribute("data-label", label);
    return td;
  }

  function muted(text) {
    return element("span", "muted", text);
  }

  // -- signals ------------------------------------------------------------------------------------------------------

  function signalRow(signal) {
    var row = element("tr", "signal signal--" + signal.category + (signal.is_restore ? " signal--restore" : ""));
    row.setAttribute("data-signal-id", String(signal.id));
    var received = cell("Received", "nowrap");
    var time = element("time", null, clock.format(new Date(signal.received_at)));
    time.setAttribute("datetime", signal.received_at);
    received.appendChild(time);
    var type = cell("Type");
    type.appendChild(element("span", "category category--" + signal.category, signal.category_label));
    var what = cell("What happened");
    what.appendChild(document.createTextNode(signal.text));
    if (signal.who) {
      what.appendChild(document.createTextNode(" "));
      what.appendChild(muted("· " + signal.who));
    }
    if (signal.area) {
      what.appendChild(document.createTextNode(" "));
      what.appendChild(muted("· " + signal.area));
    }
    var account = cell("Account", "mono");
    account.appendChild(document.createTextNode(signal.account));
    if (!signal.known) {
      account.appendChild(document.createTextNode(" "));
      account.appendChild(element("span", "badge badge--warn", "Unknown"));
    }
    [received, type, what, account].forEach(function (td) {
      row.appendChild(td);
    });
    return row;
  }

  function forgetSignalsOffScreen() {
    seenSignals = {};
    seenCount = 0;
    document.querySelectorAll("tr[data-signal-id]").forEach(function (row) {
      seenSignals[row.getAttribute("data-signal-id")] = true;
      seenCount++;
    });
  }

  function trim(body, limit) {
    while (body.rows.length > limit) {
      body.deleteRow(body.rows.length - 1);
    }
  }

  function addSignal(message) {
    cursor = message.cursor;
    var signal = message.signal;
    if (seenSignals[signal.id]) {
      return;
    }
    seenSignals[signal.id] = true;
    if (++seenCount > SEEN_MAX) {
      forgetSignalsOffScreen();
    }
    var isAlarm = signal.category === "alarm";
    var body = isAlarm ? alarmRows : signalRows;
    var row = signalRow(signal);
    body.insertBefore(row, body.firstChild);
    trim(body, isAlarm ? alarmsLimit : latestLimit);
    if (isAlarm && !signal.is_restore) {
      cue(row, "New alarm: " + signal.text + (signal.who ? " (" + signal.who + ")" : "") + " — account " + signal.account);
    }
  }

  // -- the cue: a flash, a notice read out by screen readers, the page title, and a beep when sound is on --------

  function cue(row, text) {
    row.classList.add("is-new");
    window.setTimeout(function () {
      row.classList.remove("is-new");
    }, 10000);
    alertBox.textContent = text;
    alertBox.hidden = false;
    if (document.hidden) {
      unseenAlarms += 1;
      document.title = "(" + unseenAlarms + ") " + baseTitle;
    }
    beep();
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      unseenAlarms = 0;
      document.title = baseTitle;
    }
  });

  alertBox.addEventListener("click", function () {
    alertBox.hidden = true;
  });

  function beep() {
    if (!audio || audio.state !== "running") {
      return;
    }
    var now = audio.currentTime;
    [0, 0.25].forEach(function (start) {
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.type = "square";
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, now + start);
      gain.gain.exponentialRampToValueAtTime(0.2, now + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.18);
      tone.connect(gain).connect(audio.destination);
      tone.start(now + start);
      tone.stop(now + start + 0.2);
    });
  }

  // Browsers let a page make sound only after a person has asked for it: the button is that request.
  soundButton.addEventListener("click", function () {
    var on = soundButton.getAttribute("aria-pressed") !== "true";
    if (on) {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) {
        soundButton.textContent = "Sound is not available";
        return;
      }
      audio = audio || new Context();
      audio.resume();
      beep();
    } else if (audio) {
      audio.suspend();
    }
    soundButton.setAttribute("aria-pressed", on ? "true" : "false");
    soundButton.textContent = on ? "Sound is on" : "Sound is off";
  });

  // -- the queue ----------------------------------------------------------------------------------------------------

  function priorityClass(priority) {
    return "priority--" + Math.min(priority, 6);
  }

  function words(seconds) {
    var whole = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(whole / 3600);
    var minutes = Math.floor((whole % 3600) / 60);
    var secs = whole % 60;
    if (hours) {
      return hours + " h " + minutes + " min";
    }
    if (minutes) {
      return minutes + " min " + secs + " s";
    }
    return secs + " s";
  }

  function queueRow(entry) {
    var row = element(
      "tr",
      "queue-row queue-row--p" + Math.min(entry.priority, 6) + (entry.held ? " queue-row--held" : "")
    );
    row.setAttribute("data-incident-id", String(entry.id));
    row.setAttribute("data-opened", entry.opened_at);
    var priority = cell("Priority");
    priority.appendChild(element("span", "priority " + priorityClass(entry.priority), "P" + entry.priority));
    var incident = cell("Incident");
    var link = element("a", null, entry.title);
    link.href = "/dispatch/incidents/" + entry.id;
    incident.appendChild(link);
    if (entry.restored_at) {
      incident.appendChild(document.createTextNode(" "));
      incident.appendChild(element("span", "badge", "Restored"));
    }
    if (entry.signal_count > 1) {
      incident.appendChild(document.createTextNode(" "));
      incident.appendChild(muted("· " + entry.signal_count + " signals"));
    }
    var premises = cell("Premises");
    if (entry.premises_name || entry.customer_name) {
      premises.appendChild(
        document.createTextNode(entry.customer_name + (entry.premises_name ? " · " + entry.premises_name : ""))
      );
      if (entry.premises_address) {
        premises.appendChild(element("br"));
        premises.appendChild(muted(entry.premises_address));
      }
    } else {
      premises.appendChild(element("span", "mono", entry.account));
    }
    var age = cell("Age", "nowrap");
    var ageText = element("span", "age");
    ageText.setAttribute("data-since", entry.opened_at);
    age.appendChild(ageText);
    var holder = cell("Held by");
    if (entry.held) {
      holder.textContent =
        "On hold until " + hourMinute.format(new Date(entry.held_until)) + (entry.holder_name ? " · " + entry.holder_name : "");
    } else if (entry.holder_id) {
      holder.textContent = entry.holder_name;
    } else {
      holder.appendChild(muted("Nobody"));
    }
    [priority, incident, premises, age, holder].forEach(function (td) {
      row.appendChild(td);
    });
    return row;
  }

  function fill(body, entries) {
    var fresh = [];
    var rows = document.createDocumentFragment();
    entries.forEach(function (entry) {
      var row = queueRow(entry);
      if (!knownIncidents[entry.id]) {
        knownIncidents[entry.id] = true;
        fresh.push({ row: row, entry: entry });
      }
      rows.appendChild(row);
    });
    body.replaceChildren(rows);
    return fresh;
  }

  function showQueue(message) {
    clockOffset = Date.parse(message.at) - Date.now();
    var fresh = fill(queueRows, message.incidents).concat(fill(unknownRows, message.unknown));
    queueEmpty.hidden = message.incidents.length > 0;
    var counts = document.createDocumentFragment();
    var priorities = Object.keys(message.counts)
      .map(Number)
      .sort(function (a, b) {
        return a - b;
      });
    priorities.forEach(function (priority) {
      counts.appendChild(element("li", "priority " + priorityClass(priority), "P" + priority + ": " + message.counts[priority]));
    });
    if (!priorities.length) {
      counts.appendChild(element("li", "muted", "None open"));
    }
    if (message.held_count) {
      counts.appendChild(element("li", "muted", message.held_count + " on hold"));
    }
    queueCounts.replaceChildren(counts);
    unknownCount.textContent = message.unknown_count + " open";
    fresh.forEach(function (item) {
      var entry = item.entry;
      if (entry.kind === "alarm") {
        // Its alarm signal has already sounded: the row only flashes.
        item.row.classList.add("is-new");
        window.setTimeout(function () {
          item.row.classList.remove("is-new");
        }, 10000);
      } else {
        cue(item.row, "New in the queue: " + entry.title + " — " + (entry.premises_name ? entry.customer_name + " · " + entry.premises_name : "account " + entry.account));
      }
    });
    tick();
  }

  // Ageing colours: amber, then red, as an incident waits.
  function tick() {
    var now = Date.now() + clockOffset;
    document.querySelectorAll(".age[data-since]").forEach(function (node) {
      var seconds = (now - Date.parse(node.getAttribute("data-since"))) / 1000;
      node.textContent = words(seconds);
      var row = node.closest("tr");
      row.classList.toggle("queue-row--ageing", seconds >= ageing[0] && seconds < ageing[1]);
      row.classList.toggle("queue-row--late", seconds >= ageing[1]);
    });
  }

  window.setInterval(tick, 1000);
  tick();

  // -- the connection -----------------------------------------------------------------------------------------------

  function handle(message) {
    if (message.type === "signal") {
      addSignal(message);
    } else if (message.type === "queue") {
      showQueue(message);
    } else if (message.type === "reload") {
      ended = true;
      window.location.reload();
    }
  }

  function connect() {
    var url = (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host;
    url += root.getAttribute("data-live") + (cursor ? "?after=" + encodeURIComponent(cursor) : "");
    socket = new WebSocket(url);
    socket.addEventListener("open", function () {
      backoff = 500;
      setStatus("live", "Live");
    });
    socket.addEventListener("message", function (event) {
      String(event.data)
        .split("\n")
        .forEach(function (line) {
          if (line) {
            handle(JSON.parse(line));
          }
        });
    });
    socket.addEventListener("close", function (event) {
      socket = null;
      if (ended) {
        return;
      }
      if (event.code === 4001) {
        ended = true;
        setStatus("ended", "Your session has ended: log in again to see the console.");
        return;
      }
      var delay = backoff * (0.5 + Math.random() / 2);
      backoff = Math.min(backoff * 2, 10000);
      setStatus("reconnecting", "Connection lost: reconnecting…");
      window.setTimeout(connect, delay);
    });
  }

  connect();
})();
