/* RouterHub console: confirmation prompts and the arena's keyboard shortcuts (written for this project). */
document.addEventListener("keydown", function (event) {
  var arena = document.getElementById("arena-form");
  if (!arena || event.target.closest("input, textarea, select") || event.metaKey || event.ctrlKey || event.altKey) return;
  var choice = {"1": "left", "2": "right", "3": "tie", "s": "skip"}[event.key.toLowerCase()];
  if (!choice) return;
  var button = arena.querySelector('button[value="' + choice + '"]');
  if (button) { event.preventDefault(); button.click(); }
});

/* forms that ask first (data-confirm): no inline handlers, so the Content-Security-Policy can forbid them */
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
