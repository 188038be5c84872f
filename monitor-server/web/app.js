// CTG central monitor page. Plain JavaScript, no build step, no external resources.
//
// Safety rules this page follows:
// * The patient shown with a trace is the one the server stamps on the data (bed message,
//   history, samples); the page never infers it. A new binding id clears the trace.
// * Staleness is computed from the server's receive time of the newest sample (heartbeat
//   age + time since that heartbeat), and the whole page shows "connection lost" when server
//   heartbeats stop. A stopped stream therefore turns stale and alarms; it never freezes quietly.
// * Samples are drawn against the wall clock, so a stopped trace visibly falls behind "now".
'use strict';

(() => {
  const I18N = {
    ja: {
      title: 'CTG セントラルモニタ', paperSpeed: '紙送り速度', soundOn: 'アラーム音 有効化', soundIsOn: 'アラーム音 有効',
      silence: '消音 2分', silenced: '消音中', logout: 'ログアウト', loginTitle: 'スタッフ ログイン', username: 'ユーザー名',
      password: 'パスワード', login: 'ログイン', loginFailed: 'ユーザー名またはパスワードが違います', locked: 'ログイン試行が多すぎます。しばらく待ってください',
      codeInvalid: 'ログインリンクが無効か、使用済みです。ログインしてください。',
      unassigned: '未割り当てストリーム', unassignedHint: '患者に割り当てられていない装置です。どの患者の下にも表示されません。',
      opsTitle: 'ストリーム状況', opsHint: '管理者は波形を閲覧できません。ストリームの記録状況のみ表示します。',
      back10: '◀◀ 10分', back1: '◀ 1分', fwd1: '1分 ▶', fwd10: '10分 ▶▶', toLive: '最新', close: '閉じる (Esc)',
      manage: '患者・装置', bind: '装置を割り当て', unbind: '割り当て解除', discharge: '退院', patientId: '患者ID', patientName: '氏名',
      gaWeeks: '妊娠週数', gaDays: '日', admit: '入院登録', cancel: 'キャンセル', admitTitle: (bed) => `ベッド ${bed} に入院登録`,
      connLive: 'ライブ', connLost: '接続断 — 表示は最新ではありません', connConnecting: '接続中…',
      bannerLost: '⚠ サーバーとの接続が切れました。表示中の波形は最新ではありません。再接続しています…',
      bannerHistory: '⚠ データベースに接続できません。ライブ波形は表示中ですが、過去の履歴は一時的に表示できません。データは保持され、復旧後に保存されます。',
      stale: 'データ停止', noData: 'データなし', offline: 'ゲートウェイ オフライン', empty: '空床', noDevice: '装置未割り当て',
      ga: (w, d) => `${w}週${d}日`, age: (s) => `${s}秒前`, sig: ['信号 —', '信号なし', '信号 不良', '信号 良'],
      notAnalysed: '解析: 未実施', history: (t) => `履歴表示中 ${t} まで`, liveMode: 'ライブ表示', beds: 'ベッド',
      noStream: '(割り当て可能な装置なし)', confirmDischarge: (n) => `${n} さんを退院にしますか?`, confirmUnbind: '装置の割り当てを解除しますか?',
      done: '完了', failed: '失敗', stream: 'ストリーム', patient: '患者', stored: '保存', missing: '欠損', dup: '重複拒否', rejected: '不正',
      gateway: 'GW', online: 'オンライン', unit: 'bpm', toco: 'TOCO', mhr: 'MHR', openDetail: '詳細を開く', events: {
        signal_loss: '信号消失', cable_silence: '通信途絶', paper_out: '用紙切れ', link: 'リンク', annotation: '注記', samples_dropped: 'データ破棄', mode_change: 'モード変更',
      },
      alarmKinds: {
        pathological: '異常波形', prolonged_deceleration: '遷延一過性徐脈', bradycardia: '徐脈', tachysystole: '過強陣痛（頻収縮）',
        maternal_heart_rate: '母体心拍の混入疑い', signal_loss: '信号消失', stale_stream: 'データ停止',
      },
      prio: { high: '高', medium: '中', low: '低' }, ack: '確認', acked: (who) => `確認済 (${who})`, alarmsLabel: 'アラーム',
      ackFailed: '確認できませんでした', noAlarms: 'アラームなし',
      jsog: (l) => `レベル${l} ${['', '正常波形', '亜正常波形', '異常波形(軽度)', '異常波形(中等度)', '異常波形(高度)'][l] || ''}`,
      provisional: '(暫定)', figo: { normal: '正常', suspicious: '疑い', pathological: '病的', cannot_assess: '判定不能' },
      pending: '解析中: 判定待ち', cannotAssess: '判定不能 (信号不足)', baseline: '基線', variability: '変動',
      varClass: { absent: '消失', minimal: '減少', moderate: '正常', marked: '増加' }, validShare: '有効',
    },
    en: {
      title: 'CTG Central Monitor', paperSpeed: 'Paper speed', soundOn: 'Enable alarm sound', soundIsOn: 'Alarm sound on',
      silence: 'Silence 2 min', silenced: 'Silenced', logout: 'Log out', loginTitle: 'Staff login', username: 'Username',
      password: 'Password', login: 'Log in', loginFailed: 'Wrong username or password', locked: 'Too many attempts; wait a minute',
      codeInvalid: 'That login link is invalid or used. Please log in.',
      unassigned: 'Unassigned streams', unassignedHint: 'Devices bound to no patient. They are never shown under anyone.',
      opsTitle: 'Stream accounting', opsHint: 'Administrators cannot view traces; stream accounting only.',
      back10: '◀◀ 10 min', back1: '◀ 1 min', fwd1: '1 min ▶', fwd10: '10 min ▶▶', toLive: 'Live', close: 'Close (Esc)',
      manage: 'Patient & device', bind: 'Bind device', unbind: 'Unbind', discharge: 'Discharge', patientId: 'Patient ID', patientName: 'Name',
      gaWeeks: 'Gestation weeks', gaDays: 'days', admit: 'Admit', cancel: 'Cancel', admitTitle: (bed) => `Admit to bed ${bed}`,
      connLive: 'Live', connLost: 'Connection lost — display is NOT current', connConnecting: 'Connecting…',
      bannerLost: '⚠ Connection to the server lost. Traces on screen are NOT current. Reconnecting…',
      bannerHistory: '⚠ Database unreachable: live traces continue, but stored history is temporarily unavailable. Data is held and saved when it returns.',
      stale: 'NO DATA', noData: 'No data yet', offline: 'GATEWAY OFFLINE', empty: 'Empty bed', noDevice: 'No device bound',
      ga: (w, d) => `${w}w${d}d`, age: (s) => `${s} s ago`, sig: ['Signal —', 'No signal', 'Signal poor', 'Signal good'],
      notAnalysed: 'Analysis: not run', history: (t) => `History up to ${t}`, liveMode: 'Live', beds: 'beds',
      noStream: '(no device available)', confirmDischarge: (n) => `Discharge ${n}?`, confirmUnbind: 'Unbind the device?',
      done: 'Done', failed: 'Failed', stream: 'Stream', patient: 'Patient', stored: 'Stored', missing: 'Missing', dup: 'Dup. rejected', rejected: 'Rejected',
      gateway: 'GW', online: 'online', unit: 'bpm', toco: 'TOCO', mhr: 'MHR', openDetail: 'Open detail', events: {
        signal_loss: 'Signal loss', cable_silence: 'Cable silence', paper_out: 'Paper out', link: 'Link', annotation: 'Note', samples_dropped: 'Samples dropped', mode_change: 'Mode change',
      },
      alarmKinds: {
        pathological: 'Pathological pattern', prolonged_deceleration: 'Prolonged deceleration', bradycardia: 'Bradycardia', tachysystole: 'Tachysystole',
        maternal_heart_rate: 'Maternal heart rate suspected', signal_loss: 'Signal loss', stale_stream: 'Stale stream',
      },
      prio: { high: 'HIGH', medium: 'MED', low: 'LOW' }, ack: 'Acknowledge', acked: (who) => `Acknowledged (${who})`, alarmsLabel: 'Alarms',
      ackFailed: 'Could not acknowledge', noAlarms: 'No alarms',
      jsog: (l) => `Level ${l} ${['', 'normal', 'benign variant', 'mild', 'moderate', 'severe'][l] || ''}`,
      provisional: '(provisional)', figo: { normal: 'normal', suspicious: 'suspicious', pathological: 'pathological', cannot_assess: 'cannot assess' },
      pending: 'Analysing: not yet judged', cannotAssess: 'Cannot assess (signal)', baseline: 'Baseline', variability: 'Var.',
      varClass: { absent: 'absent', minimal: 'minimal', moderate: 'moderate', marked: 'marked' }, validShare: 'valid',
    },
  };

  const PX_PER_CM = 96 / 2.54;
  const FHR_MIN = 50, FHR_MAX = 210;
  const KEEP_MS = 35 * 60 * 1000;
  const $ = (id) => document.getElementById(id);

  const state = {
    lang: localStorage.getItem('ctg.lang') === 'en' ? 'en' : 'ja',
    me: null,
    csrf: '',
    beds: new Map(),
    order: [],
    ws: null,
    wsDelay: 1000,
    hello: { heartbeat_ms: 1000, stale_after_ms: 3000, history_minutes: 30 },
    lastBeat: 0,
    historyDown: false,
    clockOffset: 0,
    haveOffset: false,
    speed: Number(localStorage.getItem('ctg.speed')) || 3,
    audio: null,
    silencedUntil: 0,
    detail: null,
    alarmsDirty: true,
    unassigned: [],
    connection: 'connecting',
  };

  const t = (key, ...args) => {
    const v = I18N[state.lang][key];
    return typeof v === 'function' ? v(...args) : v;
  };
  const serverNow = () => Date.now() + state.clockOffset;

  // ---- API ----------------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET') headers['X-CSRF-Token'] = state.csrf;
    const r = await fetch('/api/v1' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
    if (r.status === 401 && path !== '/login') {
      showLogin();
      throw new Error('unauthorized');
    }
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) {
      const e = new Error((data && data.message) || r.statusText);
      e.status = r.status;
      throw e;
    }
    return data;
  }

  // ---- beds ---------------------------------------------------------------------------------

  class Bed {
    constructor(label) {
      this.label = label;
      this.view = null;
      this.bindingId = null;
      this.patient = null;
      this.stream = null;
      this.pulse = null; // { age_ms, online, at }
      this.lastEvent = null;
      this.analysis = null; // the newest `analysis` message of the current binding
      this.alarms = new Map(); // open alarms of the current binding, by id
      this.clear();
      this.el = this.build();
    }

    clear() {
      this.buf = { seq: [], t: [], fhr1: [], fhr2: [], mhr: [], toco: [], mark: [], q: [] };
      this.received = 0;
    }

    build() {
      const el = document.createElement('div');
      el.className = 'tile';
      el.tabIndex = 0;
      el.setAttribute('role', 'button');
      el.dataset.bed = this.label;
      el.innerHTML = `
        <div class="tile-head"><span class="bed"></span><span class="name"></span><span class="ga"></span>
          <span class="badges"><span class="badge sig"></span><span class="badge age"></span></span></div>
        <div class="tile-body">
          <div class="values"><div class="fhr">---</div><div class="unit">FHR bpm</div>
            <div class="toco"></div><div class="mhr"></div><div class="analysis"></div></div>
          <div class="chart"><canvas></canvas><div class="overlay"><span class="ov-title"></span><small class="ov-sub"></small></div></div>
        </div>`;
      el.querySelector('.bed').textContent = this.label;
      el.addEventListener('click', () => openBed(this));
      el.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          openBed(this);
        }
      });
      this.canvas = el.querySelector('canvas');
      return el;
    }

    // A bed message: the server's binding. A different binding id breaks the trace.
    setView(v) {
      if (v.binding_id !== this.bindingId || !samePatient(v.patient, this.patient)) {
        this.clear();
        this.lastEvent = null;
        this.analysis = null;
        if (this.alarms.size) state.alarmsDirty = true;
        this.alarms.clear();
      }
      this.view = v;
      this.bindingId = v.binding_id;
      this.patient = v.patient;
      this.stream = v.stream;
      this.pulse = { age_ms: v.age_ms, online: v.gateway_online, at: performance.now() };
    }

    // Merges columns in sequence order; repeated sequence numbers are ignored.
    add(cols) {
      const b = this.buf;
      for (let i = 0; i < cols.seq.length; i++) {
        const seq = cols.seq[i];
        let at = b.seq.length;
        if (at > 0 && b.seq[at - 1] >= seq) {
          at = lowerBound(b.seq, seq);
          if (b.seq[at] === seq) continue;
        }
        const vals = [seq, cols.rx[i], cols.fhr1[i], cols.fhr2[i], cols.mhr[i], cols.toco[i], cols.mark[i], cols.q[i]];
        const keys = ['seq', 't', 'fhr1', 'fhr2', 'mhr', 'toco', 'mark', 'q'];
        if (at === b.seq.length) keys.forEach((k, j) => b[k].push(vals[j]));
        else keys.forEach((k, j) => b[k].splice(at, 0, vals[j]));
        this.received++;
      }
      const cutoff = serverNow() - KEEP_MS;
      let drop = 0;
      while (drop < b.t.length && b.t[drop] < cutoff) drop++;
      if (drop > 0) for (const k of Object.keys(b)) b[k].splice(0, drop);
    }

    ageMs() {
      if (!this.pulse || this.pulse.age_ms === null || this.pulse.age_ms === undefined) return null;
      return this.pulse.age_ms + (performance.now() - this.pulse.at);
    }

    status() {
      if (!this.patient) return 'empty';
      if (this.bindingId === null || this.bindingId === undefined) return 'nodevice';
      if (state.connection !== 'live') return 'stale';
      if (this.pulse && !this.pulse.online) return 'offline';
      const age = this.ageMs();
      if (age === null || age > state.hello.stale_after_ms) return 'stale';
      return 'live';
    }
  }

  function samePatient(a, b) {
    if (!a || !b) return a === b;
    return a.admission_id === b.admission_id && a.patient_id === b.patient_id && a.name === b.name;
  }

  function lowerBound(arr, x) {
    let lo = 0, hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (arr[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // ---- tiles --------------------------------------------------------------------------------

  function layoutGrid() {
    const grid = $('grid');
    const n = Math.max(1, state.order.length);
    const W = grid.clientWidth || window.innerWidth, H = grid.clientHeight || window.innerHeight - 60;
    let best = 1, bestScore = -1;
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = W / cols, h = H / rows;
      // CTG tiles want to be wide: about 2.2 : 1.
      const score = Math.min(w, h * 2.2);
      if (score > bestScore) { bestScore = score; best = cols; }
    }
    grid.style.gridTemplateColumns = `repeat(${best}, minmax(0, 1fr))`;
    grid.style.gridTemplateRows = `repeat(${Math.ceil(n / best)}, minmax(0, 1fr))`;
  }

  function updateTile(bed) {
    const el = bed.el;
    const st = bed.status();
    const p = bed.patient;
    el.dataset.state = st;
    el.dataset.stale = String(st === 'stale' || st === 'offline');
    el.dataset.gatewayOnline = String(!!(bed.pulse && bed.pulse.online));
    el.dataset.patientId = p ? p.patient_id : '';
    el.dataset.patientName = p ? p.name : '';
    el.dataset.bindingId = bed.bindingId === null || bed.bindingId === undefined ? '' : String(bed.bindingId);
    el.dataset.samples = String(bed.received);
    el.dataset.lastSeq = bed.buf.seq.length ? String(bed.buf.seq[bed.buf.seq.length - 1]) : '';
    el.querySelector('.name').textContent = p ? p.name : '';
    el.querySelector('.ga').textContent = p ? t('ga', p.ga_weeks, p.ga_days) : '';
    const n = bed.buf.seq.length;
    const last = n ? n - 1 : -1;
    const fhr = last >= 0 && st === 'live' ? bed.buf.fhr1[last] : null;
    el.querySelector('.fhr').textContent = fhr === null || fhr === undefined ? '---' : String(Math.round(fhr));
    const toco = last >= 0 && st === 'live' ? bed.buf.toco[last] : null;
    setValue(el.querySelector('.toco'), t('toco'), toco === null || toco === undefined ? '--' : String(toco));
    const mhr = last >= 0 && st === 'live' ? bed.buf.mhr[last] : null;
    setValue(el.querySelector('.mhr'), t('mhr'), mhr === null || mhr === undefined ? '' : String(Math.round(mhr)));
    const an = el.querySelector('.analysis');
    const c = bed.analysis && bed.analysis.classification;
    an.textContent = p && bed.bindingId ? (c ? classificationText(c, false) : t('notAnalysed')) : '';
    an.title = c ? classificationText(c, true) : '';
    an.className = `analysis${c && c.status === 'assessed' && c.jsog_level ? ' jsog' + c.jsog_level : ''}`;
    el.dataset.classification = c ? c.status : '';
    el.dataset.jsogLevel = c && c.jsog_level ? String(c.jsog_level) : '';
    el.dataset.figo = c && c.figo ? c.figo : '';
    el.dataset.baselinePoints = bed.analysis ? String(bed.analysis.baseline.bpm.filter((v) => v !== null).length) : '0';
    el.dataset.decelerations = bed.analysis
      ? bed.analysis.events.filter((e) => e.kind === 'deceleration').map((e) => e.class).join(' ') : '';
    const sounding = [...bed.alarms.values()].filter((a) => !a.acknowledged_ms);
    const top = sounding.reduce((best, a) => (PRIO[a.priority] > PRIO[best] ? a.priority : best), '');
    el.dataset.alarm = top;
    el.dataset.alarmKinds = [...bed.alarms.values()].map((a) => a.kind).sort().join(' ');
    const q = last >= 0 ? bed.buf.q[last] : 0;
    const sig = el.querySelector('.sig');
    // Devices that report no quality (the Corometrics wire) get no badge rather than a guess.
    sig.hidden = !q;
    sig.textContent = t('sig')[q] || '';
    sig.className = `badge sig q${q}`;
    const age = bed.ageMs();
    el.dataset.ageMs = age === null ? '' : String(Math.round(age));
    el.querySelector('.age').textContent = age === null ? '--' : t('age', (age / 1000).toFixed(age < 10000 ? 1 : 0));
    const ovT = el.querySelector('.ov-title'), ovS = el.querySelector('.ov-sub');
    if (st === 'stale') {
      ovT.textContent = age === null ? t('noData') : t('stale');
      ovS.textContent = age === null ? '' : t('age', Math.round(age / 1000));
    } else if (st === 'offline') {
      ovT.textContent = t('offline');
      ovS.textContent = age === null ? '' : t('age', Math.round(age / 1000));
    } else if (st === 'empty') {
      ovT.textContent = t('empty');
      ovS.textContent = '';
    } else if (st === 'nodevice') {
      ovT.textContent = t('noDevice');
      ovS.textContent = '';
    } else {
      ovT.textContent = '';
      ovS.textContent = '';
    }
    el.setAttribute('aria-label', `${t('beds')} ${bed.label} ${p ? p.name : t('empty')} ${ovT.textContent}`);
    if (bed.lastEvent) an.textContent = bed.lastEvent;
  }

  const PRIO = { '': 0, low: 1, medium: 2, high: 3 };

  // "Level 3 mild (provisional) · FIGO suspicious"; "cannot assess" when the window is mostly
  // missing, never a reassuring word.
  function classificationText(c, long) {
    if (c.status === 'pending') return t('pending');
    if (c.status === 'cannot_assess') return t('cannotAssess');
    const figo = `FIGO ${t('figo')[c.figo] || c.figo}`;
    // The tile's slot is narrow: level number and FIGO only; the detail view says it in full.
    if (!long) return `JSOG ${c.jsog_level}${c.jsog_provisional ? ' ' + t('provisional') : ''} · ${figo}`;
    let s = `JSOG ${t('jsog', c.jsog_level)}${c.jsog_provisional ? ' ' + t('provisional') : ''} · ${figo}`;
    {
      if (c.baseline_bpm !== null) s += ` · ${t('baseline')} ${Math.round(c.baseline_bpm)} bpm`;
      if (c.variability) s += ` · ${t('variability')} ${t('varClass')[c.variability] || c.variability}`;
      if (c.valid_fraction !== null) s += ` · ${t('validShare')} ${Math.round(c.valid_fraction * 100)}%`;
      s += ` · NICHD ${String(c.nichd).replace('category_', '').toUpperCase()}`;
    }
    return s;
  }

  function setValue(el, label, value) {
    if (!value) {
      el.textContent = '';
      return;
    }
    el.innerHTML = '<span class="lbl"></span> <span class="v"></span>';
    el.querySelector('.lbl').textContent = label;
    el.querySelector('.v').textContent = value;
  }

  function sizeCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.floor(canvas.clientWidth * dpr)), h = Math.max(1, Math.floor(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    return dpr;
  }

  // Draws FHR (50–210 bpm, 30 bpm major lines, minute lines) above TOCO (0–100). Each buffer
  // in `bufs` is its own trace (one per binding): traces are never joined across buffers.
  function drawCtg(canvas, bufs, endT, opts) {
    const dpr = sizeCanvas(canvas);
    const ctx = canvas.getContext('2d');
    const W = canvas.width, H = canvas.height;
    const left = (opts.labels ? 30 : 18) * dpr;
    const plotW = W - left - 4 * dpr;
    const fhrTop = 4 * dpr, fhrH = Math.round(H * 0.63) - fhrTop;
    const tocoTop = fhrTop + fhrH + 6 * dpr, tocoH = H - tocoTop - 3 * dpr;
    const pxPerMs = (state.speed * PX_PER_CM * dpr) / 60000;
    const spanMs = plotW / pxPerMs;
    const startT = endT - spanMs;
    const x = (tt) => left + (tt - startT) * pxPerMs;
    const yF = (v) => fhrTop + ((FHR_MAX - v) / (FHR_MAX - FHR_MIN)) * fhrH;
    const yT = (v) => tocoTop + ((100 - v) / 100) * tocoH;

    ctx.fillStyle = '#0f1a24';
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = '#fbf7ef';
    ctx.fillRect(left, fhrTop, plotW, fhrH);
    ctx.fillRect(left, tocoTop, plotW, tocoH);
    // Normal baseline band 110–160 bpm.
    ctx.fillStyle = 'rgba(63, 182, 139, 0.13)';
    ctx.fillRect(left, yF(160), plotW, yF(110) - yF(160));

    ctx.lineWidth = 1;
    // Horizontal lines: 10 bpm minor, 30 bpm major.
    for (let v = FHR_MIN; v <= FHR_MAX; v += 10) {
      const major = v % 30 === 0;
      ctx.strokeStyle = major ? 'rgba(214, 92, 60, 0.75)' : 'rgba(214, 92, 60, 0.22)';
      ctx.beginPath();
      ctx.moveTo(left, Math.round(yF(v)) + 0.5);
      ctx.lineTo(left + plotW, Math.round(yF(v)) + 0.5);
      ctx.stroke();
      if (major) {
        ctx.fillStyle = '#9fb2c3';
        ctx.font = `${10 * dpr}px sans-serif`;
        ctx.textAlign = 'right';
        ctx.textBaseline = 'middle';
        ctx.fillText(String(v), left - 3 * dpr, yF(v));
      }
    }
    for (let v = 0; v <= 100; v += 20) {
      ctx.strokeStyle = v % 50 === 0 ? 'rgba(214, 92, 60, 0.7)' : 'rgba(214, 92, 60, 0.22)';
      ctx.beginPath();
      ctx.moveTo(left, Math.round(yT(v)) + 0.5);
      ctx.lineTo(left + plotW, Math.round(yT(v)) + 0.5);
      ctx.stroke();
      if (v % 50 === 0 && opts.labels) {
        ctx.fillStyle = '#9fb2c3';
        ctx.fillText(String(v), left - 3 * dpr, yT(v));
      }
    }
    // Vertical lines: every minute (major), every 10 s minor at 3 cm/min when space allows.
    const minorMs = pxPerMs * 10000 > 8 * dpr ? 10000 : (pxPerMs * 30000 > 8 * dpr ? 30000 : 60000);
    for (let tt = Math.ceil(startT / minorMs) * minorMs; tt <= endT; tt += minorMs) {
      const major = tt % 60000 === 0;
      ctx.strokeStyle = major ? 'rgba(214, 92, 60, 0.7)' : 'rgba(214, 92, 60, 0.18)';
      const xx = Math.round(x(tt)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(xx, fhrTop);
      ctx.lineTo(xx, fhrTop + fhrH);
      ctx.moveTo(xx, tocoTop);
      ctx.lineTo(xx, tocoTop + tocoH);
      ctx.stroke();
      if (major && opts.labels) {
        const d = new Date(tt);
        ctx.fillStyle = '#7a5a4a';
        ctx.textAlign = 'left';
        ctx.textBaseline = 'top';
        ctx.fillText(`${pad(d.getHours())}:${pad(d.getMinutes())}`, xx + 2 * dpr, fhrTop + 1 * dpr);
      }
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(left, 0, plotW, H);
    ctx.clip();
    for (const buf of bufs) {
      const i0 = Math.max(0, lowerBound(buf.t, startT - 1000));
      const series = (key, y, color, width, dash) => {
        ctx.strokeStyle = color;
        ctx.lineWidth = width * dpr;
        ctx.setLineDash(dash ? dash.map((d) => d * dpr) : []);
        ctx.beginPath();
        let pen = false;
        for (let i = i0; i < buf.t.length; i++) {
          const v = buf[key][i];
          if (v === null || v === undefined) { pen = false; continue; }
          // A missing sequence number is a gap on paper too.
          const joined = pen && buf.seq[i] === buf.seq[i - 1] + 1;
          const xx = x(buf.t[i]), yy = y(key === 'toco' ? v : Math.min(FHR_MAX, Math.max(FHR_MIN, v)));
          if (joined) ctx.lineTo(xx, yy); else ctx.moveTo(xx, yy);
          pen = true;
        }
        ctx.stroke();
      };
      series('mhr', yF, '#8e44ad', 1.2, [4, 3]);
      series('fhr2', yF, '#1e7a3c', 1.4);
      series('fhr1', yF, '#0a2a6b', 1.6);
      series('toco', yT, '#0a2a6b', 1.4);
      ctx.setLineDash([]);
      // Event marks as small triangles at the top of the TOCO strip.
      ctx.fillStyle = '#c0392b';
      for (let i = i0; i < buf.t.length; i++) {
        if (buf.mark[i]) {
          const xx = x(buf.t[i]);
          ctx.beginPath();
          ctx.moveTo(xx - 4 * dpr, tocoTop);
          ctx.lineTo(xx + 4 * dpr, tocoTop);
          ctx.lineTo(xx, tocoTop + 7 * dpr);
          ctx.fill();
        }
      }
    }
    (opts.analyses || []).forEach((a, i) => {
      if (a && bufs[i]) drawAnalysis(ctx, bufs[i], a, { x, yF, fhrTop, fhrH, tocoTop, dpr });
    });
    ctx.restore();
  }

  // Time of a sequence number on this trace: the sample's receive time, or 250 ms per sample
  // from the nearest sample when it is not in the buffer.
  function seqTime(buf, seq) {
    const n = buf.seq.length;
    if (!n) return null;
    let i = lowerBound(buf.seq, seq);
    if (i < n && buf.seq[i] === seq) return buf.t[i];
    if (i >= n) i = n - 1;
    return buf.t[i] + (seq - buf.seq[i]) * 250;
  }

  const DECEL_LABEL = { early: 'ED', late: 'LD', variable: 'VD', prolonged: 'PD', unclassified: 'D?' };

  // Baseline (dashed), decelerations (shaded, labelled by type at the nadir), accelerations
  // (labelled at the peak) and contractions (bracket on the TOCO strip) from the analysis.
  function drawAnalysis(ctx, buf, a, g) {
    const { x, yF, fhrTop, fhrH, tocoTop, dpr } = g;
    ctx.font = `bold ${10 * dpr}px sans-serif`;
    ctx.textAlign = 'center';
    for (const e of a.events) {
      const t0 = seqTime(buf, e.from_seq), t1 = seqTime(buf, e.to_seq), tp = seqTime(buf, e.peak_seq);
      if (t0 === null) continue;
      if (e.kind === 'deceleration') {
        ctx.fillStyle = e.class === 'late' || e.class === 'prolonged' ? 'rgba(192, 57, 43, 0.16)' : 'rgba(230, 126, 34, 0.14)';
        ctx.fillRect(x(t0), fhrTop, Math.max(1, x(t1) - x(t0)), fhrH);
        ctx.fillStyle = e.class === 'late' || e.class === 'prolonged' ? '#b03a2e' : '#a85a12';
        ctx.textBaseline = 'top';
        ctx.fillText(DECEL_LABEL[e.class] || 'D', x(tp), Math.min(fhrTop + fhrH - 12 * dpr, yF(e.bpm || FHR_MIN) + 4 * dpr));
      } else if (e.kind === 'acceleration') {
        ctx.fillStyle = '#1e7a3c';
        ctx.textBaseline = 'bottom';
        ctx.fillText('A', x(tp), Math.max(fhrTop + 12 * dpr, yF(e.bpm || FHR_MAX) - 3 * dpr));
      } else if (e.kind === 'contraction') {
        ctx.strokeStyle = 'rgba(10, 42, 107, 0.55)';
        ctx.lineWidth = 1.5 * dpr;
        ctx.beginPath();
        ctx.moveTo(x(t0), tocoTop + 10 * dpr);
        ctx.lineTo(x(t0), tocoTop + 6 * dpr);
        ctx.lineTo(x(t1), tocoTop + 6 * dpr);
        ctx.lineTo(x(t1), tocoTop + 10 * dpr);
        ctx.stroke();
      }
    }
    const b = a.baseline;
    ctx.strokeStyle = '#1f9d55';
    ctx.lineWidth = 2 * dpr;
    ctx.setLineDash([6 * dpr, 4 * dpr]);
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < b.bpm.length; i++) {
      const v = b.bpm[i];
      const tt = v === null ? null : seqTime(buf, b.from_seq + i * b.step);
      if (tt === null) { pen = false; continue; }
      const xx = x(tt), yy = yF(Math.min(FHR_MAX, Math.max(FHR_MIN, v)));
      if (pen) ctx.lineTo(xx, yy); else ctx.moveTo(xx, yy);
      pen = true;
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  // ---- rendering loop -----------------------------------------------------------------------

  function render() {
    const started = performance.now();
    // Connection state first: tiles drawn in this frame must already know it.
    checkConnection();
    const end = serverNow();
    for (const label of state.order) {
      const bed = state.beds.get(label);
      updateTile(bed);
      drawCtg(bed.canvas, [bed.buf], end, { labels: bed.canvas.clientWidth > 260, analyses: [bed.analysis] });
    }
    if (state.alarmsDirty) renderAlarms();
    if (state.detail) renderDetail();
    $('clock').textContent = new Date(end).toLocaleTimeString(state.lang === 'ja' ? 'ja-JP' : 'en-GB');
    alarmTick();
    // Exposed for tests and for anyone checking that 32 beds at 4 Hz stay smooth.
    document.body.dataset.renderMs = (performance.now() - started).toFixed(1);
  }

  function checkConnection() {
    const silent = performance.now() - state.lastBeat;
    const lost = !state.ws || state.ws.readyState !== WebSocket.OPEN || silent > 3 * state.hello.heartbeat_ms;
    const next = lost ? (state.lastBeat ? 'lost' : 'connecting') : 'live';
    if (next !== state.connection) {
      state.connection = next;
      document.body.dataset.connection = next;
    }
    $('conn').textContent = next === 'live' ? t('connLive') : next === 'lost' ? t('connLost') : t('connConnecting');
    const banner = $('banner');
    const historyDown = next === 'live' && state.historyDown;
    document.body.dataset.history = historyDown ? 'unavailable' : 'available';
    banner.hidden = next !== 'lost' && !historyDown;
    banner.textContent = next === 'lost' ? t('bannerLost') : t('bannerHistory');
  }

  // ---- alarm sound (WebAudio after a user gesture; the visual alarm is always on) -------------

  function enableSound() {
    if (!state.audio) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return;
      state.audio = new AC();
    }
    state.audio.resume();
    $('sound').setAttribute('aria-pressed', 'true');
    $('sound').textContent = t('soundIsOn');
  }

  let lastTone = 0;
  function alarmTick() {
    const alarming = state.order.some((l) => {
      const bed = state.beds.get(l);
      const s = bed.status();
      return s === 'stale' || s === 'offline' || [...bed.alarms.values()].some((a) => !a.acknowledged_ms);
    }) || state.connection === 'lost';
    document.body.dataset.alarm = String(alarming);
    const silenced = performance.now() < state.silencedUntil;
    $('silence').setAttribute('aria-pressed', String(silenced));
    if (!alarming || silenced || !state.audio || state.audio.state !== 'running') return;
    const now = performance.now();
    if (now - lastTone < 2000) return;
    lastTone = now;
    const ctx = state.audio;
    for (let k = 0; k < 3; k++) {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.type = 'square';
      o.frequency.value = 880;
      g.gain.value = 0.08;
      o.connect(g).connect(ctx.destination);
      const t0 = ctx.currentTime + k * 0.22;
      o.start(t0);
      o.stop(t0 + 0.14);
    }
  }

  // ---- live feed ----------------------------------------------------------------------------

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${location.host}/api/v1/live`);
    state.ws = ws;
    ws.onopen = () => {
      state.wsDelay = 1000;
      ws.send(JSON.stringify({ t: 'subscribe', beds: state.order }));
    };
    ws.onmessage = (ev) => {
      const data = JSON.parse(ev.data);
      if (Array.isArray(data)) data.forEach(onMessage); else onMessage(data);
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (!state.me) return;
      setTimeout(async () => {
        // A closed socket may mean a logged-out session: check before reconnecting.
        try {
          await api('GET', '/me');
          connect();
        } catch (_) { /* showLogin() already ran */ }
      }, state.wsDelay);
      state.wsDelay = Math.min(state.wsDelay * 2, 5000);
    };
  }

  function noteClock(serverMs) {
    const off = serverMs - Date.now();
    // Network delay only makes the estimate lag; take the largest recent offset, then track it.
    state.clockOffset = state.haveOffset ? Math.max(off, state.clockOffset * 0.98 + off * 0.02) : off;
    state.haveOffset = true;
  }

  function onMessage(m) {
    switch (m.t) {
      case 'hello':
        state.hello = m;
        noteClock(m.now_ms);
        state.lastBeat = performance.now();
        break;
      case 'bed': {
        const bed = state.beds.get(m.bed);
        if (bed) bed.setView(m);
        if (state.detail && state.detail.bed === bed) {
          updateDetailHead();
          refreshBindOptions();
        }
        break;
      }
      case 'history': {
        const bed = state.beds.get(m.bed);
        if (bed && m.binding_id === bed.bindingId && samePatientId(m.patient, bed.patient)) bed.add(m.samples);
        break;
      }
      case 'samples': {
        const bed = state.beds.get(m.bed);
        // Only data stamped with the bed's current binding and patient is drawn under her name.
        if (!bed || m.binding_id !== bed.bindingId || !samePatientId(m.patient, bed.patient)) break;
        bed.add(m.samples);
        if (!m.backfill) bed.pulse = { age_ms: Math.max(0, serverNow() - m.arrived_ms), online: true, at: performance.now() };
        break;
      }
      case 'event': {
        const bed = state.beds.get(m.bed);
        if (!bed || m.binding_id !== bed.bindingId) break;
        const name = I18N[state.lang].events[m.kind] || m.kind;
        bed.lastEvent = m.active === false ? '' : `${name}${m.channel ? ' ' + m.channel.toUpperCase() : ''}`;
        break;
      }
      case 'analysis': {
        const bed = state.beds.get(m.bed);
        if (!bed || m.binding_id !== bed.bindingId || !samePatientId(m.patient, bed.patient)) break;
        bed.analysis = m;
        break;
      }
      case 'alarm': {
        const bed = state.beds.get(m.bed);
        if (!bed || m.binding_id !== bed.bindingId || !samePatientId(m.patient, bed.patient)) break;
        if (m.alarm.cleared_ms) bed.alarms.delete(m.alarm.alarm_id); else bed.alarms.set(m.alarm.alarm_id, m.alarm);
        state.alarmsDirty = true;
        break;
      }
      case 'heartbeat':
        noteClock(m.now_ms);
        state.lastBeat = performance.now();
        state.historyDown = m.history_available === false;
        for (const p of m.beds) {
          const bed = state.beds.get(p.bed);
          if (bed && p.binding_id === bed.bindingId) bed.pulse = { age_ms: p.age_ms, online: p.online, at: performance.now() };
        }
        break;
      case 'reset':
        // The server cut this viewer off (too slow) or is stopping: reconnect from scratch.
        if (state.ws) state.ws.close();
        break;
      default:
        break;
    }
  }

  // ---- alarms -------------------------------------------------------------------------------

  // Open alarms, worst first. The list at the top holds those not yet acknowledged (each with a
  // keyboard-reachable button); the detail view lists the bed's open alarms, acknowledged ones too.
  function openAlarms(bedFilter) {
    const out = [];
    for (const label of state.order) {
      const bed = state.beds.get(label);
      if (bedFilter && bed !== bedFilter) continue;
      for (const a of bed.alarms.values()) out.push({ bed, a });
    }
    out.sort((p, q) => PRIO[q.a.priority] - PRIO[p.a.priority] || p.a.raised_ms - q.a.raised_ms);
    return out;
  }

  function alarmItem({ bed, a }) {
    const li = document.createElement('li');
    li.className = `alarm-item prio-${a.priority}${a.acknowledged_ms ? ' acked' : ''}`;
    li.dataset.alarmId = String(a.alarm_id);
    li.dataset.bed = bed.label;
    li.dataset.kind = a.kind;
    li.dataset.priority = a.priority;
    li.dataset.acknowledged = String(!!a.acknowledged_ms);
    const when = new Date(a.raised_ms).toLocaleTimeString(state.lang === 'ja' ? 'ja-JP' : 'en-GB');
    const name = bed.patient ? bed.patient.name : '';
    const text = document.createElement('span');
    text.className = 'alarm-text';
    text.innerHTML = '<b class="prio"></b> <span class="where"></span> <strong class="kind"></strong> <span class="why"></span> <time></time>';
    text.querySelector('.prio').textContent = t('prio')[a.priority] || a.priority;
    text.querySelector('.where').textContent = `${t('beds')} ${bed.label} ${name}`;
    text.querySelector('.kind').textContent = t('alarmKinds')[a.kind] || a.kind;
    const why = alarmDetail(a.detail);
    text.querySelector('.why').textContent = why ? `— ${why}` : '';
    text.querySelector('time').textContent = when;
    li.appendChild(text);
    if (a.acknowledged_ms) {
      const s = document.createElement('span');
      s.className = 'acked-by';
      s.textContent = t('acked', a.acknowledged_by || '');
      li.appendChild(s);
    } else if (a.alarm_id > 0) {
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'ack';
      btn.textContent = t('ack');
      btn.setAttribute('aria-label', `${t('ack')}: ${t('beds')} ${bed.label} ${name} ${text.querySelector('.kind').textContent}`);
      btn.addEventListener('click', (e) => { e.stopPropagation(); acknowledge(bed, a); });
      li.appendChild(btn);
    }
    return li;
  }

  function renderList(list, items) {
    // Keep keyboard focus on the same alarm's button across a rebuild.
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('.alarm-item');
    const focusId = focused && list.contains(focused) ? focused.dataset.alarmId : null;
    list.replaceChildren(...items.map(alarmItem));
    if (focusId) {
      const again = list.querySelector(`.alarm-item[data-alarm-id="${focusId}"] button`);
      if (again) again.focus();
    }
  }

  function renderAlarms() {
    state.alarmsDirty = false;
    const sounding = openAlarms(null).filter(({ a }) => !a.acknowledged_ms);
    renderList($('alarm-list'), sounding);
    $('alarms').hidden = sounding.length === 0;
    // Alarms of every bed stay in view above an open detail view.
    $('detail').style.top = sounding.length ? `${Math.round($('alarms').getBoundingClientRect().bottom)}px` : '';
    $('alarms').dataset.count = String(sounding.length);
    document.body.dataset.alarms = String(sounding.length);
    if (state.detail) renderDetailAlarms();
  }

  function renderDetailAlarms() {
    const items = openAlarms(state.detail.bed);
    renderList($('detail-alarm-list'), items);
    $('detail-alarms').hidden = items.length === 0;
  }

  async function acknowledge(bed, a) {
    try {
      const r = await api('POST', `/alarms/${a.alarm_id}/acknowledge`);
      if (bed.alarms.has(r.alarm_id)) bed.alarms.set(r.alarm_id, r);
      $('alarm-msg').textContent = '';
    } catch (e) {
      // 409: someone acknowledged it first; the server's alarm message carries who, and is on
      // its way. Anything else stays visible and unacknowledged.
      if (e.status !== 409) $('alarm-msg').textContent = `${t('ackFailed')}: ${e.message}`;
    }
    state.alarmsDirty = true;
    renderAlarms();
  }

  function samePatientId(a, b) {
    return !!a && !!b && a.admission_id === b.admission_id && a.patient_id === b.patient_id;
  }

  // The server writes an alarm's reason in English (it is also the stored record); the page
  // renders the known forms in the viewer's language and shows anything else as written.
  function alarmDetail(d) {
    if (!d || state.lang === 'en') return d || '';
    const figo = (f) => t('figo')[f.replace(' ', '_')] || f;
    const rules = [
      [/^JSOG level (\d)( \(provisional\))?, FIGO (.+)$/, (m) => `JSOG レベル${m[1]}${m[2] ? ' ' + t('provisional') : ''}・FIGO ${figo(m[3])}`],
      [/^deceleration for (\d+) s, nadir (\d+) bpm$/, (m) => `一過性徐脈 ${m[1]}秒、最下点 ${m[2]} bpm`],
      [/^FHR (\d+) bpm for 2 min, baseline (\d+) bpm$/, (m) => `FHR ${m[1]} bpm が2分間、基線 ${m[2]} bpm`],
      [/^FHR (\d+) bpm over 3 min$/, (m) => `FHR ${m[1]} bpm が3分間`],
      [/^FHR within 5 bpm of MHR (\d+) %, false signal (\d+) % of the last minute$/, (m) => `FHR と MHR の差 5 bpm 以内 ${m[1]}%、直近1分の母体心拍混入 ${m[2]}%`],
      [/^(\d+) % of the last minute without a valid FHR$/, (m) => `直近1分の ${m[1]}% で有効な FHR なし`],
      [/^no data for (\d+) s$/, (m) => `${m[1]}秒間データなし`],
      [/^more than 5 contractions per 10 min over 30 min$/, () => '30分間にわたり10分あたり5回を超える収縮'],
      [/^cannot assess$/, () => '判定不能'],
    ];
    for (const [re, f] of rules) {
      const m = d.match(re);
      if (m) return f(m);
    }
    return d;
  }

  // ---- detail view with scroll-back ---------------------------------------------------------

  function openBed(bed) {
    if (!bed.patient) {
      openAdmit(bed);
      return;
    }
    state.detail = { bed, viewEnd: null, history: null, loading: false, opener: bed.el };
    $('detail').hidden = false;
    updateDetailHead();
    refreshBindOptions();
    renderDetailAlarms();
    $('close-detail').focus();
  }

  function closeDetail() {
    if (!state.detail) return;
    const opener = state.detail.opener;
    state.detail = null;
    $('detail').hidden = true;
    $('manage-msg').textContent = '';
    if (opener) opener.focus();
  }

  function updateDetailHead() {
    const d = state.detail;
    if (!d) return;
    const p = d.bed.patient;
    $('detail-title').textContent = p
      ? `${t('beds')} ${d.bed.label} — ${p.name} (${p.patient_id}) ${t('ga', p.ga_weeks, p.ga_days)}`
      : `${t('beds')} ${d.bed.label}`;
    $('detail').dataset.patientName = p ? p.name : '';
    $('detail').dataset.bed = d.bed.label;
    if (!p) closeDetail();
  }

  function scroll(deltaMin) {
    const d = state.detail;
    if (!d) return;
    const base = d.viewEnd === null ? serverNow() : d.viewEnd;
    const next = base + deltaMin * 60000;
    d.viewEnd = next >= serverNow() ? null : next;
    d.history = null;
    if (d.viewEnd !== null) loadHistory();
  }

  async function loadHistory() {
    const d = state.detail;
    if (!d || d.viewEnd === null || !d.bed.patient) return;
    const canvas = $('detail-canvas');
    const spanMs = (canvas.clientWidth / (state.speed * PX_PER_CM)) * 60000;
    const from = Math.floor(d.viewEnd - spanMs - 60000), to = Math.ceil(d.viewEnd + 60000);
    const want = d.viewEnd;
    d.loading = true;
    try {
      const h = await api('GET', `/admissions/${d.bed.patient.admission_id}/history?from_ms=${from}&to_ms=${to}`);
      if (!state.detail || state.detail.viewEnd !== want) return;
      // Each binding's samples form their own trace; they are never joined across bindings.
      d.history = h.segments.map((s) => {
        const b = new Bed('h');
        b.add(s.samples);
        return b.buf;
      });
      // The server analyses the stored trace (with the half hour before it as context).
      d.historyAnalyses = h.segments.map((s) => s.analysis || null);
      d.historyPatient = h.patient;
    } catch (e) {
      $('manage-msg').textContent = `${t('failed')}: ${e.message}`;
    } finally {
      d.loading = false;
    }
  }

  function renderDetail() {
    const d = state.detail;
    const canvas = $('detail-canvas');
    const live = d.viewEnd === null;
    const end = live ? serverNow() : d.viewEnd;
    // History may hold several bindings (a change of device during the stay): one trace each,
    // each with the analysis of its stored trace.
    const analyses = live ? [d.bed.analysis] : (d.history ? d.historyAnalyses : []);
    drawCtg(canvas, live ? [d.bed.buf] : d.history || [], end, { labels: true, analyses });
    const shown = analyses.filter((a) => a);
    $('detail').dataset.baselinePoints = String(shown.reduce((n, a) => n + a.baseline.bpm.filter((v) => v !== null).length, 0));
    $('detail').dataset.decelerations = shown.flatMap((a) => a.events.filter((e) => e.kind === 'deceleration').map((e) => e.class)).join(' ');
    const c = d.bed.analysis && d.bed.analysis.classification;
    $('detail-analysis').textContent = c ? classificationText(c, true) : t('notAnalysed');
    $('detail-analysis').dataset.status = c ? c.status : '';
    const mode = $('detail-mode');
    const st = d.bed.status();
    if (!live) {
      mode.className = 'detail-mode history';
      mode.textContent = t('history', new Date(end).toLocaleTimeString(state.lang === 'ja' ? 'ja-JP' : 'en-GB'));
    } else if (st === 'stale' || st === 'offline') {
      mode.className = 'detail-mode stale';
      mode.textContent = st === 'offline' ? t('offline') : t('stale');
    } else {
      mode.className = 'detail-mode';
      mode.textContent = t('liveMode');
    }
    $('detail').dataset.mode = live ? 'live' : 'history';
    $('detail').dataset.samples = String(live ? d.bed.buf.seq.length : (d.history || []).reduce((n, b) => n + b.seq.length, 0));
    const age = d.bed.ageMs();
    $('detail-status').textContent = `${d.bed.stream || ''}  ${age === null ? '' : t('age', (age / 1000).toFixed(1))}`;
    const b = d.bed.buf, n = b.seq.length - 1;
    const cur = (k) => (n >= 0 && st === 'live' && b[k][n] !== null && b[k][n] !== undefined ? String(Math.round(b[k][n])) : '--');
    $('detail-fhr').textContent = cur('fhr1');
    $('detail-toco').textContent = cur('toco');
    $('detail-mhr').textContent = cur('mhr');
  }

  // ---- patient management -------------------------------------------------------------------

  async function refreshBindOptions() {
    const sel = $('bind-select');
    sel.innerHTML = '';
    const d = state.detail;
    const bound = d && d.bed.bindingId !== null && d.bed.bindingId !== undefined;
    $('bind-btn').hidden = bound;
    $('bind-select').hidden = bound;
    $('unbind-btn').hidden = !bound;
    if (bound) return;
    if (state.unassigned.length === 0) {
      const o = document.createElement('option');
      o.textContent = t('noStream');
      o.value = '';
      sel.appendChild(o);
      return;
    }
    for (const s of state.unassigned) {
      const o = document.createElement('option');
      o.value = s.stream_id;
      o.textContent = `${s.stream_id}${s.bed ? ' (' + s.bed + ')' : ''}`;
      sel.appendChild(o);
    }
  }

  async function manage(action) {
    const d = state.detail;
    if (!d || !d.bed.patient) return;
    const id = d.bed.patient.admission_id;
    try {
      if (action === 'bind') {
        const stream = $('bind-select').value;
        if (!stream) return;
        await api('PUT', `/admissions/${id}/binding`, { stream_id: stream });
      } else if (action === 'unbind') {
        if (!confirm(t('confirmUnbind'))) return;
        await api('DELETE', `/admissions/${id}/binding`);
      } else if (action === 'discharge') {
        if (!confirm(t('confirmDischarge', d.bed.patient.name))) return;
        await api('POST', `/admissions/${id}/discharge`);
      }
      $('manage-msg').textContent = t('done');
      await loadUnassigned();
      refreshBindOptions();
    } catch (e) {
      $('manage-msg').textContent = `${t('failed')}: ${e.message}`;
    }
  }

  function openAdmit(bed) {
    state.admitBed = bed;
    $('admit-title').textContent = t('admitTitle', bed.label);
    $('admit-error').textContent = '';
    $('admit-form').reset();
    $('admit').hidden = false;
    $('admit-id').focus();
  }

  function closeAdmit() {
    $('admit').hidden = true;
    if (state.admitBed) state.admitBed.el.focus();
    state.admitBed = null;
  }

  async function submitAdmit(e) {
    e.preventDefault();
    try {
      await api('POST', '/admissions', {
        patient_id: $('admit-id').value.trim(),
        name: $('admit-name').value.trim(),
        ga_weeks: Number($('admit-weeks').value),
        ga_days: Number($('admit-days').value),
        bed: state.admitBed.label,
      });
      closeAdmit();
    } catch (err) {
      $('admit-error').textContent = err.message;
    }
  }

  async function loadUnassigned() {
    try {
      state.unassigned = await api('GET', '/streams/unassigned');
    } catch (_) {
      return;
    }
    const list = $('unassigned-list');
    list.innerHTML = '';
    for (const s of state.unassigned) {
      const li = document.createElement('li');
      li.dataset.stream = s.stream_id;
      const code = document.createElement('code');
      code.textContent = s.stream_id;
      const info = document.createElement('div');
      info.className = 'hint';
      const age = s.last_sample_age_ms === null ? '--' : t('age', Math.round(s.last_sample_age_ms / 1000));
      info.textContent = `${s.bed ? s.bed + ' · ' : ''}${s.gateway_online ? t('online') : t('offline')} · ${age}`;
      li.append(code, info);
      list.appendChild(li);
    }
    $('side').hidden = state.unassigned.length === 0;
  }

  // ---- operations view (administrators) ----------------------------------------------------

  async function loadOps() {
    const rows = await api('GET', '/streams');
    const head = $('ops-table').querySelector('thead');
    head.innerHTML = '';
    const tr = document.createElement('tr');
    for (const h of [t('stream'), t('patient'), t('beds'), t('stored'), t('missing'), t('dup'), t('rejected'), 'age', t('gateway')]) {
      const th = document.createElement('th');
      th.textContent = h;
      tr.appendChild(th);
    }
    head.appendChild(tr);
    const body = $('ops-table').querySelector('tbody');
    body.innerHTML = '';
    for (const r of rows) {
      const row = document.createElement('tr');
      const cells = [r.stream_id, r.patient ? `${r.patient.name} (${r.patient.patient_id})` : '—', r.bed || '', r.stored_samples, r.missing_samples,
        r.duplicates_rejected, r.rejected_payloads, r.last_sample_age_ms === null ? '--' : (r.last_sample_age_ms / 1000).toFixed(1), r.gateway_online ? t('online') : t('offline')];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = String(c);
        row.appendChild(td);
      }
      body.appendChild(row);
    }
  }

  // ---- session ------------------------------------------------------------------------------

  function showLogin() {
    state.me = null;
    if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
    $('monitor').hidden = true;
    $('ops').hidden = true;
    // The mothers' view (phr.js) clears what it showed.
    document.dispatchEvent(new CustomEvent('ctg:logout'));
    $('login').hidden = false;
    $('logout').hidden = true;
    $('user').textContent = '';
    if (location.hash === '#login-code-invalid') $('login-error').textContent = t('codeInvalid');
    $('login-user').focus();
  }

  async function start() {
    let me;
    try {
      me = await api('GET', '/me');
    } catch (_) {
      return;
    }
    state.me = me;
    state.csrf = me.csrf_token;
    $('login').hidden = true;
    $('logout').hidden = false;
    $('user').textContent = `${me.display_name} (${me.role})`;
    if (location.hash) history.replaceState(null, '', '/');
    document.dispatchEvent(new CustomEvent('ctg:session', { detail: me }));
    if (me.role === 'admin') {
      $('ops').hidden = false;
      await loadOps();
      setInterval(() => { if (state.me) loadOps().catch(() => {}); }, 5000);
      return;
    }
    const beds = await api('GET', '/beds');
    const grid = $('grid');
    grid.innerHTML = '';
    state.beds.clear();
    state.order = beds.map((b) => b.bed);
    for (const b of beds) {
      const bed = new Bed(b.bed);
      bed.setView(b);
      state.beds.set(b.bed, bed);
      grid.appendChild(bed.el);
    }
    // Unless the Mothers view was opened while the beds loaded (regression: both views showed).
    if (document.body.dataset.view !== 'phr') $('monitor').hidden = false;
    layoutGrid();
    connect();
    await loadUnassigned();
    setInterval(() => { if (state.me) loadUnassigned(); }, 5000);
  }

  async function login(e) {
    e.preventDefault();
    $('login-error').textContent = '';
    try {
      await api('POST', '/login', { username: $('login-user').value.trim(), password: $('login-pass').value });
      $('login-pass').value = '';
      await start();
    } catch (err) {
      $('login-error').textContent = err.status === 429 ? t('locked') : t('loginFailed');
    }
  }

  async function logout() {
    try { await api('POST', '/logout'); } catch (_) { /* the session may have expired already */ }
    showLogin();
  }

  function applyLang() {
    document.documentElement.lang = state.lang;
    document.body.dataset.lang = state.lang;
    document.title = t('title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    $('lang').textContent = state.lang === 'ja' ? 'English' : '日本語';
    $('lang').lang = state.lang === 'ja' ? 'en' : 'ja';
    if (state.audio) $('sound').textContent = t('soundIsOn');
    updateDetailHead();
    state.alarmsDirty = true;
    document.dispatchEvent(new CustomEvent('ctg:lang'));
  }

  // ---- wiring -------------------------------------------------------------------------------

  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  document.addEventListener('ctg:unauthorized', () => { if (state.me) showLogin(); });
  $('lang').addEventListener('click', () => {
    state.lang = state.lang === 'ja' ? 'en' : 'ja';
    localStorage.setItem('ctg.lang', state.lang);
    applyLang();
  });
  $('speed').value = String(state.speed);
  $('speed').addEventListener('change', () => {
    state.speed = Number($('speed').value);
    localStorage.setItem('ctg.speed', String(state.speed));
    if (state.detail && state.detail.viewEnd !== null) loadHistory();
  });
  $('sound').addEventListener('click', enableSound);
  $('silence').addEventListener('click', () => { state.silencedUntil = performance.now() + 120000; });
  $('back10').addEventListener('click', () => scroll(-10));
  $('back1').addEventListener('click', () => scroll(-1));
  $('fwd1').addEventListener('click', () => scroll(1));
  $('fwd10').addEventListener('click', () => scroll(10));
  $('tolive').addEventListener('click', () => { if (state.detail) { state.detail.viewEnd = null; state.detail.history = null; } });
  $('close-detail').addEventListener('click', closeDetail);
  $('bind-btn').addEventListener('click', () => manage('bind'));
  $('unbind-btn').addEventListener('click', () => manage('unbind'));
  $('discharge-btn').addEventListener('click', () => manage('discharge'));
  $('admit-form').addEventListener('submit', submitAdmit);
  $('admit-cancel').addEventListener('click', closeAdmit);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      if (!$('admit').hidden) closeAdmit(); else closeDetail();
      return;
    }
    if (!state.detail || e.target.tagName === 'SELECT' || e.target.tagName === 'INPUT') return;
    if (e.key === 'ArrowLeft') { e.preventDefault(); scroll(e.shiftKey ? -10 : -1); }
    if (e.key === 'ArrowRight') { e.preventDefault(); scroll(e.shiftKey ? 10 : 1); }
    if (e.key === 'End') { e.preventDefault(); state.detail.viewEnd = null; }
  });
  // Browsers allow sound only after a gesture: the first click or key enables the alarm tone.
  const firstGesture = () => { enableSound(); window.removeEventListener('pointerdown', firstGesture); window.removeEventListener('keydown', firstGesture); };
  window.addEventListener('pointerdown', firstGesture);
  window.addEventListener('keydown', firstGesture);
  window.addEventListener('resize', layoutGrid);

  applyLang();
  start();
  setInterval(render, 250);
})();
