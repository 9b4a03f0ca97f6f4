// The public complaint page: "send code" posts the phone number and shows what happened (no inline script: CSP).
(function () {
  "use strict";
  var button = document.querySelector("[data-send-code]");
  if (!button) return;
  var status = document.querySelector("[data-code-status]");
  button.addEventListener("click", function () {
    var form = button.closest("form");
    var body = new URLSearchParams();
    body.set("phone", form.elements.phone.value);
    body.set("csrf_token", form.elements.csrf_token.value);
    button.disabled = true;
    fetch("/complain/code", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (doc) {
        status.textContent = doc.sent ? "验证码已发送 / code sent" : (doc.error && doc.error.message) || "";
        setTimeout(function () { button.disabled = false; }, doc.sent ? 60000 : 0);
      })
      .catch(function () { status.textContent = "发送失败 / could not send"; button.disabled = false; });
  });
})();
