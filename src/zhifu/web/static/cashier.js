/* The cashier's keypad and its guard against double taps (the server also pays each page once). */
(function () {
  "use strict";

  var AMOUNT_CHARS_MAX = 12;

  function nextAmount(current, key) {
    if (key === "del") {
      return current.slice(0, -1);
    }
    if (current.length >= AMOUNT_CHARS_MAX) {
      return current;
    }
    if (key === ".") {
      if (current.indexOf(".") !== -1) {
        return current;
      }
      return current === "" ? "0." : current + ".";
    }
    var dot = current.indexOf(".");
    if (dot !== -1 && current.length - dot > 2) {
      return current; // two decimals at most: fen
    }
    if (current === "0") {
      return key;
    }
    return current + key;
  }

  function wireKeypad(form) {
    var pad = form.querySelector("[data-keypad]");
    var input = form.querySelector("input[name=amount]");
    if (!pad || !input) {
      return;
    }
    pad.hidden = false;
    input.readOnly = true; // the keypad replaces the phone's keyboard
    pad.addEventListener("click", function (event) {
      var button = event.target.closest("[data-key]");
      if (button) {
        input.value = nextAmount(input.value, button.getAttribute("data-key"));
      }
    });
  }

  function guardDoubleSubmit(form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-submitted") === "yes") {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-submitted", "yes");
      var buttons = form.querySelectorAll("button[type=submit]");
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].disabled = true;
      }
    });
  }

  // Coming back with the back button shows the page from the cache: let it be submitted again (the server
  // answers with the payment this page already made).
  window.addEventListener("pageshow", function () {
    var forms = document.querySelectorAll("form[data-submitted]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].removeAttribute("data-submitted");
      var buttons = forms[i].querySelectorAll("button[type=submit]");
      for (var j = 0; j < buttons.length; j++) {
        buttons[j].disabled = false;
      }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("[data-cashier-form], [data-confirm-form]");
    for (var i = 0; i < forms.length; i++) {
      wireKeypad(forms[i]);
      guardDoubleSubmit(forms[i]);
    }
  });
})();
