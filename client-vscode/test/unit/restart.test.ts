import assert from "node:assert/strict";
import { test } from "node:test";
import { RestartPolicy, crashMessage } from "../../src/restart";

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test("three crashes within the window restart, the fourth stops", () => {
  const c = clock();
  const policy = new RestartPolicy(3, 180_000, c.now);
  const decisions = [policy.onCrash(), policy.onCrash(), policy.onCrash(), policy.onCrash()];
  assert.deepEqual(
    decisions.map((d) => [d.restart, d.attempt]),
    [
      [true, 1],
      [true, 2],
      [true, 3],
      [false, 4],
    ],
  );
});

test("crashes older than the window no longer count", () => {
  const c = clock();
  const policy = new RestartPolicy(3, 180_000, c.now);
  policy.onCrash();
  policy.onCrash();
  c.advance(100_000);
  policy.onCrash();
  c.advance(90_000); // the first two are now 190 s old
  const d = policy.onCrash();
  assert.equal(d.restart, true);
  assert.equal(d.attempt, 2);
});

test("a restart the user asks for starts the count afresh", () => {
  const c = clock();
  const policy = new RestartPolicy(2, 180_000, c.now);
  policy.onCrash();
  policy.onCrash();
  assert.equal(policy.onCrash().restart, false);
  policy.reset();
  assert.deepEqual(policy.onCrash(), { restart: true, attempt: 1, max: 2 });
});

test("the messages name the reason, the count and what to do", () => {
  const restarting = crashMessage("exit code 1: ImportError", { restart: true, attempt: 2, max: 3 }, 180_000);
  assert.match(restarting, /exit code 1: ImportError/);
  assert.match(restarting, /restarting \(2\/3\)/);
  const giving_up = crashMessage("exit code 1", { restart: false, attempt: 4, max: 3 }, 180_000);
  assert.match(giving_up, /4 times within 3 minutes/);
  assert.match(giving_up, /will not be restarted/);
  assert.match(giving_up, /Restart server/);
});
