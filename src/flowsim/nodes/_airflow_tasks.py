"""The tasks of an `airflow_dag` run: ready, running, up for retry, success, failed, upstream_failed.

`AirflowDagNode` (in `airflow_dag`) inherits this and adds the schedule, the runs and outages.
The installation (`_airflow_installation`) starts ready tries when its limits allow; these
hooks follow each try to its end.  Each time a task reaches a final state (success, failed,
upstream_failed, skipped) its downstream tasks are judged by their `trigger_rule`, as Airflow's
TriggerRuleDep does: they become ready, or final themselves (skipped, upstream_failed), or
wait.  Other branches run on after a failure; once every task is final the run fails if a leaf
task failed or is upstream_failed, and succeeds otherwise (DagRun.update_state).  With
`fail_fast` (Airflow's fail_stop) the run's running tries are killed and it fails at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowsim.engine.sampling import Sampler
from flowsim.nodes._airflow_installation import DEFAULT_POOL, Installation, Ready
from flowsim.nodes._airflow_parts import Run, TaskSpec, run_outcome, trigger_verdict
from flowsim.nodes._airflow_records import DagRecords


class DagTasks(DagRecords):
    """Task hooks of a DAG; the attributes below are set by `AirflowDagNode`."""

    tasks: dict[str, TaskSpec]
    children: dict[str, list[str]]
    leaves: list[str]
    samplers: dict[str, Sampler]
    _uniform: Callable[[], float]
    _jitter: Callable[[], float]
    installation: Installation
    max_active_tasks: int
    running_tasks: int

    # ---- tasks: the installation starts them, these hooks follow them --------------------
    def _make_ready(self, run: Run, task: str) -> None:
        run.states[task] = "ready"
        spec = self.tasks[task]
        self.installation.submit(Ready(self, run, task, spec.pool or DEFAULT_POOL, spec.pool_slots))

    def still_wanted(self, entry: Ready) -> bool:
        run: Run = entry.run  # type: ignore[assignment]
        return run.state == "running"

    def start_try(self, entry: Ready) -> None:
        run: Run = entry.run  # type: ignore[assignment]
        task = entry.task
        spec = self.tasks[task]
        run.states[task] = "running"
        run.tries[task] += 1
        run.running.append(entry)
        self.counts["task_tries"] += 1
        if self.tracing:
            self.log(f"task start {task}", run.item)
        work = (self.samplers[task]() + spec.per_message * run.n) * self.slowdown
        timeout = spec.execution_timeout
        timed_out = timeout is not None and work > timeout
        wait = timeout if timed_out and timeout is not None else work
        self.env.timeout(wait, (entry, timed_out)).callbacks.append(self._try_ended)

    def _try_ended(self, event: Any) -> None:
        entry, timed_out = event._value
        run: Run = entry.run
        if run.state != "running":
            return  # killed when a fail_fast run failed: its slots are already free
        run.running.remove(entry)
        self.installation.release(entry)
        task, spec = entry.task, self.tasks[entry.task]
        if timed_out:
            self.counts["task_timeouts"] += 1
            self._task_failed(run, task, "timeout")
        elif spec.failure_rate and self._uniform() < spec.failure_rate:
            self._task_failed(run, task, "fail")
        else:
            self._task_succeeded(run, task)
        self.installation.dispatch()

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
            self.env.timeout(wait, (run, task)).callbacks.append(self._retry_due)
            return
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
        if run.finished == len(self.tasks) and run.state == "running":
            if run_outcome(run.states, self.leaves) == "failed":
                self._run_failed(run)
            else:
                self._finish(run)

    def _retry_due(self, event: Any) -> None:
        run, task = event._value
        if run.state == "running":
            self._make_ready(run, task)

    def _fail_now(self, run: Run) -> None:
        """fail_fast (Airflow's fail_stop): running tries are killed and nothing else starts."""
        for entry in run.running:
            self.installation.release(entry)
            if self.tracing:
                self.log(f"task killed {entry.task}", run.item)
        run.running.clear()
        self._run_failed(run)

    def _finish(self, run: Run) -> None:
        raise NotImplementedError  # AirflowDagNode: the run succeeded, its item lands

    def _run_failed(self, run: Run) -> None:
        raise NotImplementedError  # AirflowDagNode: the run failed, its data is dead-lettered
