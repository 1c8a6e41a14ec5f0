// Reference answers from the real @breejs/later for the differential tests.
// stdin: {"cases": [{"text": str, "start": ms, "count": n}, ...]}
// stdout: {"now": ms, "results": [{"parse", "error", "parseThrows", "next", "scheduleThrows",
//          "fire"}, ...]} where dates are ms numbers (null for later.js's undefined).
// NODE_PATH (or a node_modules next to the caller) must resolve @breejs/later.
'use strict';

const later = require('@breejs/later');

const RealDate = Date;
const realSetTimeout = global.setTimeout;

function toMs(d) {
  return d instanceof RealDate && !Number.isNaN(d.getTime()) ? d.getTime() : null;
}

// later.setTimeout reads the clock with `new Date()` and schedules with setTimeout; fake both
// so that the real code path tells us its delay for a chosen "now".
function fireTime(schedule, nowMs) {
  class FakeDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(nowMs);
      else super(...args);
    }
    static now() {
      return nowMs;
    }
  }
  let delay = null;
  global.Date = FakeDate;
  global.setTimeout = (fn, ms) => {
    delay = ms;
    return 0;
  };
  try {
    later.setTimeout(() => {}, schedule);
  } finally {
    global.Date = RealDate;
    global.setTimeout = realSetTimeout;
  }
  return delay === null ? null : nowMs + delay;
}

function run(testCase) {
  const out = {parse: null, error: null, parseThrows: null, next: null, scheduleThrows: null,
    fire: null};
  let parsed;
  try {
    parsed = later.parse.text(testCase.text);
  } catch (error) {
    out.parseThrows = String(error.message);
    return out;
  }
  out.error = parsed.error;
  out.parse = JSON.stringify({schedules: parsed.schedules, exceptions: parsed.exceptions});
  if (parsed.error !== -1) return out;
  try {
    const found = later.schedule(parsed).next(testCase.count, new RealDate(testCase.start));
    const list = found === later.NEVER ? [] : Array.isArray(found) ? found : [found];
    out.next = list.map(toMs);
    if (testCase.fire) out.fire = fireTime(parsed, testCase.start);
  } catch (error) {
    out.scheduleThrows = String(error.message);
  }
  return out;
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
});
process.stdin.on('end', () => {
  const request = JSON.parse(input);
  const now = RealDate.now();
  const results = request.cases.map(run);
  process.stdout.write(JSON.stringify({now, results}));
});
