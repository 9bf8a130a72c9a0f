// The browser's own time zone (an IANA name such as "Europe/Berlin"), for the server to check:
// - proposed in the sign-up form's hidden field (and shown beside it), so a new account starts
//   in the zone its owner lives in;
// - kept in a cookie, so a visitor who is not signed in sees times in their own zone from the
//   next page on. A signed-in person's pages use the zone of their profile instead.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone || !/^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
    return;
  }
  document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
  function propose() {
    document.querySelectorAll("input[data-browser-time-zone]").forEach(function (input) {
      input.value = zone;
    });
    document.querySelectorAll("[data-browser-time-zone-name]").forEach(function (element) {
      element.textContent = zone;
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", propose);
  } else {
    propose();
  }
})();
