"""The lab page's own style and script: the figures sized for the screen (on a phone they keep a
legible width and scroll sideways in their card), the error boxes, and a script that marks each
input whose value is refused (``aria-invalid``, a red border, and its message tied to it by
``aria-describedby``) and names the sidebar's toggle ("The design")."""

from simulate.teach.inputs import INPUTS

CSS = """
.lab-figure { width: 100%; height: auto; max-width: 900px; display: block; margin: .5rem 0 1rem; }
.lab-note { font-size: .95rem; color: #333; max-width: 60rem; }
.lab-error { color: #b00020; font-size: .85rem; margin: -.6rem 0 .6rem; overflow-wrap: anywhere; }
.lab-big { font-size: 2.2rem; font-weight: 700; line-height: 1.1; }
.lab-story { font-size: .8rem; white-space: pre-wrap; overflow-x: auto; background: #f7f7f7; padding: .6rem; }
.lab-table td, .lab-table th { padding: .25rem .6rem; text-align: right; }
.lab-table th:first-child, .lab-table td:first-child { text-align: left; }
.lab-command { font-size: .8rem; overflow-wrap: anywhere; }
.lab-table-wrap { overflow-x: auto; max-width: 100%; }
.lab-stale-note { font-weight: 600; color: #7a4b00; background: #fff4df; padding: .3rem .6rem; display: inline-block; }
.lab-stale-body { opacity: .4; }
.lab-help { font-size: .8rem; color: #555; margin: -.6rem 0 .8rem; }
.lab-switched { font-size: .8rem; color: #7a4b00; background: #fff4df; padding: .2rem .4rem; margin: -.4rem 0 .8rem; }
.lab-figure-wrap { overflow-x: auto; max-width: 100%; }
[aria-invalid="true"] { border-color: #b00020 !important; box-shadow: 0 0 0 .15rem rgba(176, 0, 32, .25) !important; }
@media (max-width: 575.98px) {
  .lab-figure { min-width: 620px; }
  .bslib-sidebar-layout > .collapse-toggle { width: auto !important; padding: .25rem .6rem; }
  .bslib-sidebar-layout > .collapse-toggle::after { content: "The design"; font-size: .95rem; margin-left: .35rem; white-space: nowrap; }
}
"""

SCRIPT = """
(function () {
  var keys = %s;
  function mark() {
    keys.forEach(function (key) {
      var box = document.getElementById(key);
      if (!box) { return; }
      var error = document.getElementById(key + "_error");
      if (error) {
        box.setAttribute("aria-invalid", "true");
        box.setAttribute("aria-describedby", key + "_error");
      } else if (box.hasAttribute("aria-invalid")) {
        box.removeAttribute("aria-invalid");
        box.removeAttribute("aria-describedby");
      }
    });
    document.querySelectorAll(".bslib-sidebar-layout > .collapse-toggle").forEach(function (t) {
      t.setAttribute("aria-label", "The design: show or hide its inputs");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    mark();
    new MutationObserver(mark).observe(document.body, {childList: true, subtree: true});
  });
})();
""" % (list(INPUTS),)
"""Marks refused inputs and labels the sidebar toggle, whenever the page changes."""
