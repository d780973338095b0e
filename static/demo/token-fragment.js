// A token handed over in the URL fragment (#token=…), which browsers never send to a server: post it with
// this page's form (it is kept in the session), and take it out of the address bar and history first.
// Also when only the fragment changes (a same-page navigation does not load the page again).
function takeFragmentToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  const form = /** @type {HTMLFormElement | null} */ (document.getElementById('token-form'));
  if (!form) return;
  const field = /** @type {HTMLInputElement} */ (form.querySelector('input[name="token"]'));
  field.value = decodeURIComponent(match[1]);
  form.submit();
}

takeFragmentToken();
window.addEventListener('hashchange', takeFragmentToken);
