// Keeps a cabinet's slot picture current: the server renders the fragment, this only swaps it in.
// A session that ended (the fetch was led to the login page) reloads the page, which then asks to sign in.
"use strict";
const box = document.getElementById("slots");
if (box) {
  const every = Number(box.dataset.everyMs) || 5000;
  const refresh = async () => {
    try {
      const reply = await fetch(box.dataset.src, { credentials: "same-origin", cache: "no-store" });
      if (reply.redirected || reply.status === 401) {
        window.location.reload();
        return;
      }
      if (reply.ok) box.innerHTML = await reply.text();
    } catch (error) {
      // The cloud is out of reach for a moment: keep the last picture and try again.
    }
  };
  setInterval(refresh, every);
}
