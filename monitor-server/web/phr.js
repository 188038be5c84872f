// Clinician view of the mothers' PHR ("妊産婦 / Mothers"), a second view beside the central
// monitor. Plain JavaScript, no build step, no external resources; served ahead of app.js in
// /app.js (api/web.rs) and driven by its events: ctg:session, ctg:logout, ctg:lang.
//
// Rules this view follows:
// * Everything shown comes from the clinician API, which only returns mothers who consented to
//   the caller's clinic and only the scopes they granted; the page never widens that.
// * Mothers type their own names and notes: every value goes in through textContent or an SVG
//   attribute, never through innerHTML.
// * Tiers and warnings are the server's (derived from the values); the page only colours them.
// * The central monitor keeps running (and alarming) while this view is open.
'use strict';

(() => {
  const I18N = {
    ja: {
      tabMonitor: 'セントラルモニタ', tabMothers: '妊産婦', callToday: '本日の連絡', refresh: '更新',
      callHint: '緊急域・当日連絡域の家庭血圧、EPDS 陽性、EPDS 項目10 の回答がある方です。連絡したら「確認」を押してください。',
      noWarnings: '未確認の警告はありません', ackedRecent: '確認済み', mothers: '妊産婦一覧',
      noMothers: 'あなたの施設に記録を共有している妊産婦はまだいません',
      pickMother: '一覧から妊産婦を選ぶと、家庭血圧・健診・EPDS・メモを表示します',
      colName: '氏名', colScope: '共有範囲', colBp: '最新の家庭血圧', colWarnings: '未確認', colUpload: '最終受信',
      kinds: { bp_emergency: '血圧 緊急域', bp_same_day: '血圧 当日連絡域', epds_positive: 'EPDS 陽性', epds_self_harm: 'EPDS 項目10 (自傷念慮)' },
      urgency: { urgent: '至急', today: '本日' },
      tiers: { normal: '正常', advisory: '注意', same_day: '当日連絡', emergency: '緊急' },
      scopes: { blood_pressure: '血圧', checkups: '健診', epds: 'EPDS', notes: 'メモ' },
      symptoms: { headache: '頭痛', visual_disturbance: '目のちかちか・見えにくさ', epigastric_pain: 'みぞおちの痛み', breathlessness: '息苦しさ', seizure: 'けいれん' },
      sessions: { morning: '朝', evening: '夜', other: '' },
      ack: '確認', acked: (who, when) => `確認済 ${who} ${when}`, ackFailed: '確認できませんでした', ackTaken: '他のスタッフが先に確認しました',
      occurred: '測定・回答', received: '受信', loadFailed: '読み込めませんでした', forbidden: '閲覧する権限がありません',
      ago: (m) => (m < 1 ? 'たった今' : m < 60 ? `${m}分前` : m < 1440 ? `${Math.floor(m / 60)}時間前` : `${Math.floor(m / 1440)}日前`),
      never: '受信なし', none: 'なし', notShared: 'この項目は共有されていません',
      bpTrend: '家庭血圧の推移', bpEmpty: '家庭血圧の記録はありません', systolic: '収縮期', diastolic: '拡張期',
      band: (name, s, d) => `${name} ${s}/${d}`, readings: (n) => `${n} 件`,
      checkups: '妊婦健診', checkupsEmpty: '健診の記録はありません',
      ckCols: ['日付', '施設', '体重', '血圧', '尿蛋白', '尿糖', '子宮底長', '腹囲', '浮腫', '備考'],
      dipstick: { not_tested: '未検査', negative: '−', trace: '±' }, oedema: { not_checked: '未確認', none: 'なし' },
      epds: 'EPDS (エジンバラ産後うつ病質問票)', epdsEmpty: 'EPDS の記録はありません',
      epdsCols: ['回答日', '合計', '判定', '項目10'], positive: '陽性', negative: '陰性',
      herNotes: '本人のメモ', notesEmpty: 'メモはありません',
      origins: { typed: '入力', dictated_on_phone: '口述 (端末で下書き)', dictated_on_server: '口述 (サーバーで下書き)' },
      checkedByHer: '本人確認済み', notCheckedByHer: '本人未確認',
      clinical: '診療記録 (確定)', clinicalEmpty: '確定した記録はまだありません', signed: 'HPKI 署名済み', unsigned: '電子署名なし',
      compose: '口述・記録を書く', transcript: '口述の書き起こし', transcriptHint: '話した内容を貼り付けるか入力し「下書き作成」で S/O/A/P に整理します。',
      draft: '下書き作成', drafting: '下書きを作成中…', drafted: 'AI の下書きです。内容を確認・修正してから確定してください。',
      soap: { subjective: 'S 主観的情報', objective: 'O 客観的情報', assessment: 'A 評価', plan: 'P 計画' },
      attest: '内容を確認し確定', attested: '確定しました', attestEmpty: 'S/O/A/P のいずれかを記入してください',
      record: '録音して口述', stop: '録音停止', recording: '録音中… 話し終えたら「録音停止」', transcribing: '書き起こし中…',
      noMic: 'マイクを使えません', noSpeechModel: 'このサーバーには音声認識モデルがありません。書き起こしを入力してください',
      transcriptEmpty: '書き起こしを入力してください', failed: '失敗', noteLang: '言語', aiDrafted: 'AI 下書き',
      bpm: '/分', final: '確定',
    },
    en: {
      tabMonitor: 'Central monitor', tabMothers: 'Mothers', callToday: 'Call today', refresh: 'Refresh',
      callHint: 'Home BP in the emergency or same-day tier, positive EPDS, or any answer to EPDS item 10. Acknowledge once you have called.',
      noWarnings: 'No open warnings', ackedRecent: 'Acknowledged', mothers: 'Mothers',
      noMothers: 'No mothers have shared their records with your clinic yet',
      pickMother: 'Pick a mother from the list to see her home BP, check-ups, EPDS and notes',
      colName: 'Name', colScope: 'Shared', colBp: 'Latest home BP', colWarnings: 'Open', colUpload: 'Last upload',
      kinds: { bp_emergency: 'BP emergency', bp_same_day: 'BP same-day', epds_positive: 'EPDS positive', epds_self_harm: 'EPDS item 10 (self-harm)' },
      urgency: { urgent: 'NOW', today: 'TODAY' },
      tiers: { normal: 'normal', advisory: 'advisory', same_day: 'same-day', emergency: 'emergency' },
      scopes: { blood_pressure: 'BP', checkups: 'Check-ups', epds: 'EPDS', notes: 'Notes' },
      symptoms: { headache: 'headache', visual_disturbance: 'visual disturbance', epigastric_pain: 'epigastric pain', breathlessness: 'breathlessness', seizure: 'seizure' },
      sessions: { morning: 'AM', evening: 'PM', other: '' },
      ack: 'Acknowledge', acked: (who, when) => `Acknowledged by ${who} ${when}`, ackFailed: 'Could not acknowledge', ackTaken: 'Another clinician acknowledged it first',
      occurred: 'Taken', received: 'Received', loadFailed: 'Could not load', forbidden: 'You may not view this',
      ago: (m) => (m < 1 ? 'just now' : m < 60 ? `${m} min ago` : m < 1440 ? `${Math.floor(m / 60)} h ago` : `${Math.floor(m / 1440)} d ago`),
      never: 'nothing yet', none: 'none', notShared: 'Not shared with your clinic',
      bpTrend: 'Home blood pressure', bpEmpty: 'No home readings', systolic: 'Systolic', diastolic: 'Diastolic',
      band: (name, s, d) => `${name} ${s}/${d}`, readings: (n) => `${n} readings`,
      checkups: 'Check-ups', checkupsEmpty: 'No check-ups recorded',
      ckCols: ['Date', 'Facility', 'Weight', 'BP', 'Protein', 'Glucose', 'Fundal ht', 'Abd. circ.', 'Oedema', 'Notes'],
      dipstick: { not_tested: 'not tested', negative: 'neg', trace: 'trace' }, oedema: { not_checked: 'not checked', none: 'none' },
      epds: 'EPDS (Edinburgh Postnatal Depression Scale)', epdsEmpty: 'No EPDS recorded',
      epdsCols: ['Taken', 'Total', 'Result', 'Item 10'], positive: 'positive', negative: 'negative',
      herNotes: 'Her notes', notesEmpty: 'No notes',
      origins: { typed: 'typed', dictated_on_phone: 'dictated (drafted on phone)', dictated_on_server: 'dictated (drafted on server)' },
      checkedByHer: 'checked by her', notCheckedByHer: 'not checked by her',
      clinical: 'Clinical notes (attested)', clinicalEmpty: 'No attested notes yet', signed: 'HPKI signed', unsigned: 'not signed',
      compose: 'Dictate / write a note', transcript: 'Dictation transcript', transcriptHint: 'Paste or type what was said, then "Draft" sorts it into S/O/A/P.',
      draft: 'Draft', drafting: 'Drafting…', drafted: 'AI draft: check and edit it before you attest.',
      soap: { subjective: 'S Subjective', objective: 'O Objective', assessment: 'A Assessment', plan: 'P Plan' },
      attest: 'Attest note', attested: 'Attested', attestEmpty: 'Write at least one of S/O/A/P',
      record: 'Record dictation', stop: 'Stop recording', recording: 'Recording… press "Stop recording" when done', transcribing: 'Transcribing…',
      noMic: 'No microphone available', noSpeechModel: 'This server has no speech model: type the transcript instead',
      transcriptEmpty: 'Enter a transcript first', failed: 'Failed', noteLang: 'Language', aiDrafted: 'AI draft',
      bpm: '/min', final: 'final',
    },
  };

  // Tier bands (mmHg), as in phr-wire's default thresholds (clinical.md §3).
  const BANDS = [
    { tier: 'advisory', s: 135, d: 85 },
    { tier: 'same_day', s: 140, d: 90 },
    { tier: 'emergency', s: 160, d: 110 },
  ];
  const TIER_RANK = { normal: 0, advisory: 1, same_day: 2, emergency: 3 };
  const TIER_COLOUR = { normal: '#5df2a4', advisory: '#ffd166', same_day: '#ff9f43', emergency: '#ff3b30' };
  // Warnings that mean "call now" come before those that mean "call today".
  const URGENT = new Set(['bp_emergency', 'epds_self_harm']);
  const REFRESH_MS = 30000;
  const DAY_MS = 86400000;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);

  const state = {
    csrf: '',
    active: false,
    signedIn: false,
    warnings: [],
    mothers: null,
    record: null,
    selected: null,
    aiDrafted: false,
    timer: null,
  };

  const lang = () => (document.body.dataset.lang === 'en' ? 'en' : 'ja');
  const locale = () => (lang() === 'ja' ? 'ja-JP' : 'en-GB');
  const t = (key, ...args) => {
    const v = I18N[lang()][key];
    return typeof v === 'function' ? v(...args) : v;
  };
  const tr = (group, key) => (I18N[lang()][group] && I18N[lang()][group][key]) || key;

  // ---- API ----------------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET') headers['X-CSRF-Token'] = state.csrf;
    const r = await fetch('/api/v1' + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin',
    });
    if (r.status === 401) {
      // The session ended: the central monitor's login takes over.
      document.dispatchEvent(new CustomEvent('ctg:unauthorized'));
      throw Object.assign(new Error('unauthorized'), { status: 401 });
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!r.ok) throw Object.assign(new Error((data && data.message) || r.statusText), { status: r.status });
    return data;
  }

  function errorText(e) {
    return e.status === 403 ? `${t('forbidden')}: ${e.message}` : `${t('loadFailed')}: ${e.message}`;
  }

  // ---- small helpers ------------------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function ms(iso) {
    const v = Date.parse(iso);
    return Number.isFinite(v) ? v : 0;
  }

  function fmtWhen(iso) {
    if (!iso) return '';
    return new Date(iso).toLocaleString(locale(), { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  function fmtDay(isoOrDate) {
    return new Date(isoOrDate).toLocaleDateString(locale(), { year: 'numeric', month: 'numeric', day: 'numeric' });
  }

  function ago(iso) {
    if (!iso) return t('never');
    return t('ago', Math.max(0, Math.floor((Date.now() - ms(iso)) / 60000)));
  }

  const num = (x, digits = 0) => (x === null || x === undefined ? '—' : Number(x).toFixed(digits));
  const bpText = (s, d) => `${num(s)}/${num(d)}`;

  // The server states a warning's detail in English (it is also the stored record); known forms
  // are shown in the viewer's language, anything else as written.
  function warningDetail(d) {
    if (lang() === 'en') return d;
    let m = d.match(/^(\d+)\/(\d+) mmHg(?: with (.+))?$/);
    if (m) return `${m[1]}/${m[2]} mmHg${m[3] ? '・' + m[3].split(', ').map((s) => tr('symptoms', s)).join('、') : ''}`;
    m = d.match(/^EPDS (\d+) \(cut-off (\d+)\)$/);
    if (m) return `EPDS 合計 ${m[1]} 点 (区分点 ${m[2]})`;
    m = d.match(/^EPDS item 10 = (\d+)$/);
    if (m) return `EPDS 項目10 = ${m[1]} 点`;
    return d;
  }

  function tierBadge(tier) {
    return el('span', `tier tier-${tier}`, tr('tiers', tier));
  }

  function scopeChips(scope) {
    const box = el('span', 'scopes');
    for (const s of scope) {
      const c = el('span', 'scope', tr('scopes', s));
      c.dataset.scope = s;
      box.appendChild(c);
    }
    return box;
  }

  function fillTable(table, headers, rows) {
    const head = table.querySelector('thead') || table.appendChild(el('thead'));
    const body = table.querySelector('tbody') || table.appendChild(el('tbody'));
    const hr = el('tr');
    for (const h of headers) hr.appendChild(el('th', null, h));
    head.replaceChildren(hr);
    body.replaceChildren(...rows);
  }

  function row(cells) {
    const r = el('tr');
    for (const c of cells) {
      const td = el('td');
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? '' : String(c);
      r.appendChild(td);
    }
    return r;
  }

  function setEmpty(id, show, text) {
    const p = $(id);
    p.hidden = !show;
    if (text) p.textContent = text;
  }

  // ---- views --------------------------------------------------------------------------------

  function showView(which) {
    state.active = which === 'phr';
    $('phr').hidden = !state.active;
    $('monitor').hidden = state.active;
    $('tab-monitor').setAttribute('aria-pressed', String(!state.active));
    $('tab-phr').setAttribute('aria-pressed', String(state.active));
    document.body.dataset.view = state.active ? 'phr' : 'monitor';
    if (state.active) refreshLists();
    // The grid lays itself out for its size on resize; it was hidden meanwhile.
    else window.dispatchEvent(new Event('resize'));
  }

  // ---- warnings: who to call today ------------------------------------------------------------

  async function loadWarnings() {
    // open=false lists acknowledged warnings too, so the list can say who called and when.
    const list = await api('GET', '/phr/warnings?open=false');
    state.warnings = Array.isArray(list) ? list : [];
  }

  function sortWarnings(list) {
    return list.slice().sort((a, b) =>
      (URGENT.has(b.kind) - URGENT.has(a.kind)) || ms(b.occurred_at) - ms(a.occurred_at) || b.id - a.id);
  }

  function warningItem(w) {
    const li = el('li', `phr-warning ${URGENT.has(w.kind) ? 'urgent' : 'today'}${w.acknowledged_at ? ' acked' : ''}`);
    li.dataset.warningId = String(w.id);
    li.dataset.kind = w.kind;
    li.dataset.motherId = w.mother_id;
    li.dataset.acknowledged = String(!!w.acknowledged_at);
    li.appendChild(el('b', 'urgency', tr('urgency', URGENT.has(w.kind) ? 'urgent' : 'today')));
    const text = el('span', 'w-text');
    const who = el('button', 'w-mother linklike', w.display_name);
    who.type = 'button';
    who.addEventListener('click', () => openMother(w.mother_id));
    text.append(who, el('strong', 'w-kind', tr('kinds', w.kind)), el('span', 'w-detail', warningDetail(w.detail)));
    const when = el('time', 'w-when', `${t('occurred')} ${fmtWhen(w.occurred_at)}`);
    when.dateTime = w.occurred_at;
    text.appendChild(when);
    li.appendChild(text);
    if (w.acknowledged_at) {
      li.appendChild(el('span', 'acked-by', t('acked', w.acknowledged_by || '', fmtWhen(w.acknowledged_at))));
    } else {
      const b = el('button', 'ack', t('ack'));
      b.type = 'button';
      b.setAttribute('aria-label', `${t('ack')}: ${w.display_name} ${tr('kinds', w.kind)}`);
      b.addEventListener('click', () => acknowledge(w));
      li.appendChild(b);
    }
    return li;
  }

  function renderWarnings() {
    const open = sortWarnings(state.warnings.filter((w) => !w.acknowledged_at));
    const acked = state.warnings.filter((w) => w.acknowledged_at)
      .sort((a, b) => ms(b.acknowledged_at) - ms(a.acknowledged_at)).slice(0, 20);
    const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest('.phr-warning')
      ? document.activeElement.closest('.phr-warning').dataset.warningId : null;
    $('phr-warnings').replaceChildren(...open.map(warningItem));
    $('phr-acked').replaceChildren(...acked.map(warningItem));
    $('phr-acked-box').hidden = acked.length === 0;
    $('phr-acked-count').textContent = String(acked.length);
    setEmpty('phr-warnings-empty', open.length === 0);
    $('phr-calls-count').textContent = String(open.length);
    $('phr-calls-count').dataset.urgent = String(open.some((w) => URGENT.has(w.kind)));
    const badge = $('tab-phr-count');
    badge.hidden = open.length === 0;
    badge.textContent = String(open.length);
    badge.dataset.urgent = $('phr-calls-count').dataset.urgent;
    if (focusedId) {
      const again = document.querySelector(`.phr-warning[data-warning-id="${focusedId}"] button.ack`)
        || document.querySelector(`.phr-warning[data-warning-id="${focusedId}"] button`);
      if (again) again.focus();
    }
  }

  async function acknowledge(w) {
    $('phr-calls-msg').textContent = '';
    try {
      const done = await api('POST', `/phr/warnings/${w.id}/acknowledge`);
      state.warnings = state.warnings.map((x) => (x.id === done.id ? done : x));
    } catch (e) {
      // 409: a colleague acknowledged it first; the reload shows who.
      $('phr-calls-msg').textContent = e.status === 409 ? t('ackTaken') : `${t('ackFailed')}: ${e.message}`;
    }
    renderWarnings();
    await refreshLists();
    if (state.selected === w.mother_id) loadMother(w.mother_id).catch(() => {});
  }

  // ---- mothers list -------------------------------------------------------------------------

  async function loadMothers() {
    const list = await api('GET', '/phr/mothers');
    state.mothers = Array.isArray(list) ? list : [];
  }

  function renderMothers() {
    // Who needs attention first: open warnings, then the tier of her latest reading.
    const rank = (m) => (m.latest_bp ? TIER_RANK[m.latest_bp.tier] || 0 : 0);
    const list = (state.mothers || []).slice().sort((a, b) =>
      (b.open_warnings > 0) - (a.open_warnings > 0) || rank(b) - rank(a) || b.open_warnings - a.open_warnings
      || a.display_name.localeCompare(b.display_name, locale()));
    const rows = list.map((m) => {
      const bp = m.latest_bp;
      let bpCell = el('span', 'muted', t('none'));
      if (bp) {
        bpCell = el('span', 'bp-cell');
        bpCell.append(el('span', 'bp-val', `${bpText(bp.systolic, bp.diastolic)}`), tierBadge(bp.tier), el('span', 'muted', fmtWhen(bp.measured_at)));
      }
      const warn = el('span', m.open_warnings > 0 ? 'count open' : 'count', String(m.open_warnings));
      const r = row([el('span', 'm-name', m.display_name), scopeChips(m.scope), bpCell, warn, ago(m.last_upload_at)]);
      r.className = 'mother-row';
      r.tabIndex = 0;
      r.dataset.motherId = m.mother_id;
      r.dataset.openWarnings = String(m.open_warnings);
      r.dataset.tier = bp ? bp.tier : '';
      r.setAttribute('role', 'button');
      r.setAttribute('aria-selected', String(state.selected === m.mother_id));
      r.addEventListener('click', () => openMother(m.mother_id));
      r.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openMother(m.mother_id); }
      });
      return r;
    });
    fillTable($('phr-mothers'), [t('colName'), t('colScope'), t('colBp'), t('colWarnings'), t('colUpload')], rows);
    setEmpty('phr-mothers-empty', state.mothers !== null && list.length === 0);
    $('phr-mothers').hidden = list.length === 0;
    $('phr').dataset.mothers = String(list.length);
  }

  async function refreshLists() {
    if (!state.signedIn) return;
    const msg = $('phr-lists-msg');
    try {
      await Promise.all([loadWarnings(), loadMothers()]);
      msg.textContent = '';
    } catch (e) {
      if (e.status === 401) return;
      msg.textContent = errorText(e);
    }
    renderWarnings();
    renderMothers();
    $('phr').dataset.loaded = 'true';
  }

  // ---- one mother ---------------------------------------------------------------------------

  async function openMother(id) {
    if (!state.active) showView('phr');
    if (state.selected !== id) resetCompose();
    state.selected = id;
    for (const r of document.querySelectorAll('#phr-mothers tr.mother-row')) r.setAttribute('aria-selected', String(r.dataset.motherId === id));
    try {
      await loadMother(id);
    } catch (e) {
      if (e.status === 401) return;
      state.record = null;
      $('phr-record').hidden = true;
      setEmpty('phr-detail-empty', true, errorText(e));
    }
  }

  async function loadMother(id) {
    const rec = await api('GET', `/phr/mothers/${encodeURIComponent(id)}`);
    if (state.selected !== id) return;
    state.record = rec;
    renderMother();
  }

  function renderMother() {
    const rec = state.record;
    if (!rec) {
      $('phr-record').hidden = true;
      setEmpty('phr-detail-empty', true, t('pickMother'));
      return;
    }
    $('phr-detail-empty').hidden = true;
    $('phr-record').hidden = false;
    const d = $('phr-detail');
    d.dataset.motherId = rec.mother_id;
    d.dataset.readings = String(rec.readings.length);
    d.dataset.checkups = String(rec.checkups.length);
    d.dataset.epds = String(rec.epds.length);
    d.dataset.notes = String(rec.notes.length);
    d.dataset.clinicalNotes = String(rec.clinical_notes.length);
    $('phr-name').textContent = rec.display_name;
    $('phr-scope').replaceChildren(scopeChips(rec.scope));
    const open = rec.warnings.filter((w) => !w.acknowledged_at);
    const badges = $('phr-record-warnings');
    badges.replaceChildren(...sortWarnings(open).map((w) => {
      const b = el('span', `w-chip ${URGENT.has(w.kind) ? 'urgent' : 'today'}`, `${tr('kinds', w.kind)} ${fmtWhen(w.occurred_at)}`);
      b.dataset.kind = w.kind;
      return b;
    }));
    const shared = (s) => rec.scope.includes(s);
    renderChart(rec.readings, shared('blood_pressure'));
    renderCheckups(rec.checkups, shared('checkups'));
    renderEpds(rec.epds, shared('epds'));
    renderNotes(rec.notes, shared('notes'));
    renderClinical(rec.clinical_notes);
  }

  function renderCheckups(list, shared) {
    const rows = list.slice().sort((a, b) => (a.date < b.date ? 1 : -1)).map((c) => {
      const dip = (v) => tr('dipstick', v);
      const r = row([
        fmtDay(c.date + 'T00:00:00'), c.facility, c.weight_kg === null || c.weight_kg === undefined ? '—' : `${num(c.weight_kg, 1)} kg`,
        c.systolic === null || c.systolic === undefined ? '—' : bpText(c.systolic, c.diastolic), dip(c.urine_protein), dip(c.urine_glucose),
        c.fundal_height_cm === null || c.fundal_height_cm === undefined ? '—' : `${num(c.fundal_height_cm, 1)} cm`,
        c.abdominal_circumference_cm === null || c.abdominal_circumference_cm === undefined ? '—' : `${num(c.abdominal_circumference_cm, 1)} cm`,
        tr('oedema', c.oedema), c.notes,
      ]);
      if (['1+', '2+', '3+'].includes(c.urine_protein)) r.children[4].className = 'flag';
      r.dataset.checkupId = c.id;
      return r;
    });
    fillTable($('phr-checkups'), t('ckCols'), rows);
    $('phr-checkups').hidden = rows.length === 0;
    setEmpty('phr-checkups-empty', rows.length === 0, shared ? t('checkupsEmpty') : t('notShared'));
  }

  function renderEpds(list, shared) {
    const rows = list.slice().sort((a, b) => ms(b.taken_at) - ms(a.taken_at)).map((e) => {
      const result = el('span', e.positive ? 'tier tier-same_day' : 'tier tier-normal', e.positive ? t('positive') : t('negative'));
      const item10 = el('span', e.self_harm ? 'tier tier-emergency' : '', String(e.item10));
      const r = row([fmtWhen(e.taken_at), `${e.total} / 30`, result, item10]);
      r.dataset.epdsId = e.id;
      r.dataset.positive = String(e.positive);
      r.dataset.selfHarm = String(e.self_harm);
      return r;
    });
    fillTable($('phr-epds'), t('epdsCols'), rows);
    $('phr-epds').hidden = rows.length === 0;
    setEmpty('phr-epds-empty', rows.length === 0, shared ? t('epdsEmpty') : t('notShared'));
  }

  function soapBlock(soap) {
    const dl = el('dl', 'soap');
    for (const k of ['subjective', 'objective', 'assessment', 'plan']) {
      if (!soap[k]) continue;
      dl.append(el('dt', null, tr('soap', k)), el('dd', null, soap[k]));
    }
    return dl;
  }

  function renderNotes(list, shared) {
    const items = list.slice().sort((a, b) => ms(b.written_at) - ms(a.written_at)).map((n) => {
      const li = el('li', 'note');
      li.dataset.noteId = n.id;
      const meta = el('div', 'note-meta');
      meta.append(el('time', null, fmtWhen(n.written_at)), el('span', null, tr('origins', n.origin)));
      if (n.soap) meta.appendChild(el('span', n.checked_by_her ? 'ok' : 'muted', n.checked_by_her ? t('checkedByHer') : t('notCheckedByHer')));
      li.append(meta, el('p', 'note-text', n.text));
      if (n.soap) li.appendChild(soapBlock(n.soap));
      return li;
    });
    $('phr-notes').replaceChildren(...items);
    setEmpty('phr-notes-empty', items.length === 0, shared ? t('notesEmpty') : t('notShared'));
  }

  function renderClinical(list) {
    const items = list.slice().sort((a, b) => ms(b.attested_at) - ms(a.attested_at)).map((n) => {
      const li = el('li', 'note clinical');
      li.dataset.clinicalNoteId = n.id;
      li.dataset.author = n.author;
      const meta = el('div', 'note-meta');
      meta.append(el('time', null, fmtWhen(n.attested_at)), el('strong', null, n.author), el('span', 'final', t('final')),
        el('span', n.signed ? 'ok' : 'muted', n.signed ? t('signed') : t('unsigned')));
      li.append(meta, soapBlock(n.soap));
      return li;
    });
    $('phr-clinical').replaceChildren(...items);
    setEmpty('phr-clinical-empty', items.length === 0, t('clinicalEmpty'));
  }

  // ---- the home BP chart (SVG) ----------------------------------------------------------------

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderChart(readings, shared) {
    const box = $('phr-chart');
    const pts = readings.slice().sort((a, b) => ms(a.measured_at) - ms(b.measured_at));
    $('phr-bp-count').textContent = pts.length ? t('readings', pts.length) : '';
    setEmpty('phr-bp-empty', pts.length === 0, shared ? t('bpEmpty') : t('notShared'));
    renderLegend();
    if (pts.length === 0) {
      box.replaceChildren();
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const W = Math.max(480, box.clientWidth || 900), H = 300;
    const pad = { l: 44, r: 58, t: 18, b: 28 };
    const pw = W - pad.l - pad.r, ph = H - pad.t - pad.b;
    // At least the last two weeks, so a short series is not stretched into a false trend.
    const last = ms(pts[pts.length - 1].measured_at);
    const end = Math.max(last, Date.now()) + DAY_MS / 4;
    const start = Math.min(ms(pts[0].measured_at), end - 14 * DAY_MS) - DAY_MS / 4;
    const lo = Math.min(50, Math.floor((Math.min(...pts.map((p) => p.diastolic)) - 10) / 10) * 10);
    const hi = Math.max(180, Math.ceil((Math.max(...pts.map((p) => p.systolic)) + 10) / 10) * 10);
    const x = (tms) => pad.l + ((tms - start) / (end - start)) * pw;
    const y = (v) => pad.t + ((hi - v) / (hi - lo)) * ph;
    const s = svg('svg', { id: 'phr-bp-chart', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'bp-chart' });
    s.appendChild(svg('title', {}, `${t('bpTrend')}: ${pts.map((p) => `${fmtWhen(p.measured_at)} ${bpText(p.systolic, p.diastolic)}`).join(', ')}`));
    s.appendChild(svg('rect', { x: pad.l, y: pad.t, width: pw, height: ph, class: 'plot-bg' }));
    // Systolic tier bands (shaded) and both thresholds of each tier as lines in the tier colour.
    const tops = [BANDS[1].s, BANDS[2].s, hi];
    BANDS.forEach((b, i) => {
      s.appendChild(svg('rect', { x: pad.l, y: y(tops[i]), width: pw, height: Math.max(0, y(b.s) - y(tops[i])), class: `band band-${b.tier}` }));
    });
    for (let v = Math.ceil(lo / 20) * 20; v <= hi; v += 20) {
      s.appendChild(svg('line', { x1: pad.l, x2: pad.l + pw, y1: y(v), y2: y(v), class: 'grid' }));
      s.appendChild(svg('text', { x: pad.l - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
    }
    const labels = [];
    for (const b of BANDS) {
      for (const [v, kind] of [[b.s, 'S'], [b.d, 'D']]) {
        s.appendChild(svg('line', { x1: pad.l, x2: pad.l + pw, y1: y(v), y2: y(v), class: `threshold th-${b.tier} th-${kind}`, stroke: TIER_COLOUR[b.tier] }));
        labels.push({ at: y(v) + 4, text: `${kind} ${v}`, tier: b.tier });
      }
    }
    // Close thresholds (135 and 140) would print over each other: push their labels apart.
    labels.sort((a, b) => a.at - b.at);
    for (let i = 1; i < labels.length; i++) labels[i].at = Math.max(labels[i].at, labels[i - 1].at + 11);
    for (const l of labels) s.appendChild(svg('text', { x: pad.l + pw + 6, y: l.at, class: 'th-label', fill: TIER_COLOUR[l.tier] }, l.text));
    // Day ticks at local midnights; labels thinned to fit.
    const first = new Date(start);
    first.setHours(24, 0, 0, 0);
    const perDay = pw / ((end - start) / DAY_MS);
    const every = perDay >= 44 ? 1 : perDay >= 22 ? 2 : 7;
    let k = 0;
    for (let d = new Date(first); d.getTime() < end; d.setDate(d.getDate() + 1), k++) {
      const xx = x(d.getTime());
      s.appendChild(svg('line', { x1: xx, x2: xx, y1: pad.t, y2: pad.t + ph, class: 'grid day' }));
      if (k % every === 0) {
        s.appendChild(svg('text', { x: xx, y: H - 8, class: 'axis', 'text-anchor': 'middle' }, d.toLocaleDateString(locale(), { month: 'numeric', day: 'numeric' })));
      }
    }
    s.appendChild(svg('text', { x: pad.l - 6, y: 11, class: 'axis unit', 'text-anchor': 'end' }, 'mmHg'));
    // A gap of more than two days breaks the line: no trend is drawn across missing days.
    const path = (key) => {
      let dstr = '', prev = null;
      for (const p of pts) {
        const tm = ms(p.measured_at);
        dstr += `${prev === null || tm - prev > 2 * DAY_MS ? 'M' : 'L'}${x(tm).toFixed(1)},${y(p[key]).toFixed(1)} `;
        prev = tm;
      }
      return dstr.trim();
    };
    s.appendChild(svg('path', { d: path('systolic'), class: 'bp-line sys' }));
    s.appendChild(svg('path', { d: path('diastolic'), class: 'bp-line dia' }));
    for (const p of pts) {
      const tip = `${fmtWhen(p.measured_at)} ${tr('sessions', p.session)} ${bpText(p.systolic, p.diastolic)} mmHg` +
        `${p.pulse ? ` ${num(p.pulse)}${t('bpm')}` : ''} ${tr('tiers', p.tier)}` +
        `${p.symptoms.length ? ' — ' + p.symptoms.map((x2) => tr('symptoms', x2)).join(', ') : ''}${p.note ? ' — ' + p.note : ''}`;
      for (const [key, r, cls] of [['systolic', 4.5, 'sys'], ['diastolic', 3.5, 'dia']]) {
        const c = svg('circle', { cx: x(ms(p.measured_at)).toFixed(1), cy: y(p[key]).toFixed(1), r, fill: TIER_COLOUR[p.tier] || '#fff', class: `bp-point ${cls}` });
        c.dataset.tier = p.tier;
        c.dataset.readingId = p.id;
        c.appendChild(svg('title', {}, tip));
        s.appendChild(c);
      }
      if (p.symptoms.length) {
        // A warning symptom makes a reading an emergency whatever its values: mark it.
        s.appendChild(svg('text', { x: x(ms(p.measured_at)), y: y(p.systolic) - 9, class: 'symptom-mark', 'text-anchor': 'middle' }, '!'));
      }
    }
    box.replaceChildren(s);
  }

  function renderLegend() {
    const lg = $('phr-legend');
    const item = (cls, label, colour) => {
      const s = el('span', 'lg');
      const sw = el('span', `sw ${cls}`);
      if (colour) sw.dataset.tier = colour;
      s.append(sw, el('span', null, label));
      return s;
    };
    lg.replaceChildren(
      item('sys', t('systolic')), item('dia', t('diastolic')),
      ...BANDS.map((b) => item(`tier-sw tier-${b.tier}`, t('band', tr('tiers', b.tier), b.s, b.d), b.tier)),
    );
  }

  // ---- dictate / write a note -----------------------------------------------------------------

  const SOAP_KEYS = ['subjective', 'objective', 'assessment', 'plan'];

  // The dictation being recorded, if any (see startRecording).
  let recorder = null;

  function resetCompose() {
    if (recorder) {
      // Another mother was opened mid-dictation: the recording is dropped, never sent.
      recorder.stop();
      recorder = null;
      $('phr-dictate').dataset.recording = 'false';
      $('phr-dictate').textContent = t('record');
    }
    $('phr-transcript').value = '';
    for (const k of SOAP_KEYS) $(`phr-soap-${k}`).value = '';
    $('phr-note-msg').textContent = '';
    $('phr-compose').dataset.state = 'empty';
    state.aiDrafted = false;
  }

  async function draft() {
    const transcript = $('phr-transcript').value.trim();
    const msg = $('phr-note-msg');
    if (!transcript) { msg.textContent = t('transcriptEmpty'); return; }
    if (!state.selected) return;
    msg.textContent = t('drafting');
    $('phr-draft').disabled = true;
    try {
      const r = await api('POST', `/phr/mothers/${encodeURIComponent(state.selected)}/notes/draft`, { transcript, lang: $('phr-note-lang').value });
      for (const k of SOAP_KEYS) $(`phr-soap-${k}`).value = (r.soap && r.soap[k]) || '';
      state.aiDrafted = true;
      $('phr-compose').dataset.state = 'drafted';
      msg.textContent = t('drafted');
    } catch (e) {
      if (e.status !== 401) msg.textContent = `${t('failed')}: ${e.message}`;
    } finally {
      $('phr-draft').disabled = false;
    }
  }

  // Dictation: the microphone is recorded as 16-bit PCM and sent as WAV to the server, which
  // transcribes it (when it has a speech model) and drafts the note. Nothing is kept in the page.

  async function startRecording() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const ctx = new AudioContext();
    const source = ctx.createMediaStreamSource(stream);
    // ScriptProcessor needs no separate worklet module (the page's CSP allows only its own files).
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    let samples = 0;
    proc.onaudioprocess = (e) => {
      const c = new Float32Array(e.inputBuffer.getChannelData(0));
      chunks.push(c);
      samples += c.length;
      $('phr-dictate').dataset.samples = String(samples);
    };
    source.connect(proc);
    proc.connect(ctx.destination);
    return {
      async stop() {
        proc.disconnect();
        source.disconnect();
        for (const tr of stream.getTracks()) tr.stop();
        const rate = ctx.sampleRate;
        await ctx.close();
        return encodeWav(chunks, samples, rate);
      },
    };
  }

  function encodeWav(chunks, n, rate) {
    const buf = new ArrayBuffer(44 + 2 * n);
    const v = new DataView(buf);
    const ascii = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
    ascii(0, 'RIFF'); v.setUint32(4, 36 + 2 * n, true); ascii(8, 'WAVEfmt ');
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
    ascii(36, 'data'); v.setUint32(40, 2 * n, true);
    let o = 44;
    for (const c of chunks) {
      for (const x of c) { v.setInt16(o, Math.max(-1, Math.min(1, x)) * 0x7fff, true); o += 2; }
    }
    return new Blob([buf], { type: 'audio/wav' });
  }

  async function toggleRecording() {
    const msg = $('phr-note-msg');
    const btn = $('phr-dictate');
    if (recorder) {
      const r = recorder;
      recorder = null;
      btn.dataset.recording = 'false';
      btn.textContent = t('record');
      const wav = await r.stop();
      await transcribe(wav);
      return;
    }
    if (!state.selected) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { msg.textContent = t('noMic'); return; }
    try {
      btn.dataset.samples = '0';
      recorder = await startRecording();
      btn.dataset.recording = 'true';
      btn.textContent = t('stop');
      msg.textContent = t('recording');
    } catch (e) {
      recorder = null;
      msg.textContent = `${t('noMic')}: ${e.message}`;
    }
  }

  async function transcribe(wav) {
    const msg = $('phr-note-msg');
    const lang = $('phr-note-lang').value;
    msg.textContent = t('transcribing');
    $('phr-dictate').disabled = true;
    try {
      const r = await fetch(`/api/v1/phr/mothers/${encodeURIComponent(state.selected)}/notes/transcribe?lang=${lang}`, {
        method: 'POST', body: wav, credentials: 'same-origin',
        headers: { Accept: 'application/json', 'Content-Type': 'audio/wav', 'X-CSRF-Token': state.csrf },
      });
      if (r.status === 401) { document.dispatchEvent(new CustomEvent('ctg:unauthorized')); return; }
      const data = await r.json().catch(() => null);
      if (r.status === 503) { msg.textContent = t('noSpeechModel'); return; }
      if (!r.ok) { msg.textContent = `${t('failed')}: ${(data && data.message) || r.statusText}`; return; }
      $('phr-transcript').value = data.transcript || '';
      for (const k of SOAP_KEYS) $(`phr-soap-${k}`).value = (data.soap && data.soap[k]) || '';
      state.aiDrafted = true;
      $('phr-compose').dataset.state = 'drafted';
      msg.textContent = t('drafted');
    } finally {
      $('phr-dictate').disabled = false;
    }
  }

  async function attest() {
    const msg = $('phr-note-msg');
    const soap = {};
    for (const k of SOAP_KEYS) soap[k] = $(`phr-soap-${k}`).value.trim();
    if (!SOAP_KEYS.some((k) => soap[k])) { msg.textContent = t('attestEmpty'); return; }
    if (!state.selected) return;
    const id = state.selected;
    $('phr-attest').disabled = true;
    try {
      await api('POST', `/phr/mothers/${encodeURIComponent(id)}/notes`, {
        lang: $('phr-note-lang').value, transcript: $('phr-transcript').value.trim(), soap, ai_drafted: state.aiDrafted,
      });
      resetCompose();
      $('phr-compose').dataset.state = 'attested';
      msg.textContent = t('attested');
      await loadMother(id);
    } catch (e) {
      if (e.status !== 401) msg.textContent = `${t('failed')}: ${e.message}`;
    } finally {
      $('phr-attest').disabled = false;
    }
  }

  // ---- language and session -------------------------------------------------------------------

  function applyLang() {
    for (const e of document.querySelectorAll('[data-phr-i18n]')) {
      const [group, key] = e.dataset.phrI18n.split('.');
      e.textContent = key ? tr(group, key) : t(group);
    }
    if (state.signedIn) {
      renderWarnings();
      renderMothers();
      renderMother();
    }
  }

  document.addEventListener('ctg:session', (ev) => {
    const me = ev.detail;
    state.csrf = me.csrf_token;
    // Clinicians only: administrators manage clinics but do not read mothers' records.
    const clinician = me.role === 'midwife' || me.role === 'obstetrician';
    state.signedIn = clinician;
    $('views').hidden = !clinician;
    state.selected = null;
    state.record = null;
    resetCompose();
    renderMother();
    if (!clinician) return;
    showView('monitor');
    refreshLists();
    clearInterval(state.timer);
    // Polled while signed in, so the tab's count shows new warnings during CTG monitoring too.
    state.timer = setInterval(refreshLists, REFRESH_MS);
  });

  document.addEventListener('ctg:logout', () => {
    state.signedIn = false;
    state.active = false;
    state.csrf = '';
    state.warnings = [];
    state.mothers = null;
    state.record = null;
    state.selected = null;
    clearInterval(state.timer);
    $('views').hidden = true;
    $('phr').hidden = true;
    $('phr-warnings').replaceChildren();
    $('phr-acked').replaceChildren();
    $('phr-mothers').querySelector('tbody').replaceChildren();
    resetCompose();
    renderMother();
    delete document.body.dataset.view;
  });

  document.addEventListener('ctg:lang', applyLang);

  $('tab-monitor').addEventListener('click', () => showView('monitor'));
  $('tab-phr').addEventListener('click', () => showView('phr'));
  $('phr-refresh').addEventListener('click', () => {
    refreshLists();
    if (state.selected) loadMother(state.selected).catch(() => {});
  });
  $('phr-draft').addEventListener('click', draft);
  $('phr-dictate').addEventListener('click', toggleRecording);
  $('phr-attest').addEventListener('click', attest);
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    if (!state.active || !state.record) return;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => renderChart(state.record.readings, state.record.scope.includes('blood_pressure')), 150);
  });
  applyLang();
})();
