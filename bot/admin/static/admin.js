/*
 * Guichet staff area: small enhancements over pages that work without script.
 *  - live Markdown preview (rendered and sanitised by the server);
 *  - identifier (slug) suggested from the title of a new article;
 *  - warning before leaving a form with unsaved changes;
 *  - confirmation of destructive buttons (data-confirm).
 */
(function () {
  "use strict";

  var PREVIEW_URL = "/admin/api/preview";
  var PREVIEW_DELAY_MS = 400;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // --- live preview ---
  function setupPreview(textarea) {
    var target = document.getElementById(textarea.getAttribute("data-preview-target"));
    var status = document.getElementById("apercu-etat");
    if (!target) {
      return;
    }
    var timer = null;
    var sequence = 0;

    function show(message) {
      if (status) {
        status.textContent = message;
      }
    }

    function refresh() {
      var mine = ++sequence;
      fetch(PREVIEW_URL, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ body: textarea.value })
      })
        .then(function (response) {
          return response.json().then(function (data) {
            return { ok: response.ok, data: data };
          });
        })
        .then(function (result) {
          if (mine !== sequence) {
            return; // a newer request is on its way
          }
          if (result.ok && typeof result.data.html === "string") {
            // Sanitised by the server (nh3): only article tags, no script.
            target.innerHTML = result.data.html;
            show("");
          } else {
            show((result.data.error && result.data.error.message) || "Aperçu indisponible.");
          }
        })
        .catch(function () {
          if (mine === sequence) {
            show("Aperçu indisponible (connexion au serveur perdue).");
          }
        });
    }

    textarea.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, PREVIEW_DELAY_MS);
    });
    // Text typed before this script ran is not in the server's first preview.
    if (textarea.value !== textarea.defaultValue) {
      refresh();
    }
  }

  // --- slug from title ---
  function slugify(text) {
    return text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 80)
      .replace(/-+$/g, "");
  }

  function setupSlug(input) {
    var source = document.getElementById(input.getAttribute("data-slug-from"));
    if (!source) {
      return;
    }
    var touched = input.value !== "" && input.value !== slugify(source.value);
    input.addEventListener("input", function () {
      touched = input.value !== "";
    });
    source.addEventListener("input", function () {
      if (!touched) {
        input.value = slugify(source.value);
      }
    });
  }

  // --- unsaved changes ---
  var dirtyForms = [];

  function setupDirtyCheck(form) {
    // A form shown again after a refusal (conflict, invalid field) holds unsaved text.
    var state = {
      form: form,
      dirty: form.getAttribute("data-unsaved") === "true",
      submitting: false
    };
    dirtyForms.push(state);
    form.addEventListener("input", function () {
      state.dirty = true;
    });
    form.addEventListener("change", function () {
      state.dirty = true;
    });
    form.addEventListener("submit", function () {
      state.submitting = true;
    });
  }

  function anyDirty() {
    return dirtyForms.some(function (s) {
      return s.dirty && !s.submitting;
    });
  }

  window.addEventListener("beforeunload", function (event) {
    if (anyDirty()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // --- confirmations ---
  function setupConfirm(form, attribute, onlyIfDirty) {
    form.addEventListener("submit", function (event) {
      if (onlyIfDirty && !anyDirty()) {
        return;
      }
      if (!window.confirm(form.getAttribute(attribute))) {
        event.preventDefault();
        return;
      }
      // The user accepted to leave: do not ask a second time.
      dirtyForms.forEach(function (s) {
        s.submitting = true;
      });
    });
  }

  function focusFirstAlert() {
    var alert = document.getElementById("conflit") || document.getElementById("erreurs");
    if (alert) {
      alert.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-preview-target]").forEach(setupPreview);
    document.querySelectorAll("input[data-slug-from]").forEach(setupSlug);
    document.querySelectorAll("form[data-dirty-check]").forEach(setupDirtyCheck);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      setupConfirm(form, "data-confirm", false);
    });
    document.querySelectorAll("form[data-confirm-if-dirty]").forEach(function (form) {
      setupConfirm(form, "data-confirm-if-dirty", true);
    });
    // With script, the preview follows the text: the no-script button is not needed.
    document.querySelectorAll(".js-hide").forEach(function (el) {
      el.hidden = true;
    });
    focusFirstAlert();
  });
})();
