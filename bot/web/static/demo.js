// Demo site of the fictional commune of Villebrune (served under a strict CSP: no inline scripts).
// Infos pratiques: filled from /api/town, rendered with DOM APIs only.
(function () {
  var box = document.getElementById('town-info');
  box.setAttribute('aria-busy', 'true');
  box.textContent = 'Chargement des informations pratiques…';

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }
  function str(v) { return typeof v === 'string' ? v.trim() : ''; }

  function render(info) {
    box.textContent = '';
    var grid = el('div', null, 'town-grid');

    var contact = el('div', null, 'town-block');
    contact.appendChild(el('h3', str(info.name) || 'Mairie de Villebrune'));
    var dl = el('dl');
    function row(label, content) {
      if (!content) return;
      dl.appendChild(el('dt', label));
      var dd = el('dd');
      dd.appendChild(typeof content === 'string' ? document.createTextNode(content) : content);
      dl.appendChild(dd);
    }
    row('Adresse', str(info.address));
    var phone = str(info.phone);
    if (phone) {
      var tel = el('a', phone);
      tel.href = 'tel:' + phone.replace(/[^\d+]/g, '');
      row('Téléphone', tel);
    }
    var email = str(info.email);
    if (email) {
      row('Courriel', /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)
        ? Object.assign(el('a', email), { href: 'mailto:' + email })
        : email);
    }
    contact.appendChild(dl);
    grid.appendChild(contact);

    var hours = Array.isArray(info.opening_hours) ? info.opening_hours : [];
    if (hours.length) {
      var block = el('div', null, 'town-block');
      var table = el('table');
      table.appendChild(el('caption', 'Horaires d’ouverture'));
      var tbody = el('tbody');
      hours.forEach(function (h) {
        if (!h) return;
        var tr = el('tr');
        var th = el('th', str(h.days));
        th.scope = 'row';
        tr.appendChild(th);
        tr.appendChild(el('td', str(h.hours)));
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      block.appendChild(table);
      grid.appendChild(block);
    }
    box.appendChild(grid);
  }

  fetch('/api/town', { headers: { Accept: 'application/json' } })
    .then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    })
    .then(function (info) { render(info || {}); })
    .catch(function () {
      box.textContent = '';
      box.appendChild(el('p', 'Les informations pratiques sont momentanément indisponibles. Merci de réessayer plus tard.', 'muted'));
    })
    .then(function () { box.removeAttribute('aria-busy'); });
})();

// "Ask the assistant" buttons only make sense once the widget has loaded
// (it is deferred, so it has run by DOMContentLoaded if it is available).
document.addEventListener('DOMContentLoaded', function () {
  if (!window.Guichet) return;
  document.querySelectorAll('[data-question], [data-guichet-open]').forEach(function (b) { b.hidden = false; });
  document.addEventListener('click', function (e) {
    var target = e.target.closest('[data-question], [data-guichet-open]');
    if (!target) return;
    if (target.hasAttribute('data-question')) window.Guichet.send(target.getAttribute('data-question'));
    else window.Guichet.open();
  });
});
