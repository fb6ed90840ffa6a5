"""The tasks of an `airflow_dag` run: ready, running, up for retry, success, failed, upstream_failed.

`AirflowDagNode` (in `airflow_dag`) inherits this and adds the schedule, the runs and outages.
The installation (`_airflow_installation`) starts ready tries when its limits allow; these
hooks follow each try to its end.  Each time a task reaches a final state (success, failed,
upstream_failed, skipped) its downstream tasks are judged by their `trigger_rule`, as Airflow's
TriggerRuleDep does: they become ready, or final themselves (skipped, upstream_failed), or
wait.  Other branches run on after a failure; once every task is final the run fails if a leaf
task failed or is upstream_failed, and succeeds otherwise (DagRun.update_state).  With
`fail_fast` (Airflow's fail_stop) the run's running tries are killed and it fails at once.

A branch task that succeeds follows one downstream task drawn by its probabilities and skips
the others (BranchPythonOperator's skip_all_except); the trigger rules carry the skips on.  A
task with `depends_on_past` waits, ready by its rules, until the same task of the previous run
succeeded or was skipped (with `wait_for_downstream`, its direct downstream tasks there too).
A try holds its slots from its start: the installation's `task_startup` passes, then its work.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flowsim.engine.sampling import Sampler
from flowsim.nodes._airflow_installation import DEFAULT_POOL, Installation, Ready
from flowsim.nodes._airflow_parts import PAST_OK, Run, TaskSpec, run_outcome, trigger_verdict
from flowsim.nodes._airflow_records import DagRecords
from flowsim.nodes._airflow_sensors import next_poke, poke_outcome


class DagTasks(DagRecords):
    """Task hooks of a DAG; the attributes below are set by `AirflowDagNode`."""

    tasks: dict[str, TaskSpec]
    children: dict[str, list[str]]
    leaves: list[str]
    samplers: dict[str, Sampler]
    _uniform: Callable[[], float]
    _jitter: Callable[[], float]
    _branch: Callable[[], float]
    late: dict[str, Sampler]
    weights: dict[str, int]
    blocked: list[tuple[Run, str]]
    installation: Installation
    max_active_tasks: int
    running_tasks: int

    # ---- tasks: the installation starts them, these hooks follow them --------------------
    def _make_ready(self, run: Run, task: str) -> None:
        spec = self.tasks[task]
        if (spec.depends_on_past or spec.wait_for_downstream) and not self._past_done(run, task):
            run.states[task] = "waiting_on_past"
            self.blocked.append((run, task))
            return
        run.states[task] = "ready"
        entry = Ready(self, run, task, spec.pool or DEFAULT_POOL, spec.pool_slots, run.attempt)
        self.installation.submit(entry, self.weights[task], run.start if run.logical is None else run.logical)

    def _past_done(self, run: Run, task: str) -> bool:
        """Airflow's PrevDagrunDep: the previous run's task succeeded or was skipped (and, with
        wait_for_downstream, its direct downstream tasks there too); a first run has no past."""
        past = run.previous
        if past is None:
            return True
        needed = [task, *self.children[task]] if self.tasks[task].wait_for_downstream else [task]
        return all(past.states.get(name) in PAST_OK for name in needed)

    def _past_settled(self, past: Run) -> None:
        """A task of `past` is final: tasks of the next run waiting on it may now be ready."""
        freed = [
            (r, t) for r, t in self.blocked if r.previous is past and r.state == "running" and self._past_done(r, t)
        ]
        self.blocked = [(r, t) for r, t in self.blocked if (r, t) not in freed and r.state == "running"]
        for run, task in freed:
            self._make_ready(run, task)

    def still_wanted(self, entry: Ready) -> bool:
        run: Run = entry.run  # type: ignore[assignment]
        return run.state == "running" and run.attempt == entry.attempt

    def start_try(self, entry: Ready) -> None:
        run: Run = entry.run  # type: ignore[assignment]
        task = entry.task
        spec = self.tasks[task]
        run.states[task] = "running"
        run.running.append(entry)
        if task not in run.sensing:  # a rescheduled poke is the same try (Airflow keeps its try_number)
            run.tries[task] += 1
            self.counts["task_tries"] += 1
        if self.tracing:
            self.log(f"task start {task}", run.item)
        begins = self.env.now + self.installation.startup
        if spec.sensor is not None:
            self._start_poking(run, entry, begins)
            return
        work = (self.samplers[task]() + spec.per_message * run.n) * self.slowdown
        timeout = spec.execution_timeout
        timed_out = timeout is not None and work > timeout
        wait = timeout if timed_out and timeout is not None else work
        outcome = "timeout" if timed_out else "work"
        self.env.timeout(begins - self.env.now + wait, (entry, outcome, run.attempt)).callbacks.append(self._try_ended)

    def _start_poking(self, run: Run, entry: Ready, begins: float) -> None:
        """A sensor's try: poke mode runs to its ending poke in one step; reschedule mode pokes once."""
        sensor, task = self.tasks[entry.task].sensor, entry.task
        assert sensor is not None
        if task not in run.sensing:
            lands = math.inf if sensor.dataset is not None else run.end + self.late[task]()
            run.sensing[task] = (lands, begins)
        lands, first = run.sensing[task]
        if sensor.dataset is not None:  # not known ahead: each poke looks at the dataset
            outcome, at = "poke", begins
        elif sensor.mode == "poke":
            outcome, at = poke_outcome(sensor, first, begins, lands)
        else:
            outcome, at = next_poke(sensor, first, begins, lands), begins
        entry.since = self.env.now  # its slot-seconds are counted when it ends or is killed
        self.env.timeout(at - self.env.now, (entry, "sensor " + outcome, run.attempt)).callbacks.append(self._try_ended)

    def _try_ended(self, event: Any) -> None:
        entry, outcome, attempt = event._value
        run: Run = entry.run
        if run.state != "running" or run.attempt != attempt:
            return  # killed when its run failed (fail_fast, dagrun_timeout): its slots are already free
        if outcome == "sensor poke":
            outcome = "sensor " + self._look(run, entry)
            if outcome == "sensor hold":
                return
        run.running.remove(entry)
        self.installation.release(entry)
        task, spec = entry.task, self.tasks[entry.task]
        if outcome == "timeout":
            self.counts["task_timeouts"] += 1
            self._task_failed(run, task, "timeout")
        elif outcome.startswith("sensor"):
            self._sensor_stopped(run, entry)
            self._sensor_ended(run, task, outcome.removeprefix("sensor "))
        elif spec.failure_rate and self._uniform() < spec.failure_rate:
            self._task_failed(run, task, "fail")
        else:
            self._task_succeeded(run, task)
        self.installation.wake()

    def _look(self, run: Run, entry: Ready) -> str:
        """A dataset sensor's poke now: found once its dataset was updated up to the run's interval
        end; otherwise a poke-mode try keeps its slot and pokes again after `poke_interval`."""
        sensor, now = self.tasks[entry.task].sensor, self.env.now
        assert sensor is not None and sensor.dataset is not None
        found = self.installation.updated_to.get(sensor.dataset, -math.inf) >= run.end
        outcome = next_poke(sensor, run.sensing[entry.task][1], now, now if found else math.inf)
        if outcome == "reschedule" and sensor.mode == "poke":
            value = (entry, "sensor poke", run.attempt)
            self.env.timeout(float(sensor.poke_interval), value).callbacks.append(self._try_ended)
            return "hold"
        return outcome

    def _sensor_stopped(self, run: Run, entry: Ready) -> None:
        """A sensor's try ended or was killed: count its pokes made so far and its slot-seconds."""
        sensor, now = self.tasks[entry.task].sensor, self.env.now
        assert sensor is not None
        begins = entry.since + self.installation.startup
        if sensor.mode == "poke":
            pokes = math.floor((now - begins) / float(sensor.poke_interval) + 1e-9) + 1 if now >= begins else 0
        else:
            pokes = 1 if now >= begins else 0
        self.counts["sensor_pokes"] += pokes
        self.counts["sensor_slot_s"] += now - entry.since

    def _sensor_ended(self, run: Run, task: str, outcome: str) -> None:
        sensor = self.tasks[task].sensor
        assert sensor is not None
        if outcome == "success":
            self._task_succeeded(run, task)
        elif outcome == "reschedule":
            run.states[task] = "up_for_reschedule"
            if self.tracing:
                self.log(f"task reschedule {task}", run.item)
            self.env.timeout(float(sensor.poke_interval), (run, task, run.attempt)).callbacks.append(self._retry_due)
        else:
            self.counts["sensor_timeouts"] += 1
            if self.tracing:
                self.log(f"task sensor timeout {task}", run.item)
            if sensor.soft_fail:
                self._settle(run, task, "skipped")
            else:
                self.failed_attempts += 1
                self._out_of_tries(run, task)

    def _task_succeeded(self, run: Run, task: str) -> None:
        if self.tracing:
            self.log(f"task success {task}", run.item)
        self._settle(run, task, "success")

    def _task_failed(self, run: Run, task: str, why: str) -> None:
        self.failed_attempts += 1
        spec = self.tasks[task]
        if self.tracing:
            self.log(f"task {why} {task}", run.item)
        if run.tries[task] <= spec.retries:
            self.retries += 1
            run.states[task] = "up_for_retry"
            wait = spec.retry_wait(run.tries[task], self._jitter())
            if self.tracing:
                self.log(f"task retry {task} in {wait:g}s", run.item)
            self.env.timeout(wait, (run, task, run.attempt)).callbacks.append(self._retry_due)
            return
        self._out_of_tries(run, task)

    def _out_of_tries(self, run: Run, task: str) -> None:
        if self.tracing:
            self.log(f"task out of retries {task}", run.item)
        if self.config.fail_fast:
            run.states[task] = "failed"
            self._fail_now(run)
            return
        self._settle(run, task, "failed")

    def _settle(self, run: Run, task: str, state: str) -> None:
        """`task` is final: judge its downstream tasks by their trigger rules, then maybe end the run."""
        finals = [(task, state)]
        while finals:
            name, final = finals.pop()
            run.states[name] = final
            run.finished += 1
            if final in ("skipped", "upstream_failed") and self.tracing:
                self.log(f"task {final} {name}", run.item)
            branch = self.tasks[name].branch
            if final == "success" and branch is not None:
                finals += self._follow(run, name, branch)
            for child in self.children[name]:
                if run.states[child] != "none":
                    continue
                spec = self.tasks[child]
                verdict = trigger_verdict(spec.trigger_rule, [run.states[d] for d in spec.depends_on])
                if verdict == "run":
                    self._make_ready(run, child)
                elif verdict is not None:
                    run.states[child] = "judged"  # final at once; settled in turn below
                    finals.append((child, verdict))
        if self.blocked:
            self._past_settled(run)
        if run.finished == len(self.tasks) and run.state == "running":
            self._conclude(run)

    def _conclude(self, run: Run) -> None:
        """Every task is final: the scheduler's DagRun.update_state fails or ends the run; while
        it is down the run waits for it (its data lands when the scheduler is back)."""
        if self.down:
            run.state = "concluding"
            return
        if run_outcome(run.states, self.leaves) == "failed":
            self._run_failed(run)
        else:
            self._finish(run)

    def _follow(self, run: Run, task: str, branch: dict[str, float]) -> list[tuple[str, str]]:
        """A branch task succeeded: draw the downstream task it follows; the others are skipped."""
        draw, chosen = self._branch(), None
        for target, p in branch.items():
            draw -= p
            if draw < 0:
                chosen = target
                break
        chosen = chosen if chosen is not None else next(t for t, p in reversed(branch.items()) if p > 0)
        if self.tracing:
            self.log(f"task branch {task} -> {chosen}", run.item)
        skipped = [c for c in self.children[task] if c != chosen and run.states[c] == "none"]
        for child in skipped:
            run.states[child] = "judged"
        return [(child, "skipped") for child in skipped]

    def _retry_due(self, event: Any) -> None:
        run, task, attempt = event._value
        if run.state == "running" and run.attempt == attempt:
            self._make_ready(run, task)

    def _fail_now(self, run: Run) -> None:
        """fail_fast (Airflow's fail_stop), dagrun_timeout: running tries are killed, nothing else starts."""
        self._kill_running(run)
        self._run_failed(run)

    def _kill_running(self, run: Run) -> None:
        for entry in run.running:
            self.installation.release(entry)
            if self.tasks[entry.task].sensor is not None:
                self._sensor_stopped(run, entry)
            if self.tracing:
                self.log(f"task killed {entry.task}", run.item)
        run.running.clear()

    def _finish(self, run: Run) -> None:
        raise NotImplementedError  # AirflowDagNode: the run succeeded, its item lands

    def _run_failed(self, run: Run) -> None:
        raise NotImplementedError  # AirflowDagNode: the run failed, its data is dead-lettered
