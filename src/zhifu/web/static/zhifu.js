/* Zhifu console behaviour: CSRF header on htmx requests, spoken payment announcements, ECharts from JSON. */
(function () {
  "use strict";

  var CSRF_HEADER = "X-CSRF-Token";
  var VOICE_KEY = "zhifu.voice"; // remembered once the merchant has switched announcements on
  var SPEAK_CHARS_MAX = 200; // an announcement is one short sentence

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  // Every htmx request carries the page's CSRF token; GETs ignore it on the server.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers[CSRF_HEADER] = token;
    }
  });

  function voiceEnabled() {
    try {
      return window.localStorage.getItem(VOICE_KEY) === "on";
    } catch (e) {
      return false;
    }
  }

  function setVoice(on) {
    try {
      window.localStorage.setItem(VOICE_KEY, on ? "on" : "off");
    } catch (e) {
      /* private mode: the choice lasts for this page only */
    }
  }

  // Read text aloud in Mandarin, e.g. speak("智付收款 12.50 元"). Returns false when it cannot.
  function speak(text) {
    if (!("speechSynthesis" in window) || typeof SpeechSynthesisUtterance === "undefined") {
      return false;
    }
    var utterance = new SpeechSynthesisUtterance(String(text).slice(0, SPEAK_CHARS_MAX));
    utterance.lang = "zh-CN";
    utterance.rate = 1;
    var voices = window.speechSynthesis.getVoices();
    for (var i = 0; i < voices.length; i++) {
      if (voices[i].lang === "zh-CN" || voices[i].lang === "zh_CN") {
        utterance.voice = voices[i];
        break;
      }
    }
    window.speechSynthesis.speak(utterance);
    return true;
  }

  // Browsers only speak after a tap, so a button with data-speak-enable switches announcements on.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-speak-enable]") : null;
    if (!button) {
      return;
    }
    setVoice(true);
    speak(button.getAttribute("data-speak-enable") || "语音播报已开启");
    button.setAttribute("aria-pressed", "true");
  });

  // New content with data-speak (e.g. a payment row pushed over SSE) is announced once;
  // what is already on the page when it loads is marked as heard, so a reload stays quiet.
  function announce(root, quietly) {
    if (!root.querySelectorAll) {
      return;
    }
    var nodes = Array.prototype.slice.call(root.querySelectorAll("[data-speak]"));
    if (root.hasAttribute && root.hasAttribute("data-speak")) {
      nodes.unshift(root);
    }
    nodes.forEach(function (node) {
      if (node.getAttribute("data-spoken") !== "1") {
        node.setAttribute("data-spoken", "1");
        if (!quietly && voiceEnabled()) {
          speak(node.getAttribute("data-speak"));
        }
      }
    });
  }

  // A div[data-chart] takes its option from the <script type="application/json"> right after it.
  function initCharts(root) {
    if (typeof window.echarts === "undefined" || !root.querySelectorAll) {
      return;
    }
    var divs = Array.prototype.slice.call(root.querySelectorAll("[data-chart]"));
    if (root.hasAttribute && root.hasAttribute("data-chart")) {
      divs.unshift(root);
    }
    divs.forEach(function (div) {
      var source = div.nextElementSibling;
      if (!source || source.tagName !== "SCRIPT" || source.type !== "application/json") {
        console.warn("zhifu: chart without a JSON option next to it", div);
        return;
      }
      var chart = window.echarts.getInstanceByDom(div) || window.echarts.init(div);
      chart.setOption(JSON.parse(source.textContent), true);
    });
  }

  function resizeCharts() {
    if (typeof window.echarts === "undefined") {
      return;
    }
    document.querySelectorAll("[data-chart]").forEach(function (div) {
      var chart = window.echarts.getInstanceByDom(div);
      if (chart) {
        chart.resize();
      }
    });
  }

  // htmx:load fires for the first page and for every piece of swapped-in content.
  document.addEventListener("htmx:load", function (event) {
    initCharts(event.target);
    announce(event.target, event.target === document.body);
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof window.htmx === "undefined") {
      initCharts(document);
    }
  });
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    var el = event.target;
    if (typeof window.echarts !== "undefined" && el.hasAttribute && el.hasAttribute("data-chart")) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) {
        chart.dispose();
      }
    }
  });
  window.addEventListener("resize", resizeCharts);

  window.zhifu = { speak: speak, initCharts: initCharts, csrfToken: csrfToken, setVoice: setVoice };
})();
