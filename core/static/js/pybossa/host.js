/*
 * The page around a presenter frame (#presenter-frame): the task presenter, tutorial or results
 * template of a project runs in that sandboxed iframe, with an opaque origin and without the
 * volunteer's session. Its pybossa.js asks this page, by postMessage, for the calls that need
 * the volunteer. This page answers its own frame only, performs only the operations the server
 * listed on the frame (data-operations), always for the frame's project (data-project-id), and
 * hands back {ok, status, body}. It also sets the frame's height to its content's.
 *
 * Written for Crowdnest; no dependency. Loaded before the frame, so no message is missed.
 */
(function (window) {
  "use strict";

  var MAX_HEIGHT = 100000;
  var MAX_OFFSET = 1000;
  var REFUSED = {ok: false, status: 403, body: {status: "failed", status_code: 403,
    exception_msg: "This call is not allowed from the task presenter"}};

  function frameElement() {
    return window.document.getElementById("presenter-frame");
  }

  function csrfToken() {
    var meta = window.document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function isId(value) {
    return typeof value === "number" ? value > 0 && value % 1 === 0 : /^[1-9]\d{0,17}$/.test(value);
  }

  // A same-origin call with the volunteer's session: a promise of {ok, status, body}.
  function call(method, path, payload) {
    var init = {method: method, credentials: "same-origin", headers: {Accept: "application/json"}};
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrfToken();
      init.body = payload;
    }
    return window.fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var body = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch (error) {
          // Not JSON: handed back as text, as jQuery would.
        }
        return {ok: response.ok, status: response.status, body: body};
      });
    });
  }

  // Each operation checks its arguments and answers a promise of {ok, status, body}, or null
  // to refuse. The project is the frame's, never one named in the message.
  var OPERATIONS = {
    newtask: function (project, args) {
      var offset = args.offset === undefined ? 0 : Number(args.offset);
      if (!(offset >= 0 && offset <= MAX_OFFSET && offset % 1 === 0)) {
        return null;
      }
      var query = offset ? "?offset=" + offset : "";
      return call("GET", "/api/project/" + project.id + "/newtask" + query);
    },
    task: function (project, args) {
      if (!isId(args.id)) {
        return null;
      }
      return call("GET", "/api/task/" + args.id).then(function (answer) {
        // A task of another project (one of this volunteer's drafts...) stays here.
        if (answer.ok && (!answer.body || String(answer.body.project_id) !== project.id)) {
          return REFUSED;
        }
        return answer;
      });
    },
    taskrun: function (project, args) {
      var sent;
      try {
        sent = JSON.parse(args.answer);
      } catch (error) {
        return null;
      }
      if (!isId(args.task_id) || !sent || typeof sent !== "object") {
        return null;
      }
      var run = {project_id: Number(project.id), task_id: Number(args.task_id)};
      if (sent.hasOwnProperty("info")) {
        run.info = sent.info;
      }
      return call("POST", "/api/taskrun", JSON.stringify(run));
    },
    userprogress: function (project) {
      return call("GET", "/api/project/" + project.id + "/userprogress");
    }
  };

  function resize(frame, args) {
    var height = Number(args.height);
    if (height > 0) {
      frame.style.height = Math.min(Math.ceil(height), MAX_HEIGHT) + "px";
    }
  }

  window.addEventListener("message", function (event) {
    var frame = frameElement();
    // Only the frame's document, and only while it is sandboxed (its origin is opaque).
    if (!frame || event.source !== frame.contentWindow || event.origin !== "null") {
      return;
    }
    var data = event.data;
    if (!data || typeof data !== "object" || data.crowdnest !== "call") {
      return;
    }
    var args = data.args && typeof data.args === "object" ? data.args : {};
    if (data.op === "resize") {
      resize(frame, args);
      return;
    }
    var source = event.source;
    var reply = function (answer) {
      // An opaque origin cannot be named: "*" reaches whatever the frame holds, which only
      // ever gets the answer to what it asked.
      source.postMessage({crowdnest: "reply", id: data.id, ok: answer.ok,
        status: answer.status, body: answer.body}, "*");
    };
    var project = {
      id: frame.getAttribute("data-project-id"),
      shortName: frame.getAttribute("data-short-name")
    };
    var allowed = (frame.getAttribute("data-operations") || "").split(" ");
    var named = args.short_name;
    var operation = OPERATIONS.hasOwnProperty(data.op) && allowed.indexOf(data.op) >= 0
      ? OPERATIONS[data.op] : null;
    // A presenter names its own project; another project's name is refused, not obeyed.
    var answer = operation && (named === undefined || named === null ||
      String(named) === project.shortName || String(named) === project.id)
      ? operation(project, args) : null;
    if (!answer) {
      reply(REFUSED);
      return;
    }
    answer.then(reply, function () {
      reply({ok: false, status: 0, body: null});
    });
  });
})(window);
