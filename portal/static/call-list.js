// The Call list page: drag a contact's row to a new place and the new order is posted (the same form the server
// reads for any reorder) along with the order the page was opened with (its "loaded" fields, left as the page wrote
// them: the server refuses the new order when the list has changed since then), and after a move the keyboard's focus returns to the button that was pressed. Without this
// script the Move up and Move down buttons do the same work, one place at a time.
(function () {
  "use strict";

  // After "Move up" or "Move down" the page comes back with #move-up-<id> (or #move-down-<id>) in its address:
  // put the focus on that button, so a keyboard user carries on from where they were.
  function restoreFocus() {
    if (!window.location.hash) {
      return;
    }
    var target = document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
    if (target && target.tagName === "BUTTON") {
      // In the middle of the window rather than at its top edge (where the address's #fragment put it), so the
      // contacts above the moved one stay in sight.
      target.focus({ preventScroll: true });
      target.scrollIntoView({ block: "center" });
    }
  }

  function setUpDragging(body) {
    var form = document.getElementById("call-list-order");
    if (!form) {
      return;
    }
    var dragged = null;
    var marked = null;
    // The look of dragging is set here (CSSOM, allowed by the page's CSP): without this script nothing drags.
    var LINE_ABOVE = "inset 0 3px 0 0 #0b4f8a";
    var LINE_BELOW = "inset 0 -3px 0 0 #0b4f8a";

    function rows() {
      return Array.prototype.slice.call(body.querySelectorAll("tr[data-contact-id]"));
    }

    function order() {
      return rows()
        .map(function (row) {
          return row.getAttribute("data-contact-id");
        })
        .join(",");
    }

    function send(moved) {
      var draggedField = form.querySelector('input[name="dragged"]');
      if (draggedField) {
        draggedField.value = moved.getAttribute("data-contact-id");
      }
      form.querySelectorAll('input[name="order"]').forEach(function (input) {
        input.remove();
      });
      rows().forEach(function (row, index) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "order";
        input.value = row.getAttribute("data-contact-id");
        form.appendChild(input);
        var position = row.querySelector("[data-position]");
        if (position) {
          position.textContent = String(index + 1);
        }
      });
      form.submit();
    }

    function mark(row, after) {
      if (marked && marked !== row) {
        marked.style.boxShadow = "";
      }
      marked = row;
      if (row) {
        row.style.boxShadow = after ? LINE_BELOW : LINE_ABOVE; // where the dragged contact will land
      }
    }

    function dropsAfter(row, event) {
      // On the lower half of a row: after it; on the upper half: before it.
      var box = row.getBoundingClientRect();
      return event.clientY > box.top + box.height / 2;
    }

    rows().forEach(function (row) {
      row.style.cursor = "grab";
    });

    body.addEventListener("dragstart", function (event) {
      var row = event.target.closest ? event.target.closest("tr[data-contact-id]") : null;
      if (!row) {
        return;
      }
      dragged = row;
      row.style.opacity = "0.5";
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", row.getAttribute("data-contact-name") || "");
    });

    body.addEventListener("dragover", function (event) {
      if (dragged) {
        event.preventDefault(); // allows the drop
        event.dataTransfer.dropEffect = "move";
        var over = event.target.closest ? event.target.closest("tr[data-contact-id]") : null;
        mark(over && over !== dragged ? over : null, over ? dropsAfter(over, event) : false);
      }
    });

    body.addEventListener("drop", function (event) {
      var target = event.target.closest ? event.target.closest("tr[data-contact-id]") : null;
      if (!dragged || !target) {
        return;
      }
      event.preventDefault();
      var before = order();
      if (target !== dragged) {
        body.insertBefore(dragged, dropsAfter(target, event) ? target.nextSibling : target);
      }
      var moved = dragged;
      finish();
      if (order() !== before) {
        send(moved);
      }
    });

    function finish() {
      mark(null, false);
      if (dragged) {
        dragged.style.opacity = "";
      }
      dragged = null;
    }

    body.addEventListener("dragend", finish);
  }

  document.querySelectorAll("tbody[data-call-list]").forEach(setUpDragging);
  // After the browser's own scroll to the #fragment, which happens as the page finishes loading.
  if (document.readyState === "complete") {
    restoreFocus();
  } else {
    window.addEventListener("load", restoreFocus);
  }
})();
