/* Classic presenters and tutorials in their frame: Bootstrap's jQuery plugins at once.
 *
 * Bootstrap 5 adds $.fn.modal (and the other plugins) only once the document has loaded, after
 * the owner's inline scripts have run; PYBOSSA's pages loaded Bootstrap 3, whose plugins exist
 * as soon as its script has run, and tutorials call $("#...").modal("show") straight away.
 * Bootstrap 3's data-toggle / data-dismiss attributes are answered too (Bootstrap 5 reads
 * data-bs-*), and the frame grows to show an open modal whole.
 */
(function () {
  "use strict";
  var $ = window.jQuery;
  var bootstrap = window.bootstrap;
  if (!$ || !bootstrap) {
    return;
  }
  Object.keys(bootstrap).forEach(function (key) {
    var component = bootstrap[key];
    if (!component || typeof component.jQueryInterface !== "function" || !component.NAME) {
      return;
    }
    if (!$.fn[component.NAME]) {
      $.fn[component.NAME] = component.jQueryInterface;
      $.fn[component.NAME].Constructor = component;
    }
  });
  $(document).on("click", "[data-toggle='modal']", function (event) {
    var target = $(this).attr("data-target") || $(this).attr("href");
    if (target && target.charAt(0) === "#") {
      event.preventDefault();
      $(target).modal("show");
    }
  });
  $(document).on("click", "[data-dismiss='modal']", function () {
    $(this).closest(".modal").modal("hide");
  });

  // An open modal is out of the document's flow: the frame, sized to its content, would be a
  // sliver. While one is shown, the body is kept as tall as its dialog (pybossa.js reports it).
  var watched = null;
  function fit(dialog) {
    var style = window.getComputedStyle(dialog);
    var margins = parseFloat(style.marginTop) + parseFloat(style.marginBottom);
    document.body.style.minHeight = Math.ceil(dialog.offsetHeight + margins) + "px";
  }
  document.addEventListener("shown.bs.modal", function (event) {
    var dialog = event.target.querySelector(".modal-dialog");
    if (!dialog) {
      return;
    }
    fit(dialog);
    if (window.ResizeObserver) {
      watched = new window.ResizeObserver(function () { fit(dialog); });
      watched.observe(dialog);
    }
  });
  document.addEventListener("hidden.bs.modal", function () {
    if (watched) {
      watched.disconnect();
      watched = null;
    }
    document.body.style.minHeight = "";
  });
})();
