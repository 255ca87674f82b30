// The owner's live count of new answers: listens on the project's private event stream
// (docs/streams.md) and counts its `taskrun` events. Text only: nothing received becomes HTML.
(function () {
  "use strict";
  var box = document.getElementById("live-answers");
  if (!box || !window.EventSource) {
    return;
  }
  var count = box.querySelector("[data-count]");
  var last = box.querySelector("[data-last]");
  var answers = 0;
  // EventSource reconnects by itself after a stream ends; a refused connection (503 when the
  // server holds enough streams) closes it for good, so it is tried again a little later.
  var RETRY_MS = 30000;

  function listen() {
    var source = new EventSource(box.getAttribute("data-stream"));
    source.onopen = function () {
      box.hidden = false;
    };
    source.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.type !== "taskrun" || !message.data) {
        return;
      }
      answers += 1;
      count.textContent = String(answers);
      last.textContent = String(message.data.task_id);
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(listen, RETRY_MS);
      }
    };
  }

  listen();
})();
