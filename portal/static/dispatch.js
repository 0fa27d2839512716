// The incident page's hold countdown: "12 min 5 s left" beside an on-hold incident's end, ticking each second.
"use strict";

(function () {
  function words(ms) {
    if (ms <= 0) return "the hold has ended: reload to see it in the queue";
    const whole = Math.floor(ms / 1000);
    const hours = Math.floor(whole / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    const seconds = whole % 60;
    if (hours) return hours + " h " + minutes + " min left";
    if (minutes) return minutes + " min " + seconds + " s left";
    return seconds + " s left";
  }

  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (element) {
      element.textContent = words(Date.parse(element.dataset.countdown) - Date.now());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector("[data-countdown]")) return;
    tick();
    setInterval(tick, 1000);
  });
})();
