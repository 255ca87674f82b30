/*
 * Crowdnest's pybossa.js: the JavaScript interface task presenters written for PYBOSSA call.
 *
 *   pybossa.taskLoaded(function (task, deferred) { ... deferred.resolve(task); });
 *   pybossa.presentTask(function (task, deferred) { ... deferred.resolve(); });
 *   pybossa.run("short_name");
 *
 * run() asks the server for a task (or takes the one named in a /task/<id> page address),
 * hands it to the taskLoaded callback, then to presentTask; meanwhile the next task is fetched
 * and loaded ahead. When presentTask resolves its deferred, the next task is presented. An empty
 * object ({}) is presented when no task is left. saveTask, userProgress and newTask return
 * jQuery promises. Writes carry the page's CSRF token (<meta name="csrf-token">).
 *
 * In Crowdnest's presenter frame (a sandboxed iframe with an opaque origin, loaded with
 * data-crowdnest-parent on this script), the calls made for the volunteer (newtask, the task,
 * saveTask, userProgress) are asked of the page around the frame by postMessage: that page holds
 * the volunteer's session, this one never does.
 *
 * Written for Crowdnest; needs jQuery (1.8 or later) loaded before it.
 */
(function (window, $) {
  "use strict";

  if (!$) {
    throw new Error("pybossa.js needs jQuery: load jquery.min.js before it");
  }
  // A presenter may load this file a second time: keep the first copy and its callbacks.
  if (window.pybossa && window.pybossa.crowdnest) {
    return;
  }

  var endpoint = "";
  // The parent page's origin when this copy runs in a presenter frame, else null.
  var script = window.document.currentScript;
  var parentOrigin = (script && script.getAttribute("data-crowdnest-parent")) || null;
  var bridge = parentOrigin && window.parent !== window ? makeBridge(parentOrigin) : null;
  var callbacks = {
    taskLoaded: function (task, deferred) {
      deferred.resolve(task);
    },
    presentTask: function (task, deferred) {
      // A presenter that registers nothing shows nothing.
    }
  };
  // Tasks seen on this page, by id: saveTask(id, answer) needs their project id.
  var knownTasks = {};

  // Calls to the page around the frame: each is answered once, by that page only, with
  // {ok, status, body}; a failure looks like a failed jQuery request (status, responseJSON).
  function makeBridge(origin) {
    var pending = {};
    var nextId = 1;
    window.addEventListener("message", function (event) {
      var data = event.data;
      if (event.source !== window.parent || event.origin !== origin) {
        return;
      }
      if (!data || data.crowdnest !== "reply" || !pending.hasOwnProperty(data.id)) {
        return;
      }
      var deferred = pending[data.id];
      delete pending[data.id];
      if (data.ok) {
        deferred.resolve(data.body);
      } else {
        deferred.reject({
          status: data.status,
          responseJSON: data.body,
          responseText: typeof data.body === "string" ? data.body : JSON.stringify(data.body)
        });
      }
    });
    function send(op, args, id) {
      window.parent.postMessage({crowdnest: "call", id: id, op: op, args: args || {}}, origin);
    }
    function reportHeight() {
      var root = window.document.documentElement;
      // The content's height, plus a horizontal scroll bar's when there is one.
      var height = Math.ceil(root.getBoundingClientRect().height) +
        Math.max(0, window.innerHeight - root.clientHeight);
      send("resize", {height: height}, 0);
    }
    window.addEventListener("load", reportHeight);
    window.document.addEventListener("DOMContentLoaded", function () {
      reportHeight();
      if (window.ResizeObserver) {
        new window.ResizeObserver(reportHeight).observe(window.document.body);
      }
    });
    return {
      call: function (op, args) {
        var id = nextId++;
        var deferred = $.Deferred();
        pending[id] = deferred;
        send(op, args, id);
        return deferred.promise();
      }
    };
  }

  function apiUrl(path) {
    return endpoint + path;
  }

  function csrfToken() {
    var meta = window.document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  function isEmpty(task) {
    return !task || $.isEmptyObject(task);
  }

  // No cache-busting parameter: the API refuses query keys it does not know.
  function getJSON(path, query) {
    return $.ajax({
      url: apiUrl(path),
      data: query || {},
      dataType: "json"
    });
  }

  function remember(task) {
    if (!isEmpty(task) && task.id !== undefined && task.id !== null) {
      knownTasks[task.id] = task;
    }
    return task;
  }

  // newtask answers {} (no task), an object, or a list when asked for several.
  function firstTask(answer) {
    var task = $.isArray(answer) ? answer[0] || {} : answer || {};
    if (task.id === null || task.id === undefined) {
      if (task.info && task.info.error && window.console) {
        window.console.warn("pybossa.js: " + task.info.error);
      }
      return {};
    }
    return remember(task);
  }

  function fetchNewTask(shortName, offset) {
    if (bridge) {
      return bridge.call("newtask", {short_name: shortName, offset: offset || 0}).then(firstTask);
    }
    var path = "/api/project/" + encodeURIComponent(shortName) + "/newtask";
    var query = offset ? {offset: offset} : {};
    return getJSON(path, query).then(firstTask);
  }

  function fetchTask(taskId) {
    if (bridge) {
      return bridge.call("task", {id: taskId}).then(remember);
    }
    return getJSON("/api/task/" + encodeURIComponent(taskId)).then(remember);
  }

  // The task id of a /project/<short_name>/task/<id> address, or false.
  function getCurrentTaskId(url) {
    var path = url === undefined ? window.location.pathname : String(url);
    var match = /\/task\/(\d+)\/?(?:[?#].*)?$/.exec(path);
    return match ? parseInt(match[1], 10) : false;
  }

  // Run the taskLoaded callback: the result is a promise of the loaded task.
  function load(taskPromise) {
    return taskPromise.then(function (task) {
      var loaded = $.Deferred();
      callbacks.taskLoaded(task, loaded);
      return loaded.promise();
    });
  }

  // The task after `current`: newtask at `offset`, stepping over `current` itself (it is still
  // unanswered, so the scheduler may hand it out again).
  function fetchNext(shortName, current, offset, triesLeft) {
    return fetchNewTask(shortName, offset).then(function (task) {
      if (!isEmpty(task) && task.id === current.id) {
        return triesLeft > 0 ? fetchNext(shortName, current, offset + 1, triesLeft - 1) : {};
      }
      return task;
    });
  }

  function present(shortName, loadedPromise, nextOffset) {
    loadedPromise.done(function (task) {
      var next = null;
      if (!isEmpty(task)) {
        // Prefetch: fetch and load the next task while the volunteer works on this one.
        next = load(fetchNext(shortName, task, nextOffset, 1));
      }
      var presented = $.Deferred();
      presented.done(function () {
        present(shortName, next || load(fetchNewTask(shortName, 0)), 1);
      });
      callbacks.presentTask(task, presented);
    }).fail(function (xhr) {
      if (window.console) {
        window.console.error("pybossa.js: could not load a task", xhr && xhr.status);
      }
    });
  }

  function run(shortName) {
    var taskId = getCurrentTaskId();
    if (taskId) {
      // A task named in the address is presented first; the next one may sit at offset 0.
      present(shortName, load(fetchTask(taskId)), 0);
    } else {
      present(shortName, load(fetchNewTask(shortName, 0)), 1);
    }
  }

  function projectIdOf(task) {
    if (typeof task === "object" && task !== null && task.project_id) {
      return $.Deferred().resolve(task.project_id).promise();
    }
    var taskId = typeof task === "object" && task !== null ? task.id : task;
    if (knownTasks[taskId]) {
      return $.Deferred().resolve(knownTasks[taskId].project_id).promise();
    }
    return fetchTask(taskId).then(function (found) {
      return found.project_id;
    });
  }

  // Save the volunteer's answer to a task (a task object or its id): a promise of the run.
  function saveTask(task, answer) {
    var taskId = typeof task === "object" && task !== null ? task.id : task;
    if (bridge) {
      // The answer travels as the JSON a direct save would send; the parent page names the
      // project itself.
      return bridge.call("taskrun", {task_id: taskId, answer: JSON.stringify({info: answer})});
    }
    return projectIdOf(task).then(function (projectId) {
      var headers = {};
      var token = csrfToken();
      if (token) {
        headers["X-CSRFToken"] = token;
      }
      return $.ajax({
        type: "POST",
        url: apiUrl("/api/taskrun"),
        contentType: "application/json",
        dataType: "json",
        headers: headers,
        data: JSON.stringify({project_id: projectId, task_id: taskId, info: answer})
      });
    });
  }

  // How many tasks the caller has done in the project: a promise of {done, total, ...}.
  function userProgress(shortName) {
    if (bridge) {
      return bridge.call("userprogress", {short_name: shortName});
    }
    return getJSON("/api/project/" + encodeURIComponent(shortName) + "/userprogress");
  }

  // A new task for the caller, without presenting it: a promise of the task ({} when none).
  function newTask(shortName, offset) {
    return fetchNewTask(shortName, offset || 0);
  }

  // Where the API lives: "" or "/" for this site, else "https://host" (a trailing / is dropped).
  function setEndpoint(url) {
    endpoint = String(url || "").replace(/\/+$/, "");
    return endpoint;
  }

  // jQuery 3 dropped the .load(fn) and .error(fn) event shorthands and .size(), which classic
  // presenters use (`$('<img />').load(function () {...})`): give them back, for those only.
  var ajaxLoad = $.fn.load;
  if (ajaxLoad && !$.fn.load.crowdnestShim) {
    $.fn.load = function (handler) {
      if (typeof handler === "function") {
        return this.on("load", handler);
      }
      return ajaxLoad.apply(this, arguments);
    };
    $.fn.load.crowdnestShim = true;
  }
  if (!$.fn.error) {
    $.fn.error = function (handler) {
      return this.on("error", handler);
    };
  }
  if (!$.fn.size) {
    $.fn.size = function () {
      return this.length;
    };
  }

  window.pybossa = {
    crowdnest: true,
    jQuery: $,
    run: run,
    taskLoaded: function (fn) {
      callbacks.taskLoaded = fn;
    },
    presentTask: function (fn) {
      callbacks.presentTask = fn;
    },
    saveTask: saveTask,
    userProgress: userProgress,
    newTask: newTask,
    setEndpoint: setEndpoint,
    getCurrentTaskId: getCurrentTaskId
  };
})(window, window.jQuery);
