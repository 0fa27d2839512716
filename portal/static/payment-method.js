// The add-payment-method form: show only the part of the chosen payment type. Without this script both parts show
// and the server reads `kind`; with it the hidden part is also disabled, so only the chosen part is sent.
(function () {
  "use strict";
  var form = document.querySelector("form[data-payment-method]");
  if (!form) {
    return;
  }

  function chosenKind() {
    var chosen = form.querySelector('input[name="kind"]:checked');
    return chosen ? chosen.value : "";
  }

  function update() {
    var kind = chosenKind();
    form.querySelectorAll("fieldset[data-kind]").forEach(function (part) {
      var hide = kind !== "" && part.getAttribute("data-kind") !== kind;
      part.hidden = hide;
      part.disabled = hide;
    });
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "kind") {
      update();
    }
  });
  // Typing a different address means choosing it.
  var address = form.querySelector('input[name="billing_address"]');
  var different = form.querySelector('input[name="address_choice"][value="new"]');
  if (address && different) {
    address.addEventListener("input", function () {
      if (address.value.trim() !== "") {
        different.checked = true;
      }
    });
  }
  update();
})();
