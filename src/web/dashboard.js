// The dashboard page: fetches /api/dashboard and draws it with Chart.js (served from node_modules).
// Every text goes in with textContent, never as HTML. The charts are kept on window.dashboardCharts
// and the body gets data-ready once drawn, so tests (and curious operators) can inspect them.
/* global Chart */
const token = new URLSearchParams(location.search).get('token');
const REFRESH_MS = 60_000;
const COLORS = ['#3b5bdb', '#f08c00', '#2f9e44', '#c92a2a', '#7048e8', '#1098ad', '#e64980', '#5c940d'];
const CHOICE_LABELS = { a: 'A', b: 'B', tie: 'Tie', both_bad: 'Both bad' };
const charts = {};
window.dashboardCharts = charts;

const $ = (id) => document.getElementById(id);
const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${(100 * x).toFixed(0)}%`);
const num = (x, digits = 0) => (x === null || x === undefined ? '–' : x.toFixed(digits));
const when = (iso) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '–');

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** Creates the chart on first draw and swaps its data afterwards. */
function draw(id, type, data, options = {}) {
  if (charts[id]) {
    charts[id].data = data;
    charts[id].update();
    return;
  }
  charts[id] = new Chart($(id), {
    type,
    data,
    options: { animation: false, responsive: true, maintainAspectRatio: false, interaction: { mode: 'index', intersect: false }, ...options },
  });
}

const series = (label, data, i, extra = {}) => ({ label, data, backgroundColor: COLORS[i % COLORS.length], borderColor: COLORS[i % COLORS.length], ...extra });
const stacked = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } };

function drawVotes(d) {
  const platforms = Object.keys(d.votes.byPlatform).sort();
  draw('votesByPlatform', 'bar', { labels: d.days, datasets: platforms.map((p, i) => series(p, d.votes.byPlatform[p], i)) }, stacked);
  const choices = Object.keys(CHOICE_LABELS);
  draw('votesByChoice', 'bar', { labels: d.days, datasets: choices.map((c, i) => series(CHOICE_LABELS[c], d.votes.byChoice[c], i)) }, stacked);
  draw(
    'positionBias',
    'line',
    {
      labels: d.days,
      datasets: [
        series('Slot A share (%)', d.positionBias.shareA.map((x) => (x === null ? null : 100 * x)), 0, { spanGaps: true, pointRadius: 3 }),
        series('No bias (50%)', d.days.map(() => 50), 3, { borderDash: [6, 4], pointRadius: 0 }),
      ],
    },
    { scales: { y: { min: 0, max: 100 } } },
  );
}

function drawRuns(d) {
  const labels = d.runs.map((r) => `#${r.id}`);
  draw('rmAccuracy', 'line', { labels, datasets: [series('Held-out accuracy (%)', d.runs.map((r) => (r.rmAccuracy === null ? null : 100 * r.rmAccuracy)), 2, { spanGaps: true })] }, {
    scales: { y: { min: 0, max: 100 } },
  });
  draw(
    'policyUpdate',
    'line',
    {
      labels,
      datasets: [
        series('Mean reward before', d.runs.map((r) => r.meanRewardBefore), 0, { spanGaps: true }),
        series('Mean reward after', d.runs.map((r) => r.meanRewardAfter), 2, { spanGaps: true }),
        series('KL', d.runs.map((r) => r.kl), 1, { spanGaps: true, yAxisID: 'y1', borderDash: [4, 3] }),
        series('Clip fraction', d.runs.map((r) => r.clipFraction), 4, { spanGaps: true, yAxisID: 'y1', borderDash: [2, 2] }),
      ],
    },
    { scales: { y: { title: { display: true, text: 'reward' } }, y1: { position: 'right', beginAtZero: true, title: { display: true, text: 'KL / clip' }, grid: { drawOnChartArea: false } } } },
  );
}

function drawRatings(d) {
  const rated = d.versions.filter((v) => v.rating !== null);
  draw(
    'ratings',
    'bar',
    {
      labels: rated.map((v) => `v${v.id}`),
      datasets: [
        // A floating bar from low to high is the interval; the point on it is the fitted rating.
        series('95% interval', rated.map((v) => [v.low ?? v.rating, v.high ?? v.rating]), 0, { backgroundColor: '#3b5bdb55', barPercentage: 0.3 }),
        series('Rating', rated.map((v) => v.rating), 3, { type: 'line', showLine: false, pointRadius: 5 }),
      ],
    },
    { scales: { y: { beginAtZero: false, title: { display: true, text: 'rating' } } } },
  );
}

function drawBlocked(d) {
  draw('blocked', 'bar', { labels: d.days, datasets: [series('Blocked candidates', d.blocked, 3)] }, stacked);
}

function describeMatch(m) {
  return `${pct(m.winRate)} (95% CI ${pct(m.low)}–${pct(m.high)}, ${num(m.games)} games)`;
}

function showAlerts(d) {
  const box = $('alerts');
  box.replaceChildren();
  box.hidden = d.alerts.length === 0;
  for (const a of d.alerts) {
    const p = el('p', `Policy v${a.versionId} (${a.status}) loses clearly to its parent v${a.parentId}: it wins ${describeMatch(a)}. `);
    if (a.command) {
      p.append('Roll back with ', el('code', a.command));
    } else {
      p.append('It no longer serves: nothing to roll back.');
    }
    box.append(p);
  }
}

function showCards(d) {
  $('generated').textContent = `updated ${when(d.generatedAt)}`;
  $('live').textContent = d.live ? `v${d.live.id} (${d.live.kind})\npublished ${when(d.live.publishedAt)}` : 'none yet: run `pairwise bootstrap`';
  const r = d.lastRun;
  $('last-run').textContent = r ? `#${r.id}: ${r.outcome}\nstarted ${when(r.startedAt)}` : 'no run yet';
  $('vote-total').textContent = `${d.votes.total} live votes in ${d.days.length} days`;
  $('challenger-card').hidden = d.challenger === null;
  if (d.challenger) $('challenger').textContent = `v${d.challenger.versionId} vs v${d.challenger.liveVersionId}: wins ${describeMatch(d.challenger)}`;
  const outliers = d.outliers?.outliers ?? [];
  $('outliers-card').hidden = outliers.length === 0;
  $('outliers').textContent = outliers
    .map((o) => `${o.platform}:${o.externalId} disagrees ${o.disagreements}/${o.votes} (everyone else ${(o.othersRate * 100).toFixed(0)}%)`)
    .join('\n');
}

function showVersions(d) {
  const body = $('versions').querySelector('tbody');
  body.replaceChildren();
  for (const v of [...d.versions].reverse()) {
    const row = el('tr');
    if (v.vsParent?.alert) row.className = 'alert';
    else if (v.status === 'live') row.className = 'live';
    const interval = v.low === null ? '–' : `${num(v.low)}–${num(v.high)}`;
    const cells = [
      `v${v.id}`,
      v.parentId === null ? '–' : `v${v.parentId}`,
      v.kind,
      v.reason ? `${v.status} (${v.reason})` : v.status,
      when(v.createdAt),
      num(v.rating),
      interval,
      String(v.games),
      v.vsParent ? describeMatch(v.vsParent) : '–',
    ];
    for (const text of cells) row.append(el('td', text));
    body.append(row);
  }
}

async function load() {
  try {
    const res = await fetch('/api/dashboard', { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
    if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
    showAlerts(data);
    showCards(data);
    drawVotes(data);
    drawRuns(data);
    drawRatings(data);
    drawBlocked(data);
    showVersions(data);
    $('error').textContent = '';
    document.body.dataset.ready = 'true';
  } catch (err) {
    $('error').textContent = `Could not load the dashboard data: ${err.message}`;
  }
}

load();
setInterval(load, REFRESH_MS);
