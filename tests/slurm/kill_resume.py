"""The interruption checks of `make slurm-smoke`, under the real SLURM of tests/slurm/cluster.sh.

One training of config/paper-smoke.yaml (math, the chunked loss path, 2 FSDP processes), lengthened
by tests/slurm/kill-resume.yaml to save checkpoints, runs through `snakemake --executor slurm` with
the shipped profile three times, each compared with the first:
  - uninterrupted (the reference weights);
  - preempted: `scontrol requeue` as soon as its first complete checkpoint is on disk. The profile
    submits with --requeue, so SLURM restarts the same job (SLURM_RESTART_COUNT 1), which must resume
    from the checkpoint;
  - crashed: its processes killed (SIGKILL, as the kernel's OOM killer does) at the first checkpoint.
    Snakemake must report the failed job with its SLURM log and resubmit it (the profile's retries),
    and the new job must resume from the checkpoint.
Each interrupted run must end with weights equal to the reference's, and its summary must name the
jobs of both starts (train.json `attempts`).

Not tested, because it cannot pass: a plain `scancel`. sacct reports such a job as "CANCELLED by
<uid>", which snakemake-executor-plugin-slurm 2.8.0 does not recognise as a failure (it compares
the state with "CANCELLED"), so Snakemake waits for it forever (docs/paper-scale.md).

Run from the smoke's working directory (one level below the repository):
    python ../tests/slurm/kill_resume.py SNAKEMAKE_ARGS...
"""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from deft.train.trainer import complete_checkpoint

RUN = Path("results/runs/backbone=tiny-llama/domain=math/objective=deft/noise=clean/seed=0")
MODEL, WORK = RUN / "model", RUN / "model.work"


def snakemake(args, log: Path) -> subprocess.Popen:
    return subprocess.Popen([*args, "--notemp", "--configfile", "../config/paper-smoke.yaml",
                             "../tests/slurm/kill-resume.yaml", "--", str(MODEL)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def first_checkpoint(timeout: float = 1200) -> str:
    """The SLURM job id of the training, once a complete checkpoint (trainer_state.json names its
    step) is on disk."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if any(complete_checkpoint(folder) for folder in WORK.glob("checkpoint-*")):
            try:
                attempts = [json.loads(x) for x in (WORK / "attempts.jsonl").read_text().splitlines() if x]
            except (OSError, ValueError):
                attempts = []
            if attempts and attempts[-1]["job"]:
                return attempts[-1]["job"]["job_id"]
        time.sleep(0.2)
    raise SystemExit(f"kill-resume: no complete checkpoint in {WORK} after {timeout:.0f}s")


def clear_run():
    for path in (MODEL, WORK, RUN / "train_log.jsonl", RUN / "train.json"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def sacct_state(job: str) -> str:
    return subprocess.run(["sacct", "-X", "-n", "-P", "-j", job, "-o", "State"], capture_output=True,
                          text=True).stdout.strip()


def preempt(job: str) -> None:
    """What a preemption with requeue does: SLURM kills the job and queues it again under its id.
    (SLURM holds a requeued job back for two minutes; the smoke lets it start at once.)"""
    subprocess.run(["scontrol", "requeue", job], check=True)
    for _ in range(300):  # once it is pending again (the requeue sets its begin time on the way)
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T %r"], capture_output=True, text=True).stdout
        if state.split()[:2] == ["PENDING", "BeginTime"]:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
            return
        time.sleep(0.2)
    raise SystemExit(f"kill-resume: job {job} did not return to the queue after scontrol requeue")


def crash(job: str) -> None:
    """SIGKILL to every process of the job's steps, as the OOM killer would: the job fails."""
    out = subprocess.run(["scontrol", "listpids", job], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines()[1:]:
        pid, _, step = line.split()[:3]
        if step != "batch":
            try:
                subprocess.run(["kill", f"-{signal.SIGKILL.value}", pid], check=False)
            except OSError:
                pass


def weights_equal(reference: Path, need) -> None:
    a, b = load_file(reference / "model.safetensors"), load_file(MODEL / "model.safetensors")
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    need(a.keys() == b.keys() and not differ, f"resumed weights differ from the uninterrupted run's: {differ[:5]}")


def main(args: list[str]) -> int:
    problems = []

    def need(ok, what):
        if not ok:
            problems.append(what)
        return ok

    clear_run()
    t0 = time.time()
    if snakemake(args, Path("kill-resume-whole.log")).wait() != 0:
        raise SystemExit("kill-resume: the uninterrupted run failed; see kill-resume-whole.log")
    print(f"kill-resume: uninterrupted run in {time.time() - t0:.0f} s", flush=True)
    reference = Path("kill-resume-reference")
    shutil.rmtree(reference, ignore_errors=True)
    MODEL.rename(reference)

    for name, interrupt in (("preempted", preempt), ("crashed", crash)):
        clear_run()
        t0 = time.time()
        run_log = Path(f"kill-resume-{name}.log")
        proc = snakemake(args, run_log)
        job = first_checkpoint()
        interrupt(job)
        print(f"kill-resume: {name} job {job} after its first complete checkpoint "
              f"({sorted(p.name for p in WORK.glob('checkpoint-*'))})", flush=True)
        rc = proc.wait()
        log = run_log.read_text()
        if not need(rc == 0, f"{name}: the run did not finish after the interruption (snakemake exit {rc}); see {run_log}"):
            continue
        summary = json.loads((RUN / "train.json").read_text())
        attempts = summary.get("attempts") or []
        starts = [(a["job"] or {}).get("job_id") for a in attempts]
        print(f"kill-resume: {name}: {time.time() - t0:.0f} s, starts {json.dumps(attempts)}", flush=True)
        need(len(attempts) == 2 and starts[0] == job and attempts[1]["resumed_from"],
             f"{name}: the summary does not show job {job} and a second start resumed from a checkpoint: {attempts}")
        if name == "preempted":  # SLURM restarted the same job
            need(starts[1] == job and attempts[1]["job"]["restarts"] == 1,
                 f"preempted: the second start is not job {job} restarted once: {attempts}")
        else:  # Snakemake reported the failure with its SLURM log and resubmitted
            need(starts[1] not in (None, job), f"crashed: the second start did not run under a new job: {starts}")
            need(sacct_state(job) == "FAILED", f"crashed: sacct says job {job} is {sacct_state(job)!r}, not FAILED")
            need(f"SLURM-job '{job}' failed" in log and "slurm_logs" in log,
                 f"crashed: Snakemake did not report job {job} with its SLURM log; see {run_log}")
        weights_equal(reference, lambda ok, what, name=name: need(ok, f"{name}: {what}"))
    for p in problems:
        print("FAIL:", p)
    print("kill-resume under SLURM:", "ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
